"""The mean_teacher pipeline end to end on digits: EMA (teacher) and raw (student) metrics."""

import json

import pytest

from conftest import mlflow_runs

FAST = {"mean_teacher": {"train": {"epochs": 4, "steps_per_epoch": 12, "verbose": 0},
                         "loss": {"ema_decay": 0.9, "stab_rampup_epochs": 1}}}


@pytest.mark.heavy(9)
def test_mean_teacher_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("mean_teacher", params=FAST)
    out = project / "data/08_reporting/mean_teacher"
    report = json.loads((out / "evaluation_report.json").read_text())
    student = json.loads((out / "student_report.json").read_text())
    assert report["accuracy"] > 0.4 and student["accuracy"] > 0.4, (report["accuracy"], student["accuracy"])
    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED"
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    assert abs(run["metrics.student.accuracy"] - student["accuracy"]) < 1e-9
    assert run["metrics.mean_teacher.stability_weight"] == 100.0  # ramped up after epoch 1
    assert run["metrics.mean_teacher.stability"] >= 0
    import mlflow

    artifacts = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run["run_id"], "models")}
    assert "models/trained_model.keras" in artifacts
