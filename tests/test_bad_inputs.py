"""Bad-input sweep: every bad input is rejected with a clear error before any training,
and no MLflow run is left RUNNING.

Node level: each bad data input and data parameter through the shared data nodes that every
pipeline starts with. Pipeline level: every registered pipeline through a KedroSession with a bad
data parameter and with bad method parameters."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines.data import ConfigError, DataError
from ssl_pipelines.pipelines.common_nodes import load_dataset, split_labeled_unlabeled


def _npz(tmp_path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 4, 4, 1), np.float32), "y_train": np.arange(40) % 4,
              "x_test": rng.random((8, 4, 4, 1), np.float32), "y_test": np.arange(8) % 4}
    arrays.update(overrides)
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return str(path)


def _bad_nan(tmp_path):
    x = np.random.default_rng(0).random((40, 4, 4, 1), np.float32)
    x[7, 0, 0, 0] = np.nan
    return {"name": "npz", "path": _npz(tmp_path, x_train=x), "labels_per_class": 2}


BAD_DATA = {
    "unknown dataset name": (lambda p: {"name": "imagenet_typo", "labels_per_class": 1}, DataError,
                             "unknown data set 'imagenet_typo'"),
    "labels outside [0, C)": (lambda p: {"name": "npz", "path": _npz(p, y_test=np.array([0, 1, 2, 3, 0, 1, 2, 9])),
                                         "num_classes": 4, "labels_per_class": 2}, DataError, r"label\(s\) outside \[0, 4\)"),
    "negative labels": (lambda p: {"name": "npz", "path": _npz(p, y_train=np.r_[np.arange(39) % 4, -1]),
                                   "labels_per_class": 2}, DataError, "outside"),
    "NaN pixels": (_bad_nan, DataError, "NaN/inf pixels, first at index 7"),
    "x/y length mismatch": (lambda p: {"name": "npz", "path": _npz(p, y_train=np.arange(39) % 4),
                                       "labels_per_class": 2}, DataError, "40 examples but y has 39 labels"),
    "more labels per class than a class has": (lambda p: {"name": "digits", "labels_per_class": 1000}, DataError,
                                               "has only"),
    "zero labeled samples": (lambda p: {"name": "digits", "labels_per_class": 0}, DataError,
                             "labels_per_class must be a positive integer, got 0"),
    "negative label count": (lambda p: {"name": "digits", "labels_per_class": -5}, DataError,
                             "got -5"),
    "empty data": (lambda p: {"name": "npz", "path": _npz(p, x_train=np.zeros((0, 4, 4, 1), np.float32),
                                                          y_train=np.zeros(0, np.int64)),
                              "labels_per_class": 1}, DataError, "no examples"),
    "missing file": (lambda p: {"name": "npz", "path": str(p / "nope.npz"), "labels_per_class": 1}, DataError,
                     "does not exist"),
    "unknown parameter key": (lambda p: {"name": "digits", "labels_per_clas": 10}, ConfigError,
                              r"unknown data parameter\(s\) \['labels_per_clas'\]"),
    "bad normalization": (lambda p: {"name": "digits", "labels_per_class": 1, "normalization": "zscore"}, DataError,
                          "normalization must be one of"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_shared_data_nodes_reject_bad_input(case, tmp_path):
    make_params, error, message = BAD_DATA[case]
    params = make_params(tmp_path)
    with pytest.raises(error, match=message):
        ds = load_dataset(params, 0)
        split_labeled_unlabeled(ds, params, 0)


def test_bad_seed_is_rejected():
    with pytest.raises(ConfigError, match="seed must be a non-negative integer, got -1"):
        load_dataset({"name": "digits", "labels_per_class": 1}, -1)


def _pipelines():
    from kedro.framework.project import configure_project

    configure_project("ssl_pipelines")
    from ssl_pipelines.pipeline_registry import all_pipeline_names

    return all_pipeline_names()


# Method parameters that depend on the data, rejected before training (the value checks of every
# section are in tests/test_params.py, without a Kedro session): (parameter path, value, error text).
BAD_METHOD_PARAMS: dict[str, list[tuple[str, object, str]]] = {
    "supervised": [("train.batch_size", 1000, "train.batch_size=1000 is larger than the 100 labeled"),
                   ("model.backbone", "resnet9000", "unknown backbone 'resnet9000'")],
    "m2": [("train.batch_labeled", 500, "train.batch_labeled=500 is larger than the 100 labeled")],
    "inversion": [("model.alpha", 1.5, "must be a number in [0, 1], got 1.5")],
    "hybridnet": [("train.batch_labeled", 500, "train.batch_labeled=500 is larger than the 100 labeled")],
    "mean_teacher": [("loss.ema_decay", 1.5, "loss.ema_decay must be a number in [0, 1), got 1.5")],
}


def _nested(path: str, value) -> dict:
    out: dict = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def _assert_failed_before_training(project, uri, name):
    runs = mlflow_runs(uri)
    assert "RUNNING" not in set(runs["status"]), runs[["status"]]
    assert list(runs["status"])[:1] == ["FAILED"]
    metric_columns = [c for c in runs.columns if c.startswith("metrics.")]
    assert not metric_columns or runs.iloc[0][metric_columns].isna().all(), "training logged metrics"
    assert not list((project / "data/06_models").rglob("*.keras")), "a model was written"


@pytest.mark.parametrize("name", _pipelines())
def test_every_pipeline_rejects_bad_data_before_training(name, kedro_project):
    with pytest.raises(Exception) as err:
        kedro_project(name, params={name: {"data": {"labels_per_class": -1}}})
    text = f"{err.value} {err.value.__cause__}"
    assert "labels_per_class must be a positive integer, got -1" in text
    _assert_failed_before_training(kedro_project.project, kedro_project.uri, name)


@pytest.mark.parametrize("name, path, value, message", [
    (name, path, value, message) for name, cases in BAD_METHOD_PARAMS.items() for path, value, message in cases])
def test_bad_method_parameters_fail_before_training(name, path, value, message, kedro_project, tmp_path):
    with pytest.raises(Exception) as err:
        kedro_project(name, params={name: _nested(path, value)})
    text = f"{err.value} {err.value.__cause__}"
    assert message in text, text[-2000:]
    _assert_failed_before_training(kedro_project.project, kedro_project.uri, name)
