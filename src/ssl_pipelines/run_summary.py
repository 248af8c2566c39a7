"""What a ``kedro run`` tells its user and its MLflow run: the block the run ends with (pipeline,
test accuracy/error, MLflow run, where the model and figures are; printed by
:class:`RunSummaryHooks`, registered in ``settings.py``) and the corrected ``kedro_command`` /
``runner`` tags (set by ``hooks.PipelineNameHooks``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl


def runner_name(runner: Any) -> str:
    """``"SequentialRunner"`` for a runner, its class or the ``repr`` Kedro puts in ``run_params``
    (``"<kedro.runner.sequential_runner.SequentialRunner object at 0x...>"``)."""
    if not isinstance(runner, str):
        return runner.__name__ if isinstance(runner, type) else type(runner).__name__
    text = runner.strip("<>").split(" object at ")[0]
    return text.rsplit(".", 1)[-1]


def kedro_command(run_params: dict[str, Any], argv: list[str] | None = None) -> str:
    """What was typed when it was ``kedro run ...`` (``argv``, default ``sys.argv``), else the
    equivalent command (a sweep child, a session run from Python): ``kedro run --pipelines=m2
    --params=m2.seed=1,...`` with the run's runtime parameters."""
    import shlex
    import sys

    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name == "kedro" and argv[1:2] == ["run"]:
        return shlex.join(["kedro", *argv[1:]])
    parts = ["kedro", "run"]
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name")
    if names:
        parts.append("--pipelines=" + (names if isinstance(names, str) else ",".join(names)))
    if run_params.get("env"):
        parts.append(f"--env={run_params['env']}")
    for flag, key in (("--tags", "tags"), ("--nodes", "node_names"), ("--from-nodes", "from_nodes"),
                      ("--to-nodes", "to_nodes"), ("--from-inputs", "from_inputs")):
        if run_params.get(key):
            parts.append(f"{flag}=" + ",".join(run_params[key]))
    flat = _flatten(run_params.get("runtime_params") or {})
    if flat:
        parts.append("--params=" + ",".join(f"{k}={v}" for k, v in flat.items()))
    return shlex.join(parts)


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = "null" if value is None else value
    return out


def _filepath(catalog, name: str) -> str | None:
    """The local file of catalog entry ``name`` (through kedro-mlflow's artifact wrapper), or None."""
    try:
        dataset = catalog.get(name) if hasattr(catalog, "get") else catalog._get_dataset(name)
    except Exception:  # noqa: BLE001 - the summary never fails a run
        return None
    path = getattr(dataset, "_filepath", None)
    if path is None:
        return None
    try:  # relative to the project folder (the current one) when inside it
        return str(Path(str(path)).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_summary(pipelines: list[str], metrics: dict[str, dict], run_id: str | None, tracking_uri: str | None,
                   models: list[str], figures: list[str], precision: str | None = None) -> str:
    """The summary block (pure, for tests). ``metrics``: ``{namespace: {"accuracy": ..., "error": ...}}``;
    ``precision``: the Keras dtype policy the run computed in."""
    name = "+".join(pipelines) or "run"
    lines = [f"== {name} done " + "=" * max(3, 60 - len(name))]
    for ns, m in sorted(metrics.items()):
        acc, err = m.get("accuracy"), m.get("error")
        if acc is not None:
            label = "test" if len(metrics) == 1 else f"test ({ns})"
            lines.append(f"  {label:<18} accuracy {acc:.4f}, error {err:.2f} %")
    if precision:
        lines.append(f"  {'precision':<18} {precision}")
    if run_id:
        lines.append(f"  {'MLflow run':<18} {run_id} ({tracking_uri or 'default store'}; `make ui`, then Runs)")
    if models:
        lines.append(f"  {'model':<18} " + ", ".join(models))
    if figures:
        folders = sorted({str(Path(f).parent) for f in figures})
        names = ", ".join(sorted(Path(f).name for f in figures))
        lines.append(f"  {'figures':<18} {', '.join(folders)}/ ({names})")
    return "\n".join(lines)


def card_for(namespace: str, split, data_params: dict | None) -> dict[str, Any]:
    """The data side of a saved model's card (``ssl_pipelines.io.attach_model_card``): input
    shape, normalization with its per-channel training ``mean``/``std`` (the model's input is
    ``(x_unit - mean) / std``; 0 and 1 for ``unit``) and the data settings behind it, class
    names, data set, pipeline."""
    data_params = dict(data_params or {})
    classes = list(split.class_names) if getattr(split, "class_names", None) else \
        [str(i) for i in range(int(split.num_classes))]
    stats = dict(getattr(split, "normalization", None) or {})
    inputs = {"shape": [None, *split.input_shape], "dtype": "float32",
              "normalization": stats.get("normalization") or data_params.get("normalization") or "unit",
              "data": {k: data_params.get(k) for k in ("name", "resize", "channels") if k in data_params}}
    inputs.update({k: [float(v) for v in stats[k]] for k in ("mean", "std") if stats.get(k) is not None})
    return {"pipeline": namespace.split(".")[0], "dataset": getattr(split, "dataset_name", "") or data_params.get("name"),
            "input": inputs, "output": {"shape": [None, int(split.num_classes)]},
            "classes": [str(c) for c in classes]}


class RunSummaryHooks:
    """Collects the test metrics, the saved models and figures of a run and prints
    :func:`format_summary` after the pipeline; gives every saved model its card (input contract)."""

    def __init__(self) -> None:
        self._params: dict[str, Any] = {}
        self._reset()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = dict(context.params)

    def _reset(self) -> None:
        self._pipelines: list[str] = []
        self._catalog = None
        self._metrics: dict[str, dict] = {}
        self._saved: list[str] = []
        self._run_id: str | None = None
        self._uri: str | None = None
        self._splits: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._reset()
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        self._pipelines = [names] if isinstance(names, str) else list(names)
        self._catalog = catalog

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        if self._run_id is None:
            import mlflow

            active = mlflow.active_run()
            if active is not None:
                self._run_id, self._uri = active.info.run_id, mlflow.get_tracking_uri()

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs, is_async, run_id) -> None:
        for name, value in (outputs or {}).items():
            if name.endswith(".ssl_split") and hasattr(value, "input_shape"):
                self._splits[name[: -len(".ssl_split")]] = value
            if name.endswith(".test_metrics") and isinstance(value, dict):
                self._metrics[name[: -len(".test_metrics")]] = {
                    k: (v.get("value") if isinstance(v, dict) else v) for k, v in value.items()}

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data, node) -> None:
        if not dataset_name.endswith("_model") or "." not in dataset_name:
            return
        namespace = dataset_name.rsplit(".", 1)[0]
        split = self._splits.get(namespace)
        if split is None or not hasattr(data, "save"):
            return
        from ssl_pipelines.io import attach_model_card

        method = namespace.split(".")[0]
        attach_model_card(data, card_for(namespace, split, (self._params.get(method) or {}).get("data")))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if dataset_name.endswith(("_model", "_plot")):
            self._saved.append(dataset_name)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        paths = {n: _filepath(catalog, n) or n for n in self._saved}
        models = [p for n, p in paths.items() if n.endswith("_model")]
        figures = [p for n, p in paths.items() if n.endswith("_plot")]
        from ssl_pipelines.training.precision import current_precision

        print(format_summary(self._pipelines, self._metrics, self._run_id, self._uri, models, figures,
                             precision=current_precision()), flush=True)
