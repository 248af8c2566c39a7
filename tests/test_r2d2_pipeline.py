"""The r2d2 pipeline: parameter checks (before training), the stage-2 schedule, and an end-to-end
KedroSession run on digits with its MLflow run, metrics and artifacts."""

import json

import keras
import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines.data import ConfigError
from ssl_pipelines.evaluation import pseudo_label_stats
from ssl_pipelines.methods.r2d2 import RepredictionSchedule as D2Schedule
from ssl_pipelines.params.r2d2 import parse_d2 as parse_d2_params
from ssl_pipelines.params.r2d2 import parse_finetune as parse_finetune_params

TINY = {"r2d2": {
    "supervised": {"epochs": 10, "verbose": 0},
    "d2": {"epochs": 4, "repredict_at": [2, 3], "lr_schedule": [[3, 0.01]], "verbose": 0},
    "finetune": {"epochs": 1, "verbose": 0},
}}


@pytest.mark.parametrize("params,match", [
    ({"alpha": -0.1}, r"d2.alpha must be a positive number, got -0.1"),
    ({"repredict_at": [0, 2]}, r"d2.repredict_at must be distinct epochs in 1..3"),
    ({"repredict_at": "5"}, r"d2.repredict_at must be a list"),
    ({"lr_schedule": [[2, 0.1], [1, 0.01]]}, r"d2.lr_schedule must be pairs with increasing epochs"),
    ({"lr_schedule": [[5, 0.1]]}, r"d2.lr_schedule must be a list of \[epoch, learning_rate\] pairs"),
    ({"label_lr_reference_batch_size": 0}, r"d2.label_lr_reference_batch_size must be a positive integer, got 0"),
    ({"lamda": 4000}, r"unknown d2 parameter\(s\) \['lamda'\]"),
    ({"epochs": "abc"}, r"d2.epochs must be a positive integer, got 'abc'"),
])
def test_bad_d2_parameters_raise_config_error(params, match):
    with pytest.raises(ConfigError, match=match):
        parse_d2_params({"epochs": 4, **params}, seed=0)


def test_finetune_parameters_and_defaults():
    train, opts = parse_finetune_params({"epochs": 2}, seed=0)
    assert train.epochs == 2 and train.batch_size == 64
    assert (opts.repredict, opts.repredict_batch_size) == (True, 256)
    with pytest.raises(ConfigError, match="finetune.repredict must be true or false, got 'yes'"):
        parse_finetune_params({"repredict": "yes"}, seed=0)


def test_d2_schedule_sets_lr_by_absolute_epoch_and_repredicts_at_epoch_ends():
    calls = []
    cb = D2Schedule(0.03, [(2, 0.02), (3, 0.001)], [2], record=lambda s: calls.append(("record", s)),
                    repredict=lambda s: calls.append(("repredict", s)))
    assert [cb.lr_at(e) for e in range(5)] == [0.03, 0.03, 0.02, 0.001, 0.001]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    cb.set_model(model)
    for epoch in range(4):
        cb.on_epoch_begin(epoch)
        assert float(model.optimizer.learning_rate) == pytest.approx(cb.lr_at(epoch))
        cb.on_epoch_end(epoch)
    assert calls == [("record", 1), ("record", 2), ("repredict", 2), ("record", 3), ("record", 4)]


def test_pseudo_label_stats_by_hand():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.25, 0.25]]))
    stats = pseudo_label_stats(logits, np.array([0, 0, -1]))  # the -1 row is skipped for accuracy
    assert stats["accuracy"] == pytest.approx(0.5)
    assert stats["mean_max_prob"] == pytest.approx((0.7 + 0.6 + 0.5) / 3)


def test_bad_parameter_fails_before_any_training(kedro_project):
    bad = {"r2d2": {**TINY["r2d2"], "d2": {**TINY["r2d2"]["d2"], "beta": "big"}}}
    with pytest.raises(Exception) as info:
        kedro_project("r2d2", params=bad)
    assert "d2.beta must be a non-negative number, got 'big'" in str(info.value) or \
        "d2.beta must be a non-negative number, got 'big'" in repr(info.value.__cause__)
    import pathlib

    assert not list(pathlib.Path("data/06_models").rglob("*.keras"))  # stage 1 never trained


@pytest.mark.heavy(13)
def test_r2d2_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("r2d2", params=TINY)
    report = json.loads((project / "data/08_reporting/r2d2/evaluation_report.json").read_text())
    assert report["n"] == 450 and report["accuracy"] > 0.5, report["accuracy"]  # chance is 0.1
    stages = json.loads((project / "data/08_reporting/r2d2/stage_report.json").read_text())
    assert set(stages) == {"supervised", "d2", "finetune"}
    assert abs(stages["finetune"]["accuracy"] - report["accuracy"]) < 1e-9
    assert all(stages[s]["accuracy"] > 0.3 for s in stages), stages

    # the D2 model reloads with its pseudo-label table (labeled rows 10*onehot(y))
    from ssl_pipelines import data

    d2 = keras.models.load_model(project / "data/06_models/r2d2/d2_model.keras")
    sp = data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=10, validation_per_class=5, seed=0)
    table = d2.pseudo_labels.table.numpy()
    assert table.shape == (len(sp.x_labeled) + len(sp.x_unlabeled), 10)
    np.testing.assert_allclose(table[: len(sp.x_labeled)], 10 * np.eye(10)[sp.y_labeled])

    runs = mlflow_runs(uri)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == "r2d2"
    for key in ("stage_test.supervised_error", "stage_test.d2_error", "stage_test.finetune_error",
                "finetune_pseudo_label.hard_label_accuracy", "test.accuracy"):
        assert np.isfinite(run[f"metrics.{key}"]), key
    assert run["metrics.finetune_pseudo_label.hard_label_accuracy"] > 0.3
    import mlflow

    client = mlflow.MlflowClient(uri)
    acc = client.get_metric_history(run["run_id"], "d2_pseudo_label.accuracy")
    assert sorted(m.step for m in acc) == [0, 1, 2, 3, 4]  # initial reprediction + every D2 epoch
    assert all(m.value > 0.3 for m in acc)
    repred = client.get_metric_history(run["run_id"], "d2_pseudo_label.prediction_mean_max_prob")
    assert sorted(m.step for m in repred) == [0, 2, 3]  # initial + repredict_at
    assert [m.step for m in client.get_metric_history(run["run_id"], "d2.kl")] == [0, 1, 2, 3]
    artifacts = {a.path for d in ("models", "figures", "histories", "reports")
                 for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/supervised_model.keras", "models/d2_model.keras", "models/trained_model.keras",
            "figures/learning_curves.png", "histories/d2_history.json", "reports/stage_report.json"} <= artifacts
    d2_history = json.loads((project / "data/07_model_output/r2d2/d2_history.json").read_text())
    assert d2_history["learning_rate"] == [0.03, 0.03, 0.03, 0.01]


@pytest.mark.parametrize("env", ["base", "paper"])
def test_parameter_files_validate(env):
    """Both parameter sets pass every check (the paper env merged over base)."""
    from conftest import load_parameters

    from ssl_pipelines.params import check_pipeline

    params = load_parameters(env)["r2d2"]
    check_pipeline("r2d2", params)
    train, opts = parse_d2_params(params["d2"], seed=0)
    parse_finetune_params(params["finetune"], seed=0)
    if env == "paper":
        assert params["data"]["name"] == "cifar10" and params["data"]["labels_per_class"] == 400
        assert train.epochs == 600 and opts.repredict_at == [300, 375, 450, 525]
        assert (opts.alpha, opts.beta, opts.label_lr, opts.label_lr_reference_batch_size) == (0.1, 0.03, 4000, 512)
        assert params["model"]["backbone"] == "conv_large"
    else:
        assert params["data"]["name"] == "digits" and opts.repredict_at
