"""The inversion pipeline: node unit tests (with failure cases) and one KedroSession run on digits
checking the outcome and what MLflow recorded."""

import json

import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines import data
from ssl_pipelines.data import ConfigError
from ssl_pipelines.methods import InversionSSL
from ssl_pipelines.pipelines.inversion.nodes import build_inversion_model, plot_reconstructions, train_inversion

FAST = {"inversion": {"train": {"epochs": 6, "steps_per_epoch": 15, "verbose": 0}, "plot": {"num_eval": 100}}}
MODEL = {"backbone": "inv_small_cnn", "backbone_kwargs": {"filters": [4]}, "alpha": 0.6, "beta": 0.5}


@pytest.fixture(scope="module")
def split():
    ds, _ = data.preprocess_dataset(data.load_dataset("digits"), normalization="standardize")
    return data.split_labeled_unlabeled(ds, labels_per_class=2, seed=0)


@pytest.mark.heavy(8)
def test_inversion_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("inversion", params=FAST)
    out = project / "data/08_reporting/inversion"
    report = json.loads((out / "evaluation_report.json").read_text())
    assert report["n"] == 450
    assert report["accuracy"] > 0.6, report["accuracy"]  # chance is 0.1
    for png in ("reconstruction.png", "confusion_matrix.png", "learning_curves.png"):
        assert (out / png).stat().st_size > 1000, png
    history = json.loads((project / "data/07_model_output/inversion/training_history.json").read_text())
    assert len(history["reconstruction"]) == 6 and history["cross_entropy"][-1] < history["cross_entropy"][0]

    runs = mlflow_runs(uri)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == "inversion"
    assert run["params.inversion.model.alpha"] == "0.6" and run["params.inversion.model.cotangent"] == "softmax"
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    for metric in ("inversion.loss", "inversion.cross_entropy", "inversion.reconstruction", "inversion.entropy",
                   "inversion.val_accuracy", "reconstruction.test_mse", "reconstruction.test_cosine"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    # the softmax templates point towards the input: clearly better than x_hat = 0 (cosine error 1)
    assert run["metrics.reconstruction.test_cosine"] < 0.9
    import mlflow

    client = mlflow.MlflowClient(uri)
    artifacts = {a.path for d in ("models", "figures") for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/trained_model.keras", "figures/reconstruction.png"} <= artifacts


def test_train_node_rejects_bad_parameters_before_training(split):
    train = {"epochs": 1, "steps_per_epoch": 1, "verbose": 0}
    with pytest.raises(ConfigError, match=r"unknown model parameter\(s\) \['alhpa'\]"):
        train_inversion(split, {**MODEL, "alhpa": 0.5}, train, 0)
    with pytest.raises(ConfigError, match=r"beta must be a number in \[0, 1\], got 2"):
        train_inversion(split, {**MODEL, "beta": 2}, train, 0)
    with pytest.raises(ConfigError, match="cotangent must be one of"):
        train_inversion(split, {**MODEL, "cotangent": "softmin"}, train, 0)
    with pytest.raises(ConfigError, match="unknown backbone 'inv_resnet9'"):
        train_inversion(split, {**MODEL, "backbone": "inv_resnet9"}, train, 0)
    with pytest.raises(ConfigError, match="train.epochs must be a positive integer"):
        train_inversion(split, MODEL, {**train, "epochs": 0}, 0)


def test_train_and_plot_nodes(split):
    model, history = train_inversion(split, {**MODEL, "cotangent": "ones", "unsupervised_on": "all"},
                                     {"epochs": 2, "steps_per_epoch": 3, "batch_labeled": 16, "verbose": 0}, 1)
    assert isinstance(model, InversionSSL) and model.cotangent == "ones" and model.unsupervised_on == "all"
    assert len(history["loss"]) == 2 and "val_accuracy" not in history  # no validation split here
    fig, metrics = plot_reconstructions(model, split, {"num_examples": 4, "num_eval": 30, "batch_size": 16})
    assert len(fig.axes) == 8 and set(metrics) == {"test_mse", "test_cosine"}
    x = split.x_test[:30]
    expected = np.mean((model.reconstruct(x).numpy() - x) ** 2)
    assert metrics["test_mse"]["value"] == pytest.approx(float(expected), rel=1e-4)
    with pytest.raises(ConfigError, match=r"unknown plot parameter\(s\) \['rows'\]"):
        plot_reconstructions(model, split, {"rows": 2})


def test_build_inversion_model_passes_every_method_argument(split):
    params = {**MODEL, "cotangent": "logits", "stop_gradient_cotangent": False, "reconstruction_distance": "cosine",
              "reconstruction_layers": ["conv_0"], "reconstruction_layer_weights": [0.1], "alpha_start": 1.0,
              "beta_start": 0.2, "schedule_steps": 7, "unsupervised_on": "labeled"}
    model = build_inversion_model(split, params)
    config = model.get_config()
    for key, value in params.items():
        if key not in ("backbone", "backbone_kwargs"):
            assert config[key] == value, key


def test_paper_env_merges_over_base_and_builds_the_paper_model():
    from conftest import load_parameters
    from ssl_pipelines.data import SSLSplit

    params = load_parameters("paper")["inversion"]
    assert params["data"]["name"] == "idx" and params["data"]["labels_per_class"] == 5
    assert params["data"]["normalization"] == "standardize"
    assert params["model"]["backbone"] == "inv_resnet2_32" and params["model"]["backbone_kwargs"] == {"filters": None, "pooling": "max"}  # null: dropped when built
    assert (params["model"]["alpha"], params["model"]["beta"]) == (0.3, 0.5)
    assert params["train"]["optimizer"]["learning_rate"] == pytest.approx(0.01 / 3, rel=1e-4)
    assert params["evaluation"]["batch_size"] == 256  # kept from base
    empty = np.zeros((0, 28, 28, 1), np.float32)
    fake = SSLSplit(np.zeros((10, 28, 28, 1), np.float32), np.arange(10), empty, np.zeros(0, np.int64), empty,
                    np.zeros(0, np.int64), empty, np.zeros(0, np.int64), 10, {})
    model = build_inversion_model(fake, params["model"])
    assert model.backbone.name == "inv_resnet2_32" and model.alpha == 0.3
