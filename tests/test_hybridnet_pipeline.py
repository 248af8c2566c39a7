"""The hybridnet pipeline end to end on digits through a KedroSession: EMA and raw classifier
metrics, the reconstruction figure and the model in MLflow; bad parameters fail before training."""

import json

import numpy as np
import pytest

from conftest import mlflow_runs

FAST = {"hybridnet": {"train": {"epochs": 4, "steps_per_epoch": 12, "verbose": 0, "lr_decay_start": 0.5},
                      "loss": {"ema_decay": 0.9, "stab_rampup_epochs": 1, "rec_rampup_epochs": 1,
                               "inter_rampup_epochs": 1}}}


@pytest.mark.heavy(20)
def test_hybridnet_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("hybridnet", params=FAST)
    out = project / "data/08_reporting/hybridnet"
    report = json.loads((out / "evaluation_report.json").read_text())
    student = json.loads((out / "student_report.json").read_text())
    assert report["n"] == 450
    assert report["accuracy"] > 0.4, report["accuracy"]  # EMA teacher; chance is 0.1
    assert student["accuracy"] > 0.4, student["accuracy"]  # raw classifier
    assert (out / "reconstructions.png").stat().st_size > 5000

    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED"
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    assert abs(run["metrics.student.accuracy"] - student["accuracy"]) < 1e-9
    for name in ("reconstruction.mse", "reconstruction.mse_c", "reconstruction.mse_u",
                 "hybridnet.reconstruction", "hybridnet.intermediate", "hybridnet.stability",
                 "hybridnet.balance_to_c"):
        assert np.isfinite(run[f"metrics.{name}"]), name
    assert run["metrics.reconstruction.mse"] < 0.1  # pixels in [0, 1]: it does reconstruct
    assert run["params.hybridnet.loss.lambda_stab"] == "100.0"
    import keras

    import ssl_pipelines  # noqa: F401  (registers the classes)

    saved = keras.saving.load_model(next((project / "data/06_models").rglob("*.keras")))
    assert float(keras.ops.convert_to_numpy(saved.optimizer.learning_rate)) == 0.0  # decayed to 0 at the last step
    import mlflow

    client = mlflow.MlflowClient(uri)
    artifacts = {a.path for d in ("models", "figures", "reports") for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/trained_model.keras", "figures/reconstructions.png", "reports/student_report.json",
            "reports/evaluation_report.json"} <= artifacts


def test_hybridnet_rejects_bad_loss_parameters_before_training(kedro_project):
    from ssl_pipelines.data import ConfigError

    params = {"hybridnet": {"loss": {"lambda_rec": -0.5}, "train": {"epochs": 1, "verbose": 0}}}
    with pytest.raises(Exception) as info:
        kedro_project("hybridnet", params=params)
    err = info.value
    while err is not None and not isinstance(err, ConfigError):
        err = err.__cause__ or err.__context__
    assert err is not None and "loss.lambda_rec must be a non-negative number, got -0.5" in str(err)
