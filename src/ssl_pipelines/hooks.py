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
    """Give every training node a checkpoint folder, keep one MLflow run history per command across
    kills, and drop the checkpoints of a run that succeeded.

    Parameters (``conf/base/parameters.yml``)::

        runtime:
          checkpoint_dir: data/06_models/checkpoints   # <dir>/<pipeline>/<node>/<stage>/
          resume: true                                 # false: never save or resume

    A run that is interrupted (killed, NaN, Ctrl-C) keeps its checkpoints; the same command then
    resumes each stage where it stopped (:mod:`ssl_pipelines.training.checkpoint`).

    Per pipeline, ``<dir>/<pipeline>/`` also holds:

    - ``.lock``: held (``flock``) while the pipeline runs. A second run of the same pipeline
      started meanwhile stops at once with an error naming the lock, before it opens an MLflow run
      or touches a file; the first run is not disturbed. (The OS releases the lock of a killed run.)
    - ``run.json``: the MLflow run the pipeline logs to. When a command starts and finds there a
      run of a process that died (still ``RUNNING``: only a dead process leaves that, since the
      lock is free), that run is set to ``KILLED`` and tagged ``ssl_pipelines.resumed_by`` with the
      new run's id, and the new run is tagged ``ssl_pipelines.resumes`` with the old one's. The
      new run gets the complete history: every stage restored from a checkpoint logs the curves
      of its restored epochs (:func:`ssl_pipelines.training.fit.log_restored_history`), the stages
      that go on log the rest, and every other node runs and logs again. So after any kill and
      rerun the store holds one ``FINISHED`` run with every epoch's curve once (and the ``KILLED``
      partial run, linked to it). A run that failed with an exception stays ``FAILED``.

    Cleanup deletes only what runs wrote: the stage folders marked by
    :mod:`~ssl_pipelines.training.checkpoint`, ``.lock`` and ``run.json``, and the folders left
    empty. A ``<dir>/<pipeline>`` holding any other file (e.g. ``checkpoint_dir: data/06_models``,
    where the trained models live) is refused before the run starts.
    """

    OWN_FILES = frozenset({".lock", "run.json"})

    def __init__(self) -> None:
        self._tree = None   # where the pipelines' folders (lock, run record, checkpoints) live
        self._root = None   # the same, if checkpoints are enabled
        self._tokens: dict[str, Any] = {}
        self._locks: dict[str, Any] = {}
        self._recorded: set[str] = set()

    @hook_impl
    def after_context_created(self, context) -> None:
        from pathlib import Path

        runtime = dict(context.params.get("runtime") or {})
        enabled = bool(runtime.get("resume", True))
        folder = runtime.get("checkpoint_dir") or "data/06_models/checkpoints"
        path = Path(folder)
        self._tree = path if path.is_absolute() else Path(context.project_path) / path
        self._root = self._tree if enabled else None
        self._recorded = set()

    @staticmethod
    def _namespaces(pipeline) -> list[str]:
        return sorted({n.namespace.split(".")[0] for n in pipeline.nodes if n.namespace})

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        """Refuse a checkpoint folder holding other files; take each pipeline's lock. Runs before
        kedro-mlflow opens its run, so a refused run leaves nothing behind."""
        if self._tree is None:
            return
        from ssl_pipelines.data.errors import ConfigError
        from ssl_pipelines.training import checkpoint as ckpt

        namespaces = self._namespaces(pipeline)
        for ns in namespaces:
            foreign = ckpt.foreign_entries(self._tree / ns, self.OWN_FILES)
            if foreign:
                shown = ", ".join(str(f) for f in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
                raise ConfigError(
                    f"runtime.checkpoint_dir {str(self._tree)!r}: the folder {str(self._tree / ns)!r} holds files "
                    f"that are not checkpoints ({shown}); successful runs delete their checkpoints there, so it "
                    f"must be a folder of its own (e.g. data/06_models/checkpoints)")
        try:
            for ns in namespaces:
                self._locks[ns] = self._acquire(ns)
        except Exception:
            self._release()
            raise

    def _acquire(self, ns: str):
        import fcntl
        import os

        folder = self._tree / ns
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ".lock"
        handle = open(path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise RuntimeError(
                f"another run of pipeline {ns!r} is in progress (lock {path} held by process {holder}); "
                f"it shares this pipeline's checkpoint folder and output files. Wait for it to finish, "
                f"or run this one from another project copy") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def _release(self) -> None:
        import fcntl

        for handle in self._locks.values():
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            finally:
                handle.close()
        self._locks = {}

    def _record_run(self, ns: str) -> None:
        """Write this command's MLflow run to ``<dir>/<ns>/run.json``; set a run a killed command
        left ``RUNNING`` there to ``KILLED`` and link the two."""
        import json
        import os

        import mlflow

        run = mlflow.active_run()
        if run is None or self._tree is None:
            return
        record = self._tree / ns / "run.json"
        uri = mlflow.get_tracking_uri()
        try:
            previous = json.loads(record.read_text()) if record.exists() else {}
        except (OSError, ValueError):
            previous = {}
        old_id = previous.get("run_id") if isinstance(previous, dict) else None
        run_id = run.info.run_id
        if old_id and old_id != run_id and previous.get("tracking_uri") == uri:
            client = mlflow.MlflowClient()
            try:
                old = client.get_run(old_id)
            except Exception:  # deleted, or another store
                old = None
            if old is not None:
                if old.info.status == "RUNNING":
                    client.set_terminated(old_id, status="KILLED")
                    logger.info("MLflow run %s of an interrupted %r command marked KILLED; this run %s holds "
                                "its complete history", old_id, ns, run_id)
                client.set_tag(old_id, "ssl_pipelines.resumed_by", run_id)
                mlflow.set_tag("ssl_pipelines.resumes", old_id)
        tmp = record.with_name(f".run.json.{os.getpid()}.partial")
        tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": uri, "pid": os.getpid()}))
        os.replace(tmp, record)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        if not node.namespace:
            return
        ns = node.namespace.split(".")[0]
        if ns in self._locks and ns not in self._recorded:
            self._recorded.add(ns)
            self._record_run(ns)
        if self._root is None:
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
        if self._tree is None:
            return
        from ssl_pipelines.training import checkpoint as ckpt

        owned = list(self._locks)
        self._release()
        for ns in owned:
            kept = ckpt.remove_tree(self._tree / ns, self.OWN_FILES)
            if kept:
                logger.warning("checkpoint cleanup left %d file(s) it did not write in %s, e.g. %s",
                               len(kept), self._tree / ns, kept[0])

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._release()  # the checkpoints and run.json stay: the same command resumes


class TrackingGuardHooks:
    """Fail fast (or fall back) when the MLflow tracking server does not answer, and stop before
    anything runs when a ``sqlite:///`` store is not a readable database (:func:`check_sqlite_store`).

    MLflow's HTTP client retries for minutes against an unreachable server. Before kedro-mlflow
    connects, this checks an ``http(s)://`` tracking URI with a 3-second TCP connect. If it does
    not answer: with ``SSL_PIPELINES_MLFLOW_FALLBACK_URI`` set (e.g. ``sqlite:///mlflow.db``) and
    the tracking URI coming from ``MLFLOW_TRACKING_URI`` (the default ``mlflow.yml``), the run
    logs to the fallback with a warning; otherwise it stops with an error saying so. A ``sqlite:///``
    store has its tables and experiment created one process at a time (:func:`prepare_sqlite_store`),
    so runs of different pipelines started together can share it.
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
        if uri and str(uri).startswith("sqlite:///"):
            check_sqlite_store(str(uri))
            try:
                experiment = dict(context.config_loader["mlflow"].get("tracking") or {}).get("experiment") or {}
            except Exception:  # pragma: no cover - the same config was read above
                experiment = {}
            prepare_sqlite_store(str(uri), experiment.get("name"), experiment.get("create_experiment_kwargs"))
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


def sqlite_store_path(uri: str):
    """The file of an MLflow ``sqlite:///`` tracking URI (relative to the current folder unless
    absolute, its ``?query`` dropped), or None for any other URI."""
    from pathlib import Path

    prefix = "sqlite:///"
    return Path(uri[len(prefix):].split("?")[0]) if str(uri).startswith(prefix) else None


def check_sqlite_store(uri: str) -> None:
    """Raise a clear error if the sqlite file of an MLflow ``sqlite:///`` URI exists but is not a
    whole SQLite database (truncated, garbage). Reads only its header and schema, never writes: the
    file is left as it is for the user to recover. A missing or empty file is fine (MLflow creates
    the store)."""
    import sqlite3

    path = sqlite_store_path(uri)
    if not path.is_file() or path.stat().st_size == 0:
        return
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(100)
    problem = None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        problem = "it is not an SQLite database (no SQLite header)"
    else:
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        if pages and size < page_size * pages:
            problem = f"it is truncated ({size} bytes; its header says {pages} pages of {page_size} bytes)"
    if problem is None:
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            problem = f"SQLite cannot read it ({exc})"
    if problem is not None:
        raise RuntimeError(
            f"MLflow store {str(path)!r} ({uri}) is unusable: {problem}. It was not modified. Restore it from a "
            f"backup or move it away (a new store is created), or set MLFLOW_TRACKING_URI to another store.")


def prepare_sqlite_store(uri: str, experiment: str | None = None, create_kwargs: dict | None = None) -> None:
    """Create the tables of a ``sqlite:///`` MLflow store, and the run's experiment, one process at
    a time. Two commands started together on a new store (e.g. two pipelines in two terminals)
    otherwise both run MLflow's schema creation and one fails (``table ... already exists``), or
    both create the experiment and one fails. Holds an ``flock`` on the database file meanwhile
    (SQLite's own locks are ``fcntl`` locks, which ``flock`` does not touch); a store that exists
    costs one schema check. The experiment is left to kedro-mlflow when it has creation options."""
    import fcntl

    import mlflow

    path = sqlite_store_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:  # an empty file is a new SQLite database
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # waits while another process creates the tables
        try:
            client = mlflow.MlflowClient(tracking_uri=uri)
            plain = not any(v is not None for v in (create_kwargs or {}).values())
            if experiment and plain and client.get_experiment_by_name(str(experiment)) is None:
                client.create_experiment(str(experiment))
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class ThreadsHooks:
    """Apply ``runtime.threads`` (TensorFlow intra- and inter-op threads) when the context is
    created, before any node (or the distribution strategy) starts TensorFlow::

        runtime:
          threads: null   # null: all cores; e.g. 1 for several single-threaded runs side by side
    """

    # tryfirst: before DistributionHooks builds the strategy, which starts TensorFlow (Kedro calls
    # the project's hooks in reverse order of registration, so it would otherwise run first and
    # runtime.threads with any strategy but the default failed with "TensorFlow already started")
    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        from ssl_pipelines.params.runtime import parse_threads
        from ssl_pipelines.training.runtime import apply_threads

        apply_threads(parse_threads(context.params.get("runtime")).count)


class PrecisionHooks:
    """Apply ``runtime.precision`` (Keras' global dtype policy) when the context is created, before
    any node builds a model, and record it on the MLflow run: the parameter as written
    (``runtime.precision``) and the policy it resolved to as the tag ``precision``::

        runtime:
          precision: auto   # float32 | mixed_bfloat16 | mixed_float16 | auto

    A bad value fails the run before anything loads or trains (ConfigError naming the choices).
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self.policy: str | None = None
        self._tagged = True

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        from ssl_pipelines.params.runtime import parse_precision
        from ssl_pipelines.training.precision import apply_precision

        self.requested = parse_precision(context.params.get("runtime")).name
        self.policy = apply_precision(self.requested)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._tagged = False

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        if self._tagged or self.policy is None:
            return
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.set_tag("precision", self.policy)
            if "runtime.precision" not in mlflow.active_run().data.params:
                mlflow.log_param("runtime.precision", self.requested)
            self._tagged = True


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
        self._tagged = False

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async, run_id) -> None:
        """Tag the run with ``num_workers`` (1 without a multi-worker strategy), once."""
        if getattr(self, "_tagged", True):
            return
        import mlflow

        if mlflow.active_run() is not None:
            from ssl_pipelines.training.distribute import num_workers

            mlflow.set_tag("num_workers", str(num_workers(self._strategy)) if self._strategy is not None else "1")
            self._tagged = True

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
