"""``ssl-pipelines``: compare methods as users do it.

``ssl-pipelines sweep`` runs any set of the project's Kedro pipelines over seeds and label counts,
each run a child MLflow run (tagged ``method``, ``dataset``, ``labels``, ``seed``) of one parent
run for the sweep; ``ssl-pipelines results`` reads MLflow and writes the results table (mean ± std
test error per method x label count beside the published number) as Markdown, CSV and PNG, and
the learning curves of all methods on one plot.

Examples (from the project root)::

    ssl-pipelines list
    ssl-pipelines sweep --pipelines supervised,m2 --seeds 0,1,2 --labels 100 --epochs 5
    ssl-pipelines sweep --pipelines m2 --seeds 0,1,2 --labels 100,1000 --env paper
    ssl-pipelines results --out reports/                 # every method run of the experiment
    ssl-pipelines results --parent <sweep run id> --out reports/sweep1
    ssl-pipelines sweep --pipelines inversion --labels 50,100 --run-name bench-inversion \
        --variant full: --variant ce_only:model.alpha=0,model.beta=0
    ssl-pipelines results --section inversion --spec benchmarks/results_sections.yml --write benchmarks/RESULTS.md
    ssl-pipelines results --readme benchmarks/readme_results.yml --write README.md

How a sweep talks to kedro-mlflow: when an MLflow run is active, kedro-mlflow logs the Kedro run
into it and leaves it open. The sweep therefore starts the parent run, then for every
(pipeline, labels, seed) starts a nested child run and runs a ``KedroSession`` inside it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Sequence

import click
import yaml

from ssl_pipelines.errors import ConfigError  # imports nothing: `ssl-pipelines --help` stays free of TensorFlow


logger = logging.getLogger("ssl_pipelines.sweep")


# === Argument parsing helpers (pure) ===
def parse_int_list(text: str, name: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; anything else raises ConfigError naming the value."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        raise ConfigError(f"--{name} expects comma-separated integers, e.g. 0,1,2; got {text!r}") from None
    if not values:
        raise ConfigError(f"--{name} expects at least one integer, got {text!r}")
    if name != "seeds" and any(v <= 0 for v in values):
        raise ConfigError(f"--{name} expects positive integers, got {text!r}")
    return values


def parse_params(text: str | None) -> dict[str, Any]:
    """Kedro-style ``--params``: ``"a.b=1,c=x,d=[1, 2]"`` -> ``{"a.b": 1, "c": "x", "d": [1, 2]}``
    (values parsed as YAML; commas inside brackets belong to the value)."""
    out: dict[str, Any] = {}
    if not text:
        return out
    items, depth, current = [], 0, ""
    for char in str(text):  # commas inside [...] / {...} belong to the value (YAML lists, dicts)
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    for item in items:
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"--params expects key=value pairs separated by commas, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--params has an empty key in {item!r}")
        out[key] = yaml.safe_load(value) if value.strip() != "" else None
    return out


VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Variant:
    """One configuration of a sweep (``--variant NAME:key=value,...``): its name (tag ``variant``
    of its child runs, a row of the results table) and its parameter overrides (``--params`` style,
    applied over the sweep's ``--params``)."""

    name: str
    overrides: dict
    spec: str = ""  # the ``key=value,...`` text as given


def parse_variant(text: str) -> Variant:
    """``"ce_only:model.alpha=0,model.beta=0"`` -> ``Variant("ce_only", {"model.alpha": 0, ...})``
    (``"name:"`` or ``"name"``: the configured parameters under that name). Raises ConfigError
    naming the value and the expected form."""
    name, sep, rest = str(text).partition(":")
    name = name.strip()
    if not VARIANT_NAME.match(name):
        raise ConfigError(f"--variant expects NAME:key=value,key=value with NAME made of letters, digits, "
                            f"'_', '.', '+', '-' (e.g. ce_only:model.alpha=0); got {text!r}")
    try:
        overrides = parse_params(rest) if sep else {}
    except ValueError as exc:
        raise ConfigError(f"--variant {text!r}: {str(exc).replace('--params ', '')}") from None
    return Variant(name, overrides, rest.strip())


def parse_variants(texts: Sequence[str] | None) -> list[Variant]:
    """Every ``--variant``, names distinct (ConfigError naming the repeated one)."""
    variants = [parse_variant(t) for t in (texts or [])]
    names = [v.name for v in variants]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"--variant names must be distinct; repeated: {', '.join(repeated)}")
    return variants


def set_dotted(tree: dict, dotted: str, value: Any) -> dict:
    """Set ``tree["a"]["b"] = value`` for ``dotted = "a.b"`` (creating dicts on the way)."""
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--params key {dotted!r}: {part!r} is not a section")
    node[parts[-1]] = value
    return tree


def epoch_sections(pipeline_params: dict) -> list[str]:
    """The sections of a pipeline's parameters that have an ``epochs`` key (``train``, or one per
    stage such as ``pretrain``/``train`` or ``supervised``/``d2``/``finetune``)."""
    return [k for k, v in (pipeline_params or {}).items() if isinstance(v, dict) and "epochs" in v]


def runtime_params_for(pipeline: str, *, seed: int, labels: int | None, labels_per_class: int | None,
                       epochs: int | None, overrides: dict[str, Any], params: dict[str, Any],
                       checkpoint_dir: str | None = None) -> dict:
    """The nested ``runtime_params`` of one child run.

    Args:
        pipeline: pipeline (= parameter namespace) name.
        seed: ``<pipeline>.seed``.
        labels: total label count -> ``<pipeline>.data.num_labeled`` (class-balanced: must be divisible
            by the number of classes; ``labels_per_class`` is cleared).
        labels_per_class: alternatively ``<pipeline>.data.labels_per_class``.
        epochs: set ``epochs`` in every section of the pipeline that has one (``None``: keep).
        overrides: dotted keys; a key whose first part is the pipeline or another top-level
            parameter (e.g. ``runtime``) is used as is, any other key is taken inside the pipeline's
            namespace when the pipeline has that section (``train.epochs=1`` ->
            ``<pipeline>.train.epochs=1``; skipped for a pipeline without ``train``). Keys of other
            swept pipelines are skipped by the caller.
        params: the project's merged parameters (to find the epochs sections).
        checkpoint_dir: ``runtime.checkpoint_dir`` for this child (keeps resumable checkpoints of
            different seeds/label counts apart).
    """
    own = params.get(pipeline)
    if not isinstance(own, dict):
        raise ConfigError(f"pipeline {pipeline!r} has no parameters section {pipeline!r}:")
    tree: dict = {pipeline: {"seed": int(seed)}}
    if labels is not None:
        tree[pipeline]["data"] = {"num_labeled": int(labels), "labels_per_class": None}
    elif labels_per_class is not None:
        tree[pipeline]["data"] = {"labels_per_class": int(labels_per_class), "num_labeled": None}
    if epochs is not None:
        sections = epoch_sections(own)
        if not sections:
            raise ConfigError(f"--epochs: pipeline {pipeline!r} has no section with an 'epochs' key")
        for section in sections:
            set_dotted(tree, f"{pipeline}.{section}.epochs", int(epochs))
    if checkpoint_dir is not None:
        set_dotted(tree, "runtime.checkpoint_dir", checkpoint_dir)
    for key, value in overrides.items():
        head = key.split(".")[0]
        if head == pipeline or (head in params and head not in own):
            set_dotted(tree, key, value)
        elif head in own:
            set_dotted(tree, f"{pipeline}.{key}", value)
    return tree


def check_overrides(overrides: dict[str, Any], pipelines: Sequence[str], params: dict[str, Any]) -> None:
    """Every ``--params`` key must name a swept pipeline, a top-level parameter section, or a
    section of at least one swept pipeline; raises ConfigError naming the key otherwise."""
    for key in overrides:
        head = key.split(".")[0]
        if head in pipelines or head in params:
            continue
        if not any(isinstance(params.get(p), dict) and head in params[p] for p in pipelines):
            raise ConfigError(f"--params key {key!r}: {head!r} is neither a swept pipeline ({', '.join(pipelines)}), "
                              f"a top-level parameter, nor a section of a swept pipeline's parameters")


# === Kedro / MLflow plumbing ===
def _project_context(project_path: Path, env: str | None):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        context = session.load_context()
        params = dict(context.params)
        try:
            mlflow_conf = dict(context.config_loader["mlflow"])
        except Exception:  # no mlflow.yml
            mlflow_conf = {}
    return params, mlflow_conf


def available_pipelines() -> list[str]:
    """Every registered pipeline except ``__default__``."""
    from kedro.framework import project as kedro_project

    if kedro_project.PACKAGE_NAME is None:
        kedro_project.configure_project("ssl_pipelines")
    from ssl_pipelines.pipeline_registry import all_pipeline_names

    return all_pipeline_names()


def _tracking_settings(mlflow_conf: dict, tracking_uri: str | None, experiment: str | None) -> tuple[str, str]:
    uri = tracking_uri or ((mlflow_conf.get("server") or {}).get("mlflow_tracking_uri")) \
        or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    name = experiment or (((mlflow_conf.get("tracking") or {}).get("experiment") or {}).get("name")) \
        or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ssl_pipelines"
    return str(uri), str(name)


# === The sweep: a pure plan, one child run, the summary ===
# Training sections whose ``batch_size`` runs over every training image (labeled or not), not over
# the labels: a small label count does not bound them. Every other training section's labeled
# batch is ``batch_labeled`` when it has one, else ``batch_size``.
ALL_IMAGES_BATCH_SECTIONS = {("m1", "pretrain"), ("m1_m2", "pretrain"), ("r2d2", "finetune")}


@dataclass(frozen=True)
class ChildRun:
    """One run of a sweep: what ``plan_sweep`` decided and ``run_child`` executes."""

    pipeline: str
    labels: int | None
    labels_per_class: int | None
    seed: int
    runtime_params: dict
    tags: dict
    run_name: str
    notes: tuple[str, ...] = ()
    variant: str | None = None

    @property
    def label_text(self) -> str:
        return str(self.labels) if self.labels is not None else f"{self.labels_per_class}/class"


def labeled_batch_keys(pipeline: str, pipeline_params: dict) -> list[str]:
    """``section.key`` of every labeled batch size of a pipeline (``train.batch_size`` for
    ``supervised``, ``train.batch_labeled`` for M2, ...)."""
    keys = []
    for section in epoch_sections(pipeline_params):
        conf = pipeline_params[section]
        if "batch_labeled" in conf:
            keys.append(f"{section}.batch_labeled")
        elif "batch_size" in conf and (pipeline, section) not in ALL_IMAGES_BATCH_SECTIONS:
            keys.append(f"{section}.batch_size")
    return keys


def _get_dotted(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def fit_labeled_batches(pipeline: str, labels: int | None, params: dict, tree: dict,
                        adapt: bool = True) -> list[str]:
    """Lower every labeled batch of ``pipeline`` that is larger than ``labels`` to ``labels`` in
    the child's ``tree`` (runtime params), returning one note per change; with ``adapt=False``
    raise ConfigError naming the pipeline's key instead. A batch set in ``tree`` (``--params``)
    wins over the configured one."""
    if labels is None:
        return []
    notes = []
    for key in labeled_batch_keys(pipeline, params.get(pipeline) or {}):
        value = _get_dotted(tree, f"{pipeline}.{key}")
        if value is None:
            value = _get_dotted(params, f"{pipeline}.{key}")
        if isinstance(value, bool) or not isinstance(value, int) or value <= labels:
            continue
        if not adapt:
            raise ConfigError(f"--labels {labels}: {pipeline}.{key}={value} is larger than the {labels} labeled "
                              f"examples; lower it with --params {pipeline}.{key}={labels}")
        set_dotted(tree, f"{pipeline}.{key}", int(labels))
        notes.append(f"{pipeline}.{key}: {value} -> {labels} (only {labels} labeled examples)")
    return notes


def plan_sweep(pipelines: Sequence[str], seeds: Sequence[int], labels: Sequence[int | None], *,
               params: dict, known: Sequence[str], epochs: int | None = None,
               overrides: dict[str, Any] | None = None, labels_per_class: Sequence[int] | None = None,
               adapt_batches: bool = True, variants: Sequence[Variant] | None = None,
               interleave: bool = False) -> list[ChildRun]:
    """Which child runs a sweep makes, in order, with their runtime parameters and tags; pure (no
    Kedro, MLflow or TensorFlow), so every mistake is found before anything trains.

    Args:
        pipelines, seeds, labels: the grid (``labels``: total label counts, ``None`` = configured).
        params: the project's merged parameters; known: the registered pipeline names.
        epochs, overrides, labels_per_class: as :func:`run_sweep`.
        adapt_batches: a labeled batch larger than the label count is lowered to it (noted in
            ``ChildRun.notes``); ``False``: ConfigError naming the key.
        variants: configurations (:class:`Variant`): one child per (pipeline, labels, seed,
            variant), its overrides over ``overrides``, tagged ``variant``; none: one child per
            (pipeline, labels, seed), untagged (as before).
        interleave: run the grid in rounds, one per seed (every configuration of seed 0, then of
            seed 1, ...) instead of all seeds of one configuration first, so a machine's drifting load
            hits every configuration alike (timing benchmarks: ``ratio`` columns of RESULTS.md).
    """
    overrides = dict(overrides or {})
    pipelines = [p.strip() for p in pipelines if p.strip()]
    unknown = [p for p in pipelines if p not in known]
    if not pipelines or unknown:
        raise ConfigError(f"--pipelines: unknown pipeline(s) {unknown or pipelines!r}; expected some of {list(known)}")
    check_overrides(overrides, pipelines, params)
    for v in variants or ():
        try:
            check_overrides(v.overrides, pipelines, params)
        except ValueError as exc:
            raise ConfigError(f"--variant {v.name}: {exc}") from None
    if labels_per_class:
        grid: list[tuple[int | None, int | None]] = [(None, int(k)) for k in labels_per_class]
    else:
        grid = [(int(n) if n is not None else None, None) for n in (labels or [None])]
    base_ckpt = str(((params.get("runtime") or {}).get("checkpoint_dir")) or "data/06_models/checkpoints")
    plan = []
    others = set(pipelines)
    for pipeline in pipelines:
        def own(keys: dict) -> dict:
            return {k: v for k, v in keys.items() if k.split(".")[0] not in others - {pipeline}}

        dataset = ((params.get(pipeline) or {}).get("data") or {}).get("name")
        for n_labels, lpc in grid:
            tag = f"L{n_labels}" if n_labels is not None else f"lpc{lpc}"
            for variant in variants or [None]:
                keys = own(overrides) if variant is None else {**own(overrides), **own(variant.overrides)}
                prefix = f"{pipeline}-{variant.name}" if variant is not None else pipeline
                ckpt_tag = f"{variant.name}-{tag}" if variant is not None else tag
                for seed in seeds:
                    tree = runtime_params_for(pipeline, seed=seed, labels=n_labels, labels_per_class=lpc,
                                              epochs=epochs, overrides=keys, params=params,
                                              checkpoint_dir=f"{base_ckpt}/sweep/{ckpt_tag}-s{seed}")
                    notes = fit_labeled_batches(pipeline, n_labels, params, tree, adapt=adapt_batches)
                    tags = {"method": pipeline, "seed": str(seed)}
                    if n_labels is not None:
                        tags["labels"] = str(n_labels)
                    if dataset is not None:
                        tags["dataset"] = str(dataset)
                    if variant is not None:
                        tags["variant"] = variant.name
                    plan.append(ChildRun(pipeline, n_labels, lpc, int(seed), tree, tags,
                                         f"{prefix}-{tag}-s{seed}", tuple(notes),
                                         variant.name if variant is not None else None))
    if interleave:
        rounds = {int(seed): i for i, seed in enumerate(seeds)}
        plan.sort(key=lambda child: rounds[child.seed])  # stable: the configurations keep their order
    return plan


def sweep_tags(plan: Sequence[ChildRun], *, env: str | None, epochs: int | None,
               command: str | None = None) -> dict:
    """Tags of the parent run: what was swept (``sweep.variants`` when there are variants) and,
    given, the exact command line (``sweep.command``)."""
    def unique(values):
        return list(dict.fromkeys(values))

    return {"sweep": "true", "sweep.pipelines": ",".join(unique(c.pipeline for c in plan)),
            "sweep.seeds": ",".join(unique(str(c.seed) for c in plan)),
            "sweep.labels": ",".join(unique(str(c.labels) if c.labels is not None else f"{c.labels_per_class}/class"
                                            for c in plan)),
            "sweep.env": env or "base", "sweep.epochs": str(epochs) if epochs is not None else "config",
            **({"sweep.variants": ",".join(unique(c.variant for c in plan))} if any(c.variant for c in plan) else {}),
            **({"sweep.command": command} if command else {})}


def run_child(child: ChildRun, *, project: Path, env: str | None, parent_run_id: str) -> dict:
    """Run one planned child as a nested MLflow run of ``parent_run_id``; returns its record
    ``{"pipeline", "labels", "labels_per_class", "seed", "run_id", "status", "seconds", "error"}``
    (a failure is recorded, not raised)."""
    import keras
    import mlflow
    from kedro.framework.session import KedroSession

    from ssl_pipelines.log_filters import KEDRO_MLFLOW_IN_SWEEP, KEDRO_MLFLOW_LOGGER

    for note in child.notes:
        logger.info("%s: %s", child.run_name, note)
    kedro_mlflow_logger = logging.getLogger(KEDRO_MLFLOW_LOGGER)
    kedro_mlflow_logger.addFilter(KEDRO_MLFLOW_IN_SWEEP)
    run = mlflow.start_run(nested=True, run_name=child.run_name, tags={**child.tags, "sweep.parent": parent_run_id})
    if hasattr(os, "getloadavg"):  # the machine's 1-minute load when the run started, beside its timings
        mlflow.log_metric("sweep.load_average", round(os.getloadavg()[0], 2))
    start, status, error = time.time(), "FINISHED", None
    try:
        with KedroSession.create(project_path=project, env=env, runtime_params=child.runtime_params) as session:
            session.run(pipeline_names=[child.pipeline])
    except Exception as exc:  # noqa: BLE001 - recorded; the caller decides whether to stop
        status, error = "FAILED", exc
        logger.exception("sweep run %s labels=%s seed=%d failed", child.pipeline, child.label_text, child.seed)
    except BaseException:  # Ctrl-C or SIGTERM (see _interrupt_on_sigterm): the run did not finish
        status = "KILLED"
        raise
    finally:
        # kedro-mlflow leaves a run it did not open alone: end any run above the child too
        while mlflow.active_run() is not None and mlflow.active_run().info.run_id != parent_run_id:
            mlflow.end_run(status=status)
        keras.backend.clear_session()
        kedro_mlflow_logger.removeFilter(KEDRO_MLFLOW_IN_SWEEP)
    return {"pipeline": child.pipeline, "variant": child.variant, "labels": child.labels,
            "labels_per_class": child.labels_per_class, "seed": child.seed, "run_id": run.info.run_id, "status": status,
            "seconds": round(time.time() - start, 1), "error": error}


def _finished_record(child: ChildRun, run) -> dict:
    """The record of a child that finished in an earlier start of the sweep (kept, not run again)."""
    seconds = ((run.info.end_time or run.info.start_time) - run.info.start_time) / 1000.0
    return {"pipeline": child.pipeline, "variant": child.variant, "labels": child.labels,
            "labels_per_class": child.labels_per_class, "seed": child.seed, "run_id": run.info.run_id,
            "status": "FINISHED", "seconds": round(seconds, 1)}


def summarize_sweep(uri: str, experiment: str, parent_run_id: str, report_dir: Path | None = None):
    """The sweep's results table, logged to the parent run (``results/``) and written to
    ``report_dir`` when given."""
    import mlflow

    from ssl_pipelines import reporting

    runs = reporting.load_runs(uri, experiment, parent_run_id=parent_run_id)
    table = reporting.results_table(runs)
    mlflow.log_text(reporting.to_markdown(table), "results/results.md")
    if not table.empty:
        for name, fig in reporting.figures(runs, table, uri).items():
            mlflow.log_figure(fig, f"results/{name}")
    if report_dir is not None:
        reporting.write_report(report_dir, uri, experiment, parent_run_id=parent_run_id)
    return table


def run_sweep(pipelines: Sequence[str], seeds: Sequence[int], labels: Sequence[int | None], *,
              project_path: str | os.PathLike = ".", env: str | None = None, epochs: int | None = None,
              overrides: dict[str, Any] | None = None, labels_per_class: Sequence[int] | None = None,
              tracking_uri: str | None = None, experiment: str | None = None, run_name: str | None = None,
              keep_going: bool = False, report_dir: str | os.PathLike | None = None,
              adapt_batches: bool = True, variants: Sequence[Variant] | None = None,
              command: str | None = None, interleave: bool = False, new: bool = False) -> dict:
    """Run every (pipeline, label count, variant, seed) as a nested MLflow run under one parent run
    (``variants``, ``interleave``: see :func:`plan_sweep`; ``command``: the command line, tagged
    ``sweep.command`` on the parent run).

    Everything is checked (pipeline names, parameter sections, override keys, batch sizes) by
    :func:`plan_sweep` before the first run starts. Returns ``{"parent_run_id", "tracking_uri",
    "experiment", "children": [...], "table"}``; each child is ``{"pipeline", "labels", "seed",
    "run_id", "status", "seconds"}``. A failed child is marked FAILED; the sweep stops there
    unless ``keep_going``.

    A sweep stopped before it finished (killed, Ctrl-C, a failed child) continues when started
    again with the same plan: the newest unfinished parent of that plan (and ``run_name``) is
    reopened, its FINISHED children are kept, the rest run and resume from their checkpoints
    (:mod:`ssl_pipelines.comparison.resume`); ``new=True`` starts a fresh parent instead.
    """
    import mlflow

    project = Path(project_path).resolve()
    cwd = Path.cwd()
    os.chdir(project)  # relative paths of the catalog and of sqlite:///mlflow.db are project-relative
    try:
        params, mlflow_conf = _project_context(project, env)
        uri, exp_name = _tracking_settings(mlflow_conf, tracking_uri, experiment)
        plan = plan_sweep(pipelines, seeds, labels, params=params, known=available_pipelines(), epochs=epochs,
                          overrides=overrides, labels_per_class=labels_per_class, adapt_batches=adapt_batches,
                          variants=variants, interleave=interleave)
        from ssl_pipelines.comparison import resume

        mlflow.set_tracking_uri(uri)
        experiment_id = mlflow.set_experiment(exp_name).experiment_id
        while mlflow.active_run() is not None:  # never nest the sweep under a leftover run
            mlflow.end_run()
        client = mlflow.MlflowClient()
        digest = resume.plan_digest(plan, env)
        previous = None if new else resume.find_resumable(client, experiment_id, digest, run_name)
        done: dict = {}
        stale: dict = {}
        if previous is not None:
            done, stale = resume.child_runs(client, experiment_id, previous.info.run_id)
            print(f"[sweep] resuming {previous.info.run_name!r} (MLflow run {previous.info.run_id}, "
                  f"{previous.info.status}): {len(done)} of {len(plan)} runs finished, the rest run now", flush=True)
            parent_ctx = mlflow.start_run(run_id=previous.info.run_id)
        else:
            name = run_name or f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
            tags = {**sweep_tags(plan, env=env, epochs=epochs, command=command), resume.PLAN_TAG: digest}
            parent_ctx = mlflow.start_run(run_name=name, tags=tags)
        children = []
        with parent_ctx as parent:
            mlflow.set_tags({**resume.process_tags(), "sweep.status": "running"})
            if previous is None:
                mlflow.log_params({f"sweep.override.{k}": v for k, v in (overrides or {}).items()}
                                  or {"sweep.override": "none"})
                for v in variants or ():
                    mlflow.log_param(f"sweep.variant.{v.name}", v.spec or "configured")
            plan = resume.with_sweep_checkpoints(plan, parent.info.run_id)
            try:
                with _interrupt_on_sigterm():
                    for i, child in enumerate(plan, 1):
                        variant = f"  variant={child.variant}" if child.variant else ""
                        line = f"[sweep {i}/{len(plan)}] {child.pipeline}{variant}  labels={child.label_text}  " \
                               f"seed={child.seed}"
                        if child.run_name in done:
                            kept = done[child.run_name]
                            print(f"{line}  finished before (run {kept.info.run_id}), kept", flush=True)
                            children.append(_finished_record(child, kept))
                            continue
                        print(line, flush=True)
                        record = run_child(child, project=project, env=env, parent_run_id=parent.info.run_id)
                        error = record.pop("error")
                        children.append(record)
                        if record["status"] == "FINISHED":
                            for old in stale.get(child.run_name, []):  # the partial runs it replaces
                                client.delete_run(old)
                        if error is not None and not keep_going:
                            mlflow.set_tag("sweep.status", "stopped after a failed run")
                            raise RuntimeError(f"sweep run {child.pipeline} labels={child.label_text} "
                                               f"seed={child.seed} failed (MLflow run {record['run_id']}): {error}") \
                                from error
            except KeyboardInterrupt:  # the interrupted child is KILLED (run_child), so is the sweep
                mlflow.set_tag("sweep.status", f"interrupted after {len(children)} of {len(plan)} runs")
                mlflow.end_run(status="KILLED")
                raise
            mlflow.set_tag("sweep.status", "finished")
            table = summarize_sweep(uri, exp_name, parent.info.run_id,
                                    Path(cwd, report_dir) if report_dir is not None else None)
        return {"parent_run_id": parent.info.run_id, "tracking_uri": uri, "experiment": exp_name,
                "children": children, "table": table}
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def _interrupt_on_sigterm():
    """SIGTERM (``kill``, a scheduler's stop) interrupts like Ctrl-C while the sweep runs, so the
    running child and the parent end as ``KILLED`` in MLflow instead of staying ``RUNNING``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# === Command line ===
def command_line(argv: Sequence[str]) -> str:
    """``ssl-pipelines <argv>`` quoted for a POSIX shell (the ``sweep.command`` tag)."""
    return shlex.join(["ssl-pipelines", *argv])


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssl-pipelines", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the pipelines a sweep can run")

    sw = sub.add_parser("sweep", help="run pipelines over seeds and label counts as child MLflow runs of one parent")
    sw.add_argument("--pipelines", required=True, help="comma-separated pipeline names (see `ssl-pipelines list`)")
    sw.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    group = sw.add_mutually_exclusive_group()
    group.add_argument("--labels", default=None,
                       help="comma-separated TOTAL label counts, class-balanced (e.g. 100 = 10 per class on "
                            "10 classes); default: each pipeline's configured labels")
    group.add_argument("--labels-per-class", default=None, help="comma-separated labels per class instead")
    sw.add_argument("--epochs", type=int, default=None,
                    help="set `epochs` of every training section of every swept pipeline (quick sweeps)")
    sw.add_argument("--params", default=None,
                    help="extra parameters key=value,...; `m2.train.epochs=3` for one pipeline, "
                         "`train.verbose=0` for every swept pipeline that has it, `runtime.x=...` top level")
    sw.add_argument("--variant", action="append", default=None, dest="variants", metavar="NAME:key=value,...",
                    help="a configuration to run (repeatable): one child per pipeline x labels x seed x variant, "
                         "tagged variant=NAME, its keys (as --params) over --params; e.g. "
                         "--variant full: --variant ce_only:model.alpha=0,model.beta=0")
    sw.add_argument("--env", default=None, help="Kedro environment, e.g. `paper` for the papers' protocols")
    sw.add_argument("--project-path", default=".", help="Kedro project root (default: current folder)")
    sw.add_argument("--experiment", default=None, help="MLflow experiment (default: mlflow.yml / MLFLOW_EXPERIMENT_NAME)")
    sw.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: mlflow.yml / MLFLOW_TRACKING_URI)")
    sw.add_argument("--run-name", default=None, help="name of the parent run (default sweep-<time>)")
    sw.add_argument("--interleave", action="store_true",
                    help="run in rounds, one per seed (every configuration of seed 0, then of seed 1, ...): "
                         "timing comparisons whose rounds share the machine's load")
    sw.add_argument("--keep-going", action="store_true", help="continue after a failed run")
    sw.add_argument("--new", action="store_true",
                    help="start a fresh sweep even if an interrupted one of the same command can be resumed "
                         "(by default the same command continues it: finished runs are kept, the interrupted "
                         "one resumes from its checkpoint)")
    sw.add_argument("--out", default=None, help="also write the sweep's results table and plots to this folder")
    sw.add_argument("--strict-batches", action="store_true",
                    help="fail (naming the key) when a labeled batch is larger than --labels, instead of "
                         "lowering it to the label count")

    sub.add_parser("launch", help="start one worker of a multi-worker training cluster "
                                  "(ssl-pipelines launch --help)")

    rs = sub.add_parser("results", help="results table (mean ± std test error vs published) and learning curves")
    rs.add_argument("--experiment", default=None, help="MLflow experiment (default MLFLOW_EXPERIMENT_NAME or ssl_pipelines)")
    rs.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default MLFLOW_TRACKING_URI or sqlite:///mlflow.db)")
    which = rs.add_mutually_exclusive_group()
    which.add_argument("--parent", default=None, help="the child runs of this sweep (parent run id; default: the newest sweep)")
    which.add_argument("--all", action="store_true", dest="all_runs",
                       help="every method run of the experiment (refused if runs of one row had different budgets)")
    rs.add_argument("--num-classes", type=int, default=10,
                    help="classes, to count labels of runs tagged only with labels_per_class (default 10)")
    rs.add_argument("--out", default="reports", help="output folder (default reports/)")
    rs.add_argument("--section", action="append", default=None, dest="sections", metavar="NAME",
                    help="instead of the report: the RESULTS.md section NAME of --spec (repeatable), "
                         "from its sweep's parent run, printed or written with --write")
    rs.add_argument("--all-sections", action="store_true",
                    help="instead of the report: every section of --spec, each from its own `store` (a new "
                         "--write file gets the spec's header, then the sections in the spec's order)")
    rs.add_argument("--allow-missing", action="store_true",
                    help="with --section / --all-sections: a section whose store or sweep parent run is missing "
                         "becomes a 'Not generated yet' placeholder naming the command that runs its sweep; "
                         "without it the command fails naming every such section and writes nothing")
    rs.add_argument("--spec", default="benchmarks/results_sections.yml",
                    help="the sections' spec (default benchmarks/results_sections.yml)")
    rs.add_argument("--readme", default=None, metavar="SPEC",
                    help="instead of the report: the README results table of SPEC (benchmarks/readme_results.yml), "
                         "every number copied from a RESULTS.md table; printed or written with --write README.md")
    rs.add_argument("--write", default=None, metavar="FILE",
                    help="with --section: replace the section(s) in FILE (e.g. benchmarks/RESULTS.md) between "
                         "their <!-- section: NAME --> / <!-- end: NAME --> markers, keeping everything else; "
                         "with --readme: the README block <!-- section: readme_results -->")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        os.environ["COLUMNS"] = "120"  # a log file: Kedro's rich handler would wrap every record at 80 columns
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["launch"]:  # its own parser: everything after `--` is the kedro command
        from ssl_pipelines.launch import main as launch_main

        return launch_main(argv[1:])
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for name in available_pipelines():
                print(name)
            return 0
        if args.command == "sweep":
            result = run_sweep(
                args.pipelines.split(","), parse_int_list(args.seeds, "seeds"),
                parse_int_list(args.labels, "labels") if args.labels else [None],
                labels_per_class=parse_int_list(args.labels_per_class, "labels-per-class")
                if args.labels_per_class else None,
                project_path=args.project_path, env=args.env, epochs=args.epochs,
                overrides=parse_params(args.params), tracking_uri=args.tracking_uri,
                experiment=args.experiment, run_name=args.run_name, keep_going=args.keep_going,
                report_dir=args.out, adapt_batches=not args.strict_batches,
                variants=parse_variants(args.variants), command=command_line(argv), interleave=args.interleave,
                new=args.new)
            from ssl_pipelines.reporting import to_markdown

            print(f"\nsweep parent run {result['parent_run_id']} ({result['tracking_uri']}, "
                  f"experiment {result['experiment']})")
            for c in result["children"]:
                print(f"  {c['pipeline']:<14} {c['variant'] or '':<12} labels={c['labels']} seed={c['seed']} {c['status']} "
                      f"{c['seconds']}s run {c['run_id']}")
            print()
            print(to_markdown(result["table"]))
            return 0 if all(c["status"] == "FINISHED" for c in result["children"]) else 1
        if args.command == "results":
            from ssl_pipelines import reporting

            default_uri = os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
            uri = args.tracking_uri or default_uri
            experiment = args.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or reporting.DEFAULT_EXPERIMENT
            if args.readme:
                if args.sections or args.all_sections:
                    raise ConfigError("--readme and --section are two different outputs: give one")
                if args.allow_missing:
                    raise ConfigError("--allow-missing goes with --section NAME or --all-sections")
                from ssl_pipelines.reporting_readme import write_readme_table

                text = write_readme_table(args.readme, write=args.write)
                print(text if args.write is None else f"wrote the README results table to {args.write}")
                return 0
            if args.sections or args.all_sections:
                from ssl_pipelines.reporting_sections import write_sections

                if args.sections and args.all_sections:
                    raise ConfigError("--section and --all-sections: give one")
                # a section's `store` in the spec wins over the environment's store, --tracking-uri over both
                text = write_sections(args.sections, args.spec, args.tracking_uri, experiment, write=args.write,
                                      default_uri=default_uri, allow_missing=args.allow_missing)
                what = ", ".join(args.sections) if args.sections else "every section"
                print(text if args.write is None else f"wrote {what} of {args.spec} to {args.write}")
                return 0
            if args.write is not None:
                raise ConfigError("--write needs --section NAME or --all-sections (the report itself goes to --out)")
            if args.allow_missing:
                raise ConfigError("--allow-missing goes with --section NAME or --all-sections")
            out = reporting.write_report(args.out, uri, experiment, parent_run_id=args.parent,
                                         num_classes=args.num_classes, all_runs=args.all_runs)
            print(f"runs of sweep {out['parent_run_id']}" if out["parent_run_id"] else "every method run")
            print(out["markdown"])
            print("wrote " + ", ".join(str(p) for p in out["files"]))
            return 0
    except ValueError as exc:  # ConfigError is a ValueError
        print(f"ssl-pipelines {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM: the runs are KILLED in MLflow (run_sweep)
        print(f"ssl-pipelines {args.command}: interrupted ({exc or 'Ctrl-C'}); the running MLflow runs are "
              "marked KILLED", file=sys.stderr)
        return 130
    return 1  # pragma: no cover


# === Kedro project commands ===
# Kedro loads ``<package>.cli`` as the project's command file and fails on every ``kedro`` command
# when it has no ``cli`` group; the same commands are offered there: ``kedro sweep ...``,
# ``kedro results ...``.
_FORWARD = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.group(name="ssl_pipelines")
def cli() -> None:
    """ssl-pipelines comparison commands (also installed as the `ssl-pipelines` program)."""


@cli.command("sweep", context_settings=_FORWARD, help="Run pipelines over seeds and label counts (ssl-pipelines sweep --help).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _kedro_sweep(args) -> None:
    sys.exit(main(["sweep", *args]))


@cli.command("results", context_settings=_FORWARD, help="Results table and learning curves from MLflow (ssl-pipelines results --help).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _kedro_results(args) -> None:
    sys.exit(main(["results", *args]))


if __name__ == "__main__":
    sys.exit(main())
