"""Kedro hooks: tag the MLflow run so runs can be compared by method, data set, labels and seed."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class PipelineNameHooks:
    """Tags the active MLflow run with ``method``, ``dataset``, ``labels_per_class`` and ``seed``,
    and corrects two of kedro-mlflow's run tags: ``kedro_command`` (what was typed, e.g.
    ``--pipelines=``, not a rebuilt ``--pipeline=``) and ``runner`` (the class name, not a repr).

    The method is the namespace of the nodes that run (every method pipeline is namespaced by its
    name), so the tags are right for ``kedro run --pipelines=m2`` as for a sweep.
    """

    def __init__(self) -> None:
        self._tagged: set[str] = set()
        self._params: dict[str, Any] = {}
        self._run_tags: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._params = dict(context.params)
        self._tagged = set()

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        # kedro-mlflow (a plugin: its hooks run before the project's) opens the run and sets its
        # tags from run_params here; the corrected ones are set with the first node's tags
        from ssl_pipelines.run_summary import kedro_command, runner_name

        self._run_tags = {"kedro_command": kedro_command(run_params)}
        if run_params.get("runner"):
            self._run_tags["runner"] = runner_name(run_params["runner"])

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        namespace = node.namespace
        if not namespace or namespace in self._tagged:
            return
        try:
            import mlflow
        except ImportError:  # pragma: no cover - mlflow is a dependency
            return
        if mlflow.active_run() is None:
            return
        method = namespace.split(".")[0]
        params = self._params.get(method, {}) or {}
        data = params.get("data", {}) or {}
        tags = {**self._run_tags, "method": method}
        for key in ("name", "labels_per_class", "num_labeled"):
            if data.get(key) is not None:
                tags["dataset" if key == "name" else key] = str(data[key])
        if params.get("seed") is not None:
            tags["seed"] = str(params["seed"])
        mlflow.set_tags(tags)
        self._tagged.add(namespace)


class CheckpointHooks:
    """Give every training node a checkpoint folder, and drop the checkpoints of a run that
    succeeded.

    Parameters (``conf/base/parameters.yml``)::

        runtime:
          checkpoint_dir: data/06_models/checkpoints   # <dir>/<pipeline>/<stage>/
          resume: true                                 # false: never save or resume

    A run that is interrupted (killed, NaN, Ctrl-C) keeps its checkpoints; the same command then
    resumes each stage where it stopped (:mod:`ssl_pipelines.training.checkpoint`).
    """

    def __init__(self) -> None:
        self._root = None
        self._tokens: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        from pathlib import Path

        runtime = dict(context.params.get("runtime") or {})
        enabled = bool(runtime.get("resume", True))
        folder = runtime.get("checkpoint_dir") or "data/06_models/checkpoints"
        path = Path(folder)
        self._root = (path if path.is_absolute() else Path(context.project_path) / path) if enabled else None

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        if self._root is None or not node.namespace:
            return
        from ssl_pipelines.training.runtime import set_checkpoint_root

        self._tokens[node.name] = set_checkpoint_root(self._root / node.namespace / node.name.split(".")[-1])

    def _reset(self, node) -> None:
        token = self._tokens.pop(node.name, None)
        if token is not None:
            from ssl_pipelines.training.runtime import reset_checkpoint_root

            reset_checkpoint_root(token)

    @hook_impl
    def after_node_run(self, node, catalog, inputs, outputs, is_async, run_id) -> None:
        self._reset(node)

    @hook_impl
    def on_node_error(self, error, node, catalog, inputs, is_async, run_id) -> None:
        self._reset(node)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        if self._root is None:
            return
        import shutil

        for namespace in {n.namespace.split(".")[0] for n in pipeline.nodes if n.namespace}:
            shutil.rmtree(self._root / namespace, ignore_errors=True)


class TrackingGuardHooks:
    """Fail fast (or fall back) when the MLflow tracking server does not answer.

    MLflow's HTTP client retries for minutes against an unreachable server. Before kedro-mlflow
    connects, this checks an ``http(s)://`` tracking URI with a 3-second TCP connect. If it does
    not answer: with ``SSL_PIPELINES_MLFLOW_FALLBACK_URI`` set (e.g. ``sqlite:///mlflow.db``) and
    the tracking URI coming from ``MLFLOW_TRACKING_URI`` (the default ``mlflow.yml``), the run
    logs to the fallback with a warning; otherwise it stops with an error saying so.
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        import os
        import socket
        from urllib.parse import urlparse

        try:
            uri = (context.config_loader["mlflow"].get("server") or {}).get("mlflow_tracking_uri")
        except Exception:  # no mlflow.yml: kedro-mlflow's defaults apply
            return
        if not uri or not str(uri).startswith(("http://", "https://")):
            return
        parsed = urlparse(str(uri))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname, port), timeout=3):
                return
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        fallback = os.environ.get("SSL_PIPELINES_MLFLOW_FALLBACK_URI")
        if fallback and os.environ.get("MLFLOW_TRACKING_URI") == uri:
            logger.warning("MLflow tracking server %s is unreachable (%s); logging to the fallback %s",
                           uri, reason, fallback)
            os.environ["MLFLOW_TRACKING_URI"] = fallback
            return
        raise ConnectionError(
            f"MLflow tracking server {uri} is unreachable ({reason}). Start it, set MLFLOW_TRACKING_URI "
            f"to a reachable server or a local store (sqlite:///mlflow.db), or set "
            f"SSL_PIPELINES_MLFLOW_FALLBACK_URI=sqlite:///mlflow.db to fall back automatically."
        )


class DistributionHooks:
    """Run the pipeline under the ``runtime.strategy`` distribution strategy.

    Parameters (``conf/base/parameters.yml``)::

        runtime:
          strategy: default          # default | mirrored | multi_worker
          logical_cpu_devices: null  # e.g. 2: split the CPU into 2 devices (testing mirrored on CPU)

    The strategy's scope is entered for the whole run (with the default SequentialRunner), so the
    models every node builds, and those the catalog loads between stages, are created under it:
    every method trains distributed without code of its own.
    """

    def __init__(self) -> None:
        self._strategy = None
        self._scope = None

    @hook_impl
    def after_context_created(self, context) -> None:
        from ssl_pipelines.training.distribute import make_strategy

        runtime = dict(context.params.get("runtime") or {})
        name = runtime.get("strategy") or "default"
        devices = runtime.get("logical_cpu_devices")
        self._strategy = None if name == "default" and not devices else make_strategy(name, devices)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._strategy is not None:
            self._scope = self._strategy.scope()
            self._scope.__enter__()

    def _exit(self) -> None:
        if self._scope is not None:
            scope, self._scope = self._scope, None
            scope.__exit__(None, None, None)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._exit()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._exit()
