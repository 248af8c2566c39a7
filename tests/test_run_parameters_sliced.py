"""The issue-15 run parameters through a whole pipeline (the sliced harness of
test_pipelines_sliced.py): an M2 run of 50 epochs stopped by ``train.cpu_minutes`` after one,
with a test-accuracy curve and the final evaluation on a 60-image ``evaluation.test_subset``."""

import pytest

from test_pipelines_sliced import TINY, merged, run_sliced


@pytest.mark.heavy(7)
def test_m2_budget_curve_and_test_subset_in_a_pipeline():
    out = run_sliced("m2", merged(TINY["m2"], {"train": {"epochs": 50, "cpu_minutes": 1e-5},
                                               "evaluation": {"curve_every": 1, "test_subset": 60}}))
    history = out["m2.training_history"]
    assert len(history["loss"]) == 1 and len(history["test_accuracy"]) == 1
    assert out["m2.evaluation_report"]["n"] == 60
    assert out["m2.resolved_parameters"]["train"]["cpu_minutes"] == 1e-5
