"""Parameters every pipeline shares for measured runs: ``train.cpu_minutes`` /
``budget_check``, ``evaluation.curve_every`` / ``curve_unit`` / ``test_subset``, ``runtime.threads``:
checked with the project's messages, and what they do (stop, curve in MLflow, subset, threads)."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import ConfigError, load_dataset, split_access, split_labeled_unlabeled
from ssl_pipelines.methods import SupervisedClassifier
from ssl_pipelines.params import parse_evaluation, parse_train
from ssl_pipelines.params.runtime import parse_threads
from ssl_pipelines.pipelines.common_training import start_stage, train_stage
from ssl_pipelines.training.curve import AccuracyCurve
from ssl_pipelines.training.runtime import apply_threads


@pytest.mark.parametrize("parse, values, message", [
    (lambda v: parse_train(v, 0), {"cpu_minutes": -1}, "train.cpu_minutes must be a positive number, got -1"),
    (lambda v: parse_train(v, 0), {"cpu_minutes": "30"}, "train.cpu_minutes must be a positive number, got '30'"),
    (lambda v: parse_train(v, 0), {"wall_minutes": 0}, "train.wall_minutes must be a positive number, got 0"),
    (lambda v: parse_train(v, 0), {"cpu_minutes": 3, "wall_minutes": 8},
     "train.wall_minutes must be null when train.cpu_minutes is set (one time budget per stage, got cpu_minutes=3"),
    (lambda v: parse_train(v, 0), {"budget_check": "batch"}, "train.budget_check must be one of ['epoch', 'step'], got 'batch'"),
    (parse_evaluation, {"curve_every": 0}, "evaluation.curve_every must be a positive integer, got 0"),
    (parse_evaluation, {"curve_unit": "pass"}, "evaluation.curve_unit must be one of ['epoch', 'step'], got 'pass'"),
    (parse_evaluation, {"test_subset": 2.5}, "evaluation.test_subset must be a positive integer, got 2.5"),
    (parse_threads, {"threads": 0}, "runtime.threads must be a positive integer"),
    (parse_threads, {"threads": True}, "runtime.threads must be a positive integer"),
])
def test_bad_values_are_named(parse, values, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse(values)


def test_defaults_leave_every_run_as_before():
    train = parse_train({}, 0)[0]
    ev = parse_evaluation(None)
    assert (train.cpu_minutes, train.wall_minutes, train.budget_check, train.budget) == (None, None, "epoch", None)
    assert parse_train({"wall_minutes": 8}, 0)[0].budget == ("wall", 8)
    assert (ev.curve_every, ev.curve_unit, ev.test_subset, ev.test_subset_seed) == (None, "epoch", None, 0)
    assert parse_threads(None).count is None and parse_threads({"threads": 2}).count == 2


@pytest.fixture(scope="module")
def split():
    return split_labeled_unlabeled(load_dataset("digits", seed=0), labels_per_class=2, seed=0)


def test_test_subset_is_a_fixed_seeded_draw_in_order(split):
    a = split_access.test_subset(split, 50, seed=0)
    b = split_access.test_subset(split, 50, seed=0)
    c = split_access.test_subset(split, 50, seed=1)
    assert len(a.x_test) == len(a.y_test) == 50
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)
    flat = split.x_test.reshape(len(split.x_test), -1)
    rows = [int(np.flatnonzero((flat == x.ravel()).all(axis=1))[0]) for x in a.x_test]  # first match of each image
    assert rows == sorted(rows) and len(set(rows)) > 45
    np.testing.assert_array_equal(flat[rows], a.x_test.reshape(50, -1))
    assert a.x_labeled is split.x_labeled
    assert split_access.test_subset(split, None) is split and split_access.test_subset(split, 10 ** 6) is split


def test_curve_points_at_epochs_or_steps():
    x, y = np.zeros((4, 2), "float32"), np.array([0, 0, 1, 1])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    data = (np.zeros((8, 2), "float32"), np.zeros((8, 2), "float32"))
    by_epoch = AccuracyCurve(lambda b: np.tile([[1.0, 0.0]], (len(b), 1)), x, y, every=2)
    by_step = AccuracyCurve(lambda b: np.tile([[1.0, 0.0]], (len(b), 1)), x, y, every=3, unit="step")
    model.fit(*data, batch_size=4, epochs=5, verbose=0, callbacks=[by_epoch, by_step])
    assert by_epoch.points == [(2, 0.5), (4, 0.5)]
    assert by_step.points == [(3, 0.5), (6, 0.5), (9, 0.5)]


def test_cpu_budget_and_curve_through_a_training_stage_into_mlflow(split, tmp_path):
    """cpu_minutes stops a 50-epoch stage after its first epoch; the curve's points and the budget
    are in the MLflow run (metric history with steps, stop reason)."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("t")
    train = start_stage(parse_train({"epochs": 50, "steps_per_epoch": 3, "batch_size": 8, "verbose": 0,
                                     "cpu_minutes": 1e-5}, 0)[0])
    ev = parse_evaluation({"curve_every": 1, "test_subset": 40})
    net = keras.Sequential([keras.Input(split.input_shape), keras.layers.Flatten(), keras.layers.Dense(split.num_classes)])
    with mlflow.start_run() as run:
        history = train_stage(SupervisedClassifier(net), split, train, stage="sup", unlabeled=False, evaluation=ev)
    client = mlflow.MlflowClient()
    assert len(history["loss"]) == 1 and len(history["test_accuracy"]) == 1
    points = client.get_metric_history(run.info.run_id, "sup.test_accuracy")
    assert [(p.step, p.value) for p in points] == [(1, pytest.approx(history["test_accuracy"][0]))]
    minutes = client.get_metric_history(run.info.run_id, "sup.train_minutes")  # the budget's clock at that point
    assert [p.step for p in minutes] == [1] and 1e-5 < minutes[0].value < 1.0
    logged = client.get_run(run.info.run_id).data
    assert logged.tags["sup.stop_reason"] == "cpu_budget"
    assert logged.metrics["sup.epochs_completed"] == 1 and logged.metrics["sup.cpu_minutes_used"] > 1e-5
    train = start_stage(parse_train({"epochs": 50, "steps_per_epoch": 3, "batch_size": 8, "verbose": 0,
                                     "wall_minutes": 1e-5}, 0)[0])
    with mlflow.start_run() as run:
        history = train_stage(SupervisedClassifier(net), split, train, stage="sup", unlabeled=False, validate=False)
    logged = client.get_run(run.info.run_id).data
    assert len(history["loss"]) == 1 and logged.tags["sup.stop_reason"] == "wall_budget"
    assert logged.metrics["sup.wall_minutes_used"] > 1e-5 and "sup.cpu_minutes_used" not in logged.metrics
    mlflow.set_tracking_uri("")


def test_threads_applied_once_then_only_the_same_count():
    tf.constant(1.0) + 1.0  # TensorFlow has started in this process
    now = tf.config.threading.get_intra_op_parallelism_threads()
    if now == tf.config.threading.get_inter_op_parallelism_threads():
        apply_threads(now or None)  # the count in force: fine (a sweep's second run)
    with pytest.raises(ConfigError, match="runtime.threads=7 cannot be applied: TensorFlow already started"):
        apply_threads(7)
    apply_threads(None)


def test_throughput_is_logged_per_epoch_to_mlflow(tmp_path):
    from ssl_pipelines.training.callbacks import ThroughputLogger

    speed = ThroughputLogger(images_per_step=10, steps=3)
    speed.rates = [100.0, 250.0]
    speed.log_to_mlflow("m2")  # no active run: nothing, no error
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        speed.log_to_mlflow("m2")
    points = mlflow.MlflowClient().get_metric_history(run.info.run_id, "m2.images_per_second")
    assert [(p.step, p.value) for p in points] == [(1, 100.0), (2, 250.0)]
    # the step time: 10 images per step at the median rate of the epochs after the first (250/s)
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.metrics["m2.step_ms"] == pytest.approx(40.0)
    speed.rates = [50.0, 100.0, 300.0, 200.0]  # the first epoch (tracing) is left out: median 200/s
    assert speed.step_ms() == pytest.approx(50.0)
    speed.rates = [125.0]
    assert speed.step_ms() == pytest.approx(80.0)  # one epoch: that one
    speed.rates = []
    assert speed.step_ms() is None
    mlflow.set_tracking_uri("")
