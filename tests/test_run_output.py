"""What a run tells its user: corrected MLflow tags, the summary block, one line per epoch, the
narrow log filters (TensorFlow retracing, MLflow's type-hint warning; nothing else), saved models'
cards, and `ssl-pipelines --help` without TensorFlow."""

import logging
import subprocess
import sys

import numpy as np
import pytest

from ssl_pipelines import log_filters
from ssl_pipelines.run_summary import format_summary, kedro_command, runner_name
from ssl_pipelines.training.progress import format_epoch


def test_runner_tag_is_a_class_name_and_kedro_command_is_what_was_typed():
    from kedro.runner import SequentialRunner

    assert runner_name("<kedro.runner.sequential_runner.SequentialRunner object at 0x7f3a2c1d0>") == "SequentialRunner"
    assert runner_name(SequentialRunner()) == "SequentialRunner" and runner_name(SequentialRunner) == "SequentialRunner"
    typed = ["/venv/bin/kedro", "run", "--pipelines=supervised", "--params", "supervised.train.epochs=2"]
    assert kedro_command({"pipeline_names": ["supervised"]}, typed) == \
        "kedro run --pipelines=supervised --params supervised.train.epochs=2"
    # a sweep child (or a session run from Python): the equivalent command, with --pipelines=
    rebuilt = kedro_command({"pipeline_names": ["m2"], "env": None, "tags": None,
                             "runtime_params": {"m2": {"seed": 1, "data": {"num_labeled": 100, "labels_per_class": None}}}},
                            ["/venv/bin/ssl-pipelines", "sweep"])
    assert rebuilt == "kedro run --pipelines=m2 --params=m2.seed=1,m2.data.num_labeled=100,m2.data.labels_per_class=null"


def test_summary_block_names_pipeline_metrics_run_model_and_figures():
    text = format_summary(["supervised"], {"supervised": {"accuracy": 0.9244, "error": 7.56}}, "abc123",
                          "sqlite:///mlflow.db", ["data/06_models/supervised/trained_model.keras"],
                          ["data/08_reporting/supervised/confusion_matrix.png",
                           "data/08_reporting/supervised/learning_curves.png"])
    lines = text.splitlines()
    assert lines[0].startswith("== supervised done ==")
    assert "accuracy 0.9244, error 7.56 %" in lines[1]
    assert "abc123" in lines[2] and "sqlite:///mlflow.db" in lines[2]
    assert lines[3].endswith("data/06_models/supervised/trained_model.keras")
    assert lines[4].endswith("data/08_reporting/supervised/ (confusion_matrix.png, learning_curves.png)")


def test_one_line_per_epoch_with_validation_metrics_last():
    line = format_epoch(2, 30, {"val_accuracy": 0.7, "loss": 2.2009, "accuracy": 0.3375}, 0.123)
    assert line == "epoch 3/30  loss 2.2009  accuracy 0.3375  val_accuracy 0.7000  0.1 s"


def _record(name, msg, level=logging.WARNING):
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_log_filters_drop_only_the_two_known_messages():
    import ssl_pipelines  # noqa: F401  (install() ran on import)

    tf_logger, py_warnings = logging.getLogger("tensorflow"), logging.getLogger("py.warnings")
    assert log_filters.TENSORFLOW_RETRACING in tf_logger.filters
    assert log_filters.MLFLOW_TYPE_HINTS in py_warnings.filters
    retracing = ("5 out of the last 7 calls to <function TensorFlowTrainer.make_predict_function.<locals>."
                 "one_step_on_data_distributed at 0x7f> triggered tf.function retracing. Tracing is expensive")
    assert not tf_logger.filter(_record("tensorflow", retracing))
    assert tf_logger.filter(_record("tensorflow", "Gradients do not exist for variables"))
    hint = ("/x/mlflow/pyfunc/utils/data_validation.py:187: UserWarning: \x1b[33mAdd type hints to the `predict` "
            "method to enable data validation and automatic signature inference during model logging.")
    assert not py_warnings.filter(_record("py.warnings", hint))
    assert py_warnings.filter(_record("py.warnings", "/x/ssl_pipelines/y.py:3: UserWarning: ours"))
    sweep_only = log_filters.KEDRO_MLFLOW_IN_SWEEP
    assert not sweep_only.filter(_record("k", "A mlflow run was already active (run_id='x') before the KedroSession"))
    assert sweep_only.filter(_record("k", "Mlflow tracking server unreachable"))


def test_saved_model_carries_its_card_and_still_loads(tmp_path):
    import keras

    from ssl_pipelines.io import KerasModelDataset, attach_model_card, read_model_card

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    attach_model_card(model, {"pipeline": "supervised", "dataset": "digits", "classes": ["a", "b", "c"],
                              "input": {"normalization": "unit"}})
    path = tmp_path / "m.keras"
    KerasModelDataset(filepath=str(path)).save(model)
    card = read_model_card(path)
    assert card["input"]["shape"] == [None, 8, 8, 1] and card["input"]["dtype"] == "float32"
    assert card["input"]["normalization"] == "unit" and "value / 16" in card["input"]["normalization_help"]
    assert card["output"]["kind"] == "logits" and "softmax" in card["output"]["help"]
    assert card["classes"] == ["a", "b", "c"] and card["pipeline"] == "supervised"
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    loaded = KerasModelDataset(filepath=str(path)).load()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_help_does_not_import_tensorflow():
    code = ("import sys; sys.argv[0] = '/venv/bin/ssl-pipelines'\n"
            "from ssl_pipelines.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage: ssl-pipelines" in out.stdout and out.stdout.strip().endswith("NO-TF")


def test_long_stages_print_every_kth_epoch_and_the_last():
    from ssl_pipelines.training.progress import EpochLine

    assert EpochLine(30).every == 1 and EpochLine(60).every == 2 and EpochLine(200).every == 7
    printed = [e for e in range(200) if (e + 1) % EpochLine(200).every == 0 or e + 1 == 200]
    assert len(printed) <= 30 and printed[-1] == 199


def test_model_card_carries_the_training_normalization_statistics():
    from ssl_pipelines.data import Dataset, preprocess_dataset, split_labeled_unlabeled
    from ssl_pipelines.run_summary import card_for

    rng = np.random.default_rng(0)
    x = rng.random((40, 4, 4, 2), dtype=np.float32) * np.asarray([1.0, 0.5], np.float32)
    y = np.repeat(np.arange(4), 10)
    ds, stats = preprocess_dataset(Dataset(x, y, x[:8], y[:8], 4, "toy"), normalization="standardize")
    split = split_labeled_unlabeled(ds, labels_per_class=2, seed=0)
    card = card_for("supervised", split, {"name": "toy", "normalization": "standardize"})
    np.testing.assert_allclose(card["input"]["mean"], x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(card["input"]["std"], x.std(axis=(0, 1, 2)), rtol=1e-5)
    assert card["input"]["normalization"] == "standardize" and stats["mean"] == card["input"]["mean"]
    unit = card_for("supervised", split_labeled_unlabeled(preprocess_dataset(
        Dataset(x, y, x[:8], y[:8], 4, "toy"))[0], labels_per_class=2, seed=0), {"name": "toy"})
    assert unit["input"]["normalization"] == "unit" and unit["input"]["mean"] == [0.0, 0.0] \
        and unit["input"]["std"] == [1.0, 1.0]
