"""The parameters for measured runs (time budget, test curve, test subset) through a whole
pipeline (the sliced harness of test_pipelines_sliced.py): an M2 run of 50 epochs stopped by ``train.cpu_minutes`` after one,
with a test-accuracy curve and the final evaluation on a 60-image ``evaluation.test_subset``;
and every other training node logs its ``evaluation.curve_every`` curve to the active MLflow run,
one curve per training stage (metric ``<stage>.test_accuracy``, step = the global step)."""

import shutil

import mlflow
import pytest
from conftest import empty_mlflow_store
from test_pipelines_sliced import TINY, merged, run_sliced


def test_m2_budget_curve_and_test_subset_in_a_pipeline():
    out = run_sliced("m2", merged(TINY["m2"], {"train": {"epochs": 50, "cpu_minutes": 1e-5},
                                               "evaluation": {"curve_every": 1, "test_subset": 60}}))
    history = out["m2.training_history"]
    assert len(history["loss"]) == 1 and len(history["test_accuracy"]) == 1
    assert out["m2.evaluation_report"]["n"] == 60
    assert out["m2.resolved_parameters"]["train"]["cpu_minutes"] == 1e-5


# pipeline -> the stages whose classifier trains (each logs its curve); swwae_vgg's decoder stages
# train decoders only (the encoder is frozen), so they have none
CURVE_STAGES = {"m1": ["m1_classifier"], "inversion": ["inversion"], "mean_teacher": ["mean_teacher"], "hybridnet": ["hybridnet"],
                "r2d2": ["supervised", "d2", "finetune"], "swwae_vgg": ["pretrain", "finetune"]}


@pytest.mark.heavy(8)
@pytest.mark.parametrize("name", sorted(CURVE_STAGES))
def test_every_training_stage_logs_its_curve(name, tmp_path):
    # a CPU budget in every training section (large: it does not stop them, but must flow through)
    budgets = {s: {"cpu_minutes": 5.0} for s, v in TINY[name].items() if isinstance(v, dict) and "epochs" in v}
    shutil.copy(empty_mlflow_store(), tmp_path / "mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        mlflow.set_experiment("curves")
        with mlflow.start_run() as run:  # the run kedro-mlflow opens in a kedro run
            out = run_sliced(name, merged(TINY[name], {"evaluation": {"curve_every": 1, "curve_unit": "step",
                                                                      "test_subset": 30}, **budgets}))
        client = mlflow.MlflowClient()
        for stage in CURVE_STAGES[name]:
            points = client.get_metric_history(run.info.run_id, f"{stage}.test_accuracy")
            assert [p.step for p in points] == [1, 2], stage  # 1 epoch x 2 steps, a point every step
            assert all(0.0 <= p.value <= 1.0 for p in points)
            errors = client.get_metric_history(run.info.run_id, f"{stage}.test_error")
            assert [e.value for e in errors] == pytest.approx([100 * (1 - p.value) for p in points])
        assert out[f"{name}.evaluation_report"]["n"] == 30
        if f"{name}.student_report" in out:  # the EMA student on the same subset as the teacher
            assert out[f"{name}.student_report"]["n"] == 30
        resolved = out[f"{name}.resolved_parameters"]
        # a stage with its own keys resolves to [train config, stage options]
        trains = [resolved[s][0] if isinstance(resolved[s], list) else resolved[s] for s in budgets]
        assert budgets and all(train["cpu_minutes"] == 5.0 for train in trains)
        assert client.get_run(run.info.run_id).data.tags[f"{CURVE_STAGES[name][-1]}.stop_reason"] != "cpu_budget"
    finally:
        mlflow.set_tracking_uri("")
