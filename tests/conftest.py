"""Shared fixtures: an isolated Kedro project (temporary conf, data and MLflow store) and
``--runslow`` for opt-in slow tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist (`make test`: two workers on two cores) each worker's TensorFlow gets its share
# of the cores for intra-op work (one thread each here), not every core: the tests' nets are tiny, and
# two workers each spinning two intra-op threads on two cores cost 13 % more CPU and 10 % more wall time
# (measured on the whole suite, 2026-12-07). TensorFlow reads the variable when it starts (this file is
# imported before any test imports it); subprocesses that tests start inherit it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_share))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def load_parameters(env: str = "base") -> dict:
    """The project's parameters for ``env`` as ``kedro run --env=<env>`` sees them: loaded with the
    project's own config-loader settings (``conf/<env>`` soft-merged over ``conf/base``)."""
    from kedro.config import OmegaConfigLoader

    from ssl_pipelines.settings import CONFIG_LOADER_ARGS

    return OmegaConfigLoader(str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"]


@pytest.fixture(autouse=True)
def _restore_mlflow_tracking_uri():
    """``mlflow.set_tracking_uri(x)`` also sets ``MLFLOW_TRACKING_URI=x`` for the whole process (MLflow 3);
    a test that resets it with ``""`` left an empty variable that Kedro-MLflow resolves
    (``${env:MLFLOW_TRACKING_URI, ...}``) to the refused ``./mlruns`` store in every later test of that
    worker. Each test ends with the variable as it found it."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") != before:
        import mlflow

        mlflow.set_tracking_uri(before or "")
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def _heavy_seconds(item) -> float:
    marker = item.get_closest_marker("heavy")
    return float(marker.args[0]) if marker else 0.0


def pytest_collection_modifyitems(config, items):
    # Modules with the longest tests first, their longest tests first (``@pytest.mark.heavy(seconds)``;
    # a stable sort, so the rest keep their order and a module stays in one piece for its module-scoped
    # fixtures), so that the two xdist workers (`make test`: ``-n 2 --dist worksteal``) end together
    # instead of one running a 45 s test alone at the end of the collection.
    module_max: dict[str, float] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        module_max[module] = max(module_max.get(module, 0.0), _heavy_seconds(item))

    def order(item):
        module = item.nodeid.split("::")[0]
        return -module_max[module], module if module_max[module] else "", -_heavy_seconds(item)

    items.sort(key=order)
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


_EMPTY_DB: list[Path] = []


def empty_mlflow_store() -> Path:
    """An MLflow sqlite store with its tables created, made once per test process (creating the
    tables costs ~2 s per fresh store); copy it, never write to it."""
    if not _EMPTY_DB:
        import atexit
        import tempfile

        import mlflow

        path = Path(tempfile.mkdtemp(prefix="ssl_pipelines_empty_store_")) / "empty.db"
        atexit.register(shutil.rmtree, path.parent, True)
        mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
        _EMPTY_DB.append(path)
    return _EMPTY_DB[0]


def make_project_copy(dest: Path, mlflow_db: bool = False) -> Path:
    """A runnable copy of the Kedro project: ``conf/`` (without ``local``), ``pyproject.toml``,
    empty data layers and an empty ``src/``; with ``mlflow_db``, an empty MLflow store in
    ``dest/mlflow.db`` (tables created) for ``MLFLOW_TRACKING_URI=sqlite:///<dest>/mlflow.db``."""
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    (dest / "src").mkdir()  # the package itself is installed (editable) in the venv
    for layer in ("01_raw", "03_primary", "06_models", "07_model_output", "08_reporting"):
        (dest / "data" / layer).mkdir(parents=True)
    if mlflow_db:
        shutil.copy(empty_mlflow_store(), dest / "mlflow.db")
    return dest


@pytest.fixture(scope="session")
def empty_mlflow_db() -> Path:
    """An MLflow sqlite store with its tables created once (see :func:`empty_mlflow_store`)."""
    return empty_mlflow_store()


@pytest.fixture
def kedro_project(tmp_path, monkeypatch, empty_mlflow_db):
    """A copy of the project's ``conf/`` and ``pyproject.toml`` in a temporary folder, with its
    own MLflow sqlite store; returns a ``run(pipeline, params=None, env=None)`` function that runs
    a pipeline through a ``KedroSession`` and returns ``(project_path, tracking_uri)``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = make_project_copy(tmp_path / "project")
    shutil.copy(empty_mlflow_db, project / "mlflow.db")
    uri = f"sqlite:///{project / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(project)

    def run(pipeline: str, params: dict | None = None, env: str | None = None, **run_kwargs):
        """``run_kwargs`` go to ``session.run`` (e.g. ``to_outputs=[...]`` for a slice)."""
        import mlflow

        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=params, env=env) as session:
            session.run(pipeline_names=[pipeline], **run_kwargs)
        # kedro-mlflow ends its run; make sure no run leaks into the next test
        while mlflow.active_run() is not None:
            mlflow.end_run()
        return project, uri

    run.project, run.uri = project, uri  # for tests of runs that fail
    return run


def mlflow_runs(uri: str, experiment: str = "ssl_pipelines"):
    """All runs of the experiment as a DataFrame shaped like ``mlflow.search_runs`` (newest first:
    ``run_id``, ``status``, ``params.*``, ``tags.*``, ``metrics.*``). Uses a client for ``uri``
    without touching MLflow's global tracking URI, which later tests and sweeps rely on."""
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return pd.DataFrame(columns=["run_id", "status"])
    rows = []
    for run in client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"]):
        row = {"run_id": run.info.run_id, "status": run.info.status, "start_time": run.info.start_time}
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)
