"""A tiny sweep as a user runs it (2 seeds, digits, 1 epoch) in an isolated project: parent and
child MLflow runs with the right tags, a results table with the right rows, the `results`
command, and the comparison notebook executed against the same store."""

import os
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, make_project_copy

SEEDS = [0, 1]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One sweep shared by the tests of this module: supervised, 100 labels, seeds 0 and 1, 1 epoch."""
    import mlflow

    from ssl_pipelines.cli import run_sweep

    project = make_project_copy(tmp_path_factory.mktemp("sweep") / "project", mlflow_db=True)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
    try:
        result = run_sweep(["supervised"], SEEDS, [100], project_path=project, epochs=1,
                           overrides={"train.verbose": 0}, run_name="tiny-sweep",
                           report_dir=project / "reports")
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return project, uri, result


@pytest.mark.heavy(12)
def test_sweep_makes_parent_and_tagged_child_runs(sweep):
    import mlflow

    project, uri, result = sweep
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("ssl_pipelines")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("sweep") == "true"]
    assert len(parents) == 1 and parents[0].info.run_id == result["parent_run_id"]
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "tiny-sweep"
    assert parent.data.tags["sweep.pipelines"] == "supervised" and parent.data.tags["sweep.seeds"] == "0,1"
    assert "method" not in parent.data.tags  # the parent is not counted as a method run

    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and len(runs) == 3
    assert sorted(int(c.data.tags["seed"]) for c in children) == SEEDS
    for child in children:
        tags, metrics = child.data.tags, child.data.metrics
        assert child.info.status == "FINISHED"
        assert (tags["method"], tags["dataset"], tags["labels"], tags["num_labeled"]) == ("supervised", "digits", "100", "100")
        assert child.data.params["supervised.train.epochs"] == "1"
        assert child.data.params["supervised.data.num_labeled"] == "100"
        assert metrics["test.error"] == pytest.approx(100 * (1 - metrics["test.accuracy"]))
        assert metrics["test.accuracy"] > 0.15, metrics  # chance is 0.1 (one epoch only)
        assert [m.step for m in client.get_metric_history(child.info.run_id, "supervised.val_accuracy")] == [0]
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "models")}
        assert "models/trained_model.keras" in artifacts
    assert {c.data.params["supervised.seed"] for c in children} == {"0", "1"}  # the seed reached each run
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "results")} >= {
        "results/results.md", "results/results.png", "results/learning_curves.png"}


def test_sweep_table_has_one_row_with_mean_and_std_of_the_children(sweep):
    import mlflow

    project, uri, result = sweep
    client = mlflow.MlflowClient(uri)
    errors = [client.get_run(c["run_id"]).data.metrics["test.error"] for c in result["children"]]
    table = result["table"]
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["method"], row["dataset"], row["labels"], row["n_runs"], row["seeds"]) == ("supervised", "digits", 100, 2, "0,1")
    assert row["mean"] == pytest.approx(np.mean(errors)) and row["std"] == pytest.approx(np.std(errors, ddof=1))
    assert "22.98 (mnist, CNN)" in row["published_other"]  # Kingma Table 1 CNN at 100 labels, shown apart
    md = (project / "reports" / "results.md").read_text()
    assert f"| supervised | digits | 100 | 2 | 0,1 | {np.mean(errors):.2f} ± {np.std(errors, ddof=1):.2f} |" in md
    for name in ("results.png", "learning_curves.png"):
        assert (project / "reports" / name).stat().st_size > 1000


def test_results_command_and_errors_before_training(sweep, tmp_path, capsys):
    from ssl_pipelines.cli import main

    project, uri, result = sweep
    out = tmp_path / "out"
    assert main(["results", "--tracking-uri", uri, "--parent", result["parent_run_id"], "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| supervised | digits | 100 | 2 | 0,1 |" in text
    assert (out / "results.csv").read_text().count("\n") == 2  # header + one row
    # bad input is refused before any run starts, naming the value
    assert main(["sweep", "--pipelines", "supervised,nope", "--project-path", str(project), "--tracking-uri", uri]) == 2
    assert "'nope'" in capsys.readouterr().err
    assert main(["sweep", "--pipelines", "supervised", "--seeds", "x", "--project-path", str(project)]) == 2
    assert main(["sweep", "--pipelines", "supervised", "--params", "trian.epochs=1", "--project-path", str(project),
                 "--tracking-uri", uri]) == 2
    assert "'trian.epochs'" in capsys.readouterr().err
    import mlflow

    assert len(mlflow.MlflowClient(uri).search_runs([mlflow.MlflowClient(uri).get_experiment_by_name(
        "ssl_pipelines").experiment_id])) == 3  # nothing was started by the refused sweeps


@pytest.mark.heavy(17)
def test_notebook_executes_against_the_sweep(sweep):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("no `python3` Jupyter kernel: run `python -m ipykernel install --sys-prefix`")
    project, uri, result = sweep
    nb = nbformat.read(REPO / "notebooks" / "compare_runs.ipynb", as_version=4)
    env_keys = {"MLFLOW_TRACKING_URI": uri, "SSL_PIPELINES_SWEEP_PARENT": result["parent_run_id"],
                "MPLBACKEND": "Agg"}
    saved = {k: os.environ.get(k) for k in env_keys}
    os.environ.update(env_keys)  # the kernel inherits the environment
    try:
        nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                resources={"metadata": {"path": str(project)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) +
                     str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "2 finished method runs" in text
    assert "| supervised | digits | 100 | 2 | 0,1 |" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # table image + learning curves


@pytest.mark.heavy(4)
def test_an_interrupted_sweep_ends_its_runs_as_killed(tmp_path, monkeypatch, capsys):
    """Ctrl-C or SIGTERM during a child: that child and the parent end KILLED (not FINISHED, not left
    RUNNING), nothing after it runs, and the command exits 130 with one line saying so."""
    import signal

    import mlflow
    from kedro.framework.session import KedroSession

    from ssl_pipelines import cli

    project = make_project_copy(tmp_path / "project", mlflow_db=True)
    uri = f"sqlite:///{project / 'mlflow.db'}"
    calls = []

    def run(self, *args, **kwargs):  # the first child is stopped by a SIGTERM to this process
        calls.append(kwargs.get("pipeline_names"))
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(KedroSession, "run", run)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    before = signal.getsignal(signal.SIGTERM)
    try:
        rc = cli.main(["sweep", "--pipelines", "supervised", "--seeds", "0,1", "--labels", "100", "--project-path",
                       str(project), "--tracking-uri", uri, "--run-name", "stopped"])
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    assert rc == 130 and calls == [["supervised"]]
    assert "interrupted (signal 15)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the sweep's only
    runs = mlflow.MlflowClient(uri).search_runs([mlflow.MlflowClient(uri).get_experiment_by_name(
        "ssl_pipelines").experiment_id])
    statuses = sorted((r.info.run_name, r.info.status) for r in runs)
    assert statuses == [("stopped", "KILLED"), ("supervised-L100-s0", "KILLED")], statuses
    parent = next(r for r in runs if r.info.run_name == "stopped")
    assert parent.data.tags["sweep.status"] == "interrupted after 0 of 2 runs"
