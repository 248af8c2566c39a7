"""The supervised pipeline end to end through a KedroSession, MLflow contents, and reload of the
saved model in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import mlflow_runs

FAST = {"supervised": {"train": {"epochs": 12, "verbose": 0}}}


@pytest.mark.heavy(14)
def test_supervised_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("supervised", params=FAST)
    report = json.loads((project / "data/08_reporting/supervised/evaluation_report.json").read_text())
    assert report["n"] == 450
    assert report["accuracy"] > 0.6, report["accuracy"]  # chance is 0.1
    assert len(report["per_class_accuracy"]) == 10 and np.asarray(report["confusion_matrix"]).sum() == 450
    for png in ("confusion_matrix.png", "learning_curves.png"):
        assert (project / "data/08_reporting/supervised" / png).stat().st_size > 1000
    indices = np.load(project / "data/03_primary/supervised/split_indices.npz")
    assert len(indices["labeled"]) == 100 and int(indices["seed"]) == 0

    runs = mlflow_runs(uri)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["params.supervised.data.name"] == "digits"
    assert run["params.supervised.train.optimizer.learning_rate"] == "0.001"
    assert run["tags.method"] == "supervised" and run["tags.dataset"] == "digits"
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    import mlflow

    client = mlflow.MlflowClient(uri)
    curve = client.get_metric_history(run["run_id"], "supervised.loss")
    assert [m.step for m in curve] == list(range(12))  # one point per epoch
    assert curve[-1].value < curve[0].value
    artifacts = {a.path for d in ("models", "figures", "data", "reports") for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/trained_model.keras", "figures/confusion_matrix.png", "data/split_indices.npz",
            "reports/evaluation_report.json"} <= artifacts

    # the saved model reloads in a fresh process that imports only our package, and predicts identically
    model_path = project / "data/06_models/supervised/trained_model.keras"
    script = (
        "import sys, numpy as np, keras, ssl_pipelines\n"
        "from ssl_pipelines import data\n"
        "m = keras.models.load_model(sys.argv[1])\n"
        "x = data.load_dataset('digits').x_test[:16]\n"
        "np.save(sys.argv[2], m.predict(x, verbose=0))\n"
    )
    out = project / "pred.npy"
    subprocess.run([sys.executable, "-c", script, str(model_path), str(out)], check=True, timeout=120)
    import keras
    from ssl_pipelines import data

    here = keras.models.load_model(model_path).predict(data.load_dataset("digits").x_test[:16], verbose=0)
    np.testing.assert_allclose(np.load(out), here, atol=1e-6)


def test_same_seed_same_split_and_different_seed_differs(kedro_project):
    """The split through a KedroSession (the pipeline sliced up to the split files: training is
    not what this tests)."""
    def split(seed):
        kedro_project("supervised", params={"supervised": {"seed": seed}}, to_outputs=["supervised.split_indices"])
        return np.load(kedro_project.project / "data/03_primary/supervised/split_indices.npz")["labeled"].copy()

    first = split(0)
    assert not (kedro_project.project / "data/06_models/supervised/trained_model.keras").exists()  # no training
    assert first.tobytes() == split(0).tobytes()
    assert first.tobytes() != split(1).tobytes()


@pytest.mark.parametrize("flag", ["--pipeline=supervised", "--pipelines=supervised"])
def test_kedro_cli_accepts_both_pipeline_flags(flag, kedro_project, monkeypatch):
    """``kedro run`` with the legacy and the current flag, through Kedro's own CLI object in this
    process (the project's hooks, settings and MLflow store as in a shell; the console script itself
    runs as a subprocess in test_runs_survive's kill/resume test)."""
    from click.testing import CliRunner
    from kedro.framework.cli.cli import KedroCLI

    project, uri = kedro_project.project, kedro_project.uri
    argv = ["run", flag, "--params", "supervised.train.epochs=1,supervised.train.verbose=0"]
    monkeypatch.setattr(sys, "argv", [os.path.join(os.path.dirname(sys.executable), "kedro"), *argv])
    import mlflow

    try:
        result = CliRunner().invoke(KedroCLI(project_path=project), argv, catch_exceptions=False)
    finally:
        while mlflow.active_run() is not None:  # as kedro_project does: no run leaks into the next test
            mlflow.end_run()
    assert result.exit_code == 0, result.output[-3000:]
    assert (project / "data/06_models/supervised/trained_model.keras").exists()
    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == "supervised"
    assert run["tags.kedro_command"] == "kedro run " + flag + " --params supervised.train.epochs=1,supervised.train.verbose=0"
    assert run["params.supervised.train.epochs"] == "1"


def test_paper_env_is_complete():
    """The paper env (soft-merged over conf/base) holds every section the pipeline reads."""
    import yaml

    from conftest import REPO, load_parameters

    base = yaml.safe_load((REPO / "conf/base/parameters_supervised.yml").read_text())["supervised"]
    paper = load_parameters("paper")["supervised"]
    assert set(base) <= set(paper)
    assert set(base["train"]) <= set(paper["train"])
    assert paper["data"]["name"] == "mnist" and paper["model"]["backbone"] == "mlp"
    assert paper["model"]["backbone_kwargs"] == {"filters": None, "dense_units": None, "hidden_units": [500, 500],
                                                 "dropout": 0.5}  # null: small_cnn's keys dropped when built
