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

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def load_parameters(env: str = "base") -> dict:
    """The project's parameters for ``env`` as ``kedro run --env=<env>`` sees them: loaded with the
    project's own config-loader settings (``conf/<env>`` soft-merged over ``conf/base``)."""
    from kedro.config import OmegaConfigLoader

    from ssl_pipelines.settings import CONFIG_LOADER_ARGS

    return OmegaConfigLoader(str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"]


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def make_project_copy(dest: Path) -> Path:
    """A runnable copy of the Kedro project: ``conf/`` (without ``local``), ``pyproject.toml``,
    empty data layers and an empty ``src/``."""
    dest.mkdir(parents=True)
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    (dest / "src").mkdir()  # the package itself is installed (editable) in the venv
    for layer in ("01_raw", "03_primary", "06_models", "07_model_output", "08_reporting"):
        (dest / "data" / layer).mkdir(parents=True)
    return dest


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow sqlite store with its tables created once (creating them costs seconds per run)."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


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

    def run(pipeline: str, params: dict | None = None, env: str | None = None):
        import mlflow

        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=params, env=env) as session:
            session.run(pipeline_names=[pipeline])
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
