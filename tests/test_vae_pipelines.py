"""The m1, m2 and m1_m2 pipelines end to end on digits through a KedroSession (tiny epochs), with
MLflow contents, plus node-level parameter validation (ConfigError before training)."""

import json

import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines import data
from ssl_pipelines.data import ConfigError


def _check_run(project, uri, name, curves, min_accuracy):
    report = json.loads((project / f"data/08_reporting/{name}/evaluation_report.json").read_text())
    assert report["n"] == 450
    assert report["accuracy"] > min_accuracy, report["accuracy"]  # chance is 0.1
    runs = mlflow_runs(uri)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED" and run["tags.method"] == name
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    import mlflow

    client = mlflow.MlflowClient(uri)
    for curve in curves:
        hist = client.get_metric_history(run["run_id"], curve)
        assert len(hist) >= 2 and all(np.isfinite(m.value) for m in hist), curve
    artifacts = {a.path for d in ("models", "figures", "histories") for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/trained_model.keras", "figures/samples.png", "figures/reconstructions.png",
            "figures/learning_curves.png", "histories/training_history.json"} <= artifacts, artifacts
    for png in ("samples.png", "reconstructions.png"):
        assert (project / f"data/08_reporting/{name}/{png}").stat().st_size > 2000
    return report, client, run


@pytest.mark.heavy(13)
def test_m2_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("m2", params={"m2": {"train": {"epochs": 12, "verbose": 0}}})
    _, client, run = _check_run(project, uri, "m2", [f"m2.{t}" for t in (
        "loss", "labeled_bound", "unlabeled_bound", "classification", "entropy", "kl_z", "accuracy", "val_accuracy")],
        min_accuracy=0.5)
    # the unlabeled bound decreases over training
    u = [m.value for m in client.get_metric_history(run["run_id"], "m2.unlabeled_bound")]
    assert u[-1] < u[0]
    history = json.loads((project / "data/07_model_output/m2/training_history.json").read_text())
    assert len(history["images_per_second"]) == 12 and min(history["images_per_second"]) > 0


@pytest.mark.heavy(17)
def test_m1_pipeline_end_to_end(kedro_project):
    # no KL warm-up (the digits default, 4000 steps, is longer than this whole run): the loss is the
    # ELBO from the first step
    params = {"m1": {"model": {"kl_warmup_steps": 0}, "pretrain": {"epochs": 10, "verbose": 0},
                     "train": {"epochs": 30}}}
    project, uri = kedro_project("m1", params=params)
    _, client, run = _check_run(project, uri, "m1", ["m1_pretrain.loss", "m1_pretrain.kl_z",
                                                     "m1_classifier.accuracy"], min_accuracy=0.4)
    elbo = [m.value for m in client.get_metric_history(run["run_id"], "m1_pretrain.loss")]
    assert elbo[-1] < elbo[0] - 5.0


@pytest.mark.heavy(17)
def test_m1_m2_pipeline_end_to_end(kedro_project):
    # a short KL warm-up (M1's latent collapses without one, and 4000 steps outlast this run)
    params = {"m1_m2": {"m1": {"kl_warmup_steps": 100}, "pretrain": {"epochs": 10, "verbose": 0},
                        "train": {"epochs": 6, "verbose": 0}}}
    project, uri = kedro_project("m1_m2", params=params)
    _check_run(project, uri, "m1_m2", ["m1_pretrain.loss", "m1_m2.unlabeled_bound", "m1_m2.classification",
                                       "m1_m2.val_accuracy"], min_accuracy=0.3)
    history = json.loads((project / "data/07_model_output/m1_m2/training_history.json").read_text())
    assert 0 < history["stages"]["m1_m2"]["active_units"][0] <= 50


@pytest.fixture(scope="module")
def split():
    return data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=5, seed=0)


@pytest.mark.parametrize("model_params, match", [
    ({"likelihood": "poisson"}, r"model.likelihood must be one of \['bernoulli', 'gaussian'\], got 'poisson'"),
    ({"latent_dim": 0}, r"model.latent_dim must be a positive integer, got 0"),
    ({"hidden_units": [500, "x"]}, r"model.hidden_units must be a list of positive integers"),
    ({"alpha": -0.1}, r"model.alpha must be a non-negative number, got -0.1"),
    ({"binarize": "yes"}, r"model.binarize must be true or false, got 'yes'"),
    ({"latnet_dim": 50}, r"unknown model parameter\(s\) \['latnet_dim'\]"),
])
def test_train_m2_rejects_bad_parameters_before_training(split, model_params, match):
    from ssl_pipelines.pipelines.m2.nodes import train_m2

    with pytest.raises(ConfigError, match=match):
        train_m2(split, model_params, {"epochs": 1}, 0)


def test_bernoulli_likelihood_rejects_data_outside_unit_interval(split):
    import dataclasses

    from ssl_pipelines.params.vae import parse_m1
    from ssl_pipelines.pipelines.common_generative import build_m1

    centered = dataclasses.replace(split, x_labeled=split.x_labeled - 0.5, x_unlabeled=split.x_unlabeled - 0.5)
    with pytest.raises(ConfigError, match=r"likelihood 'bernoulli' needs inputs in \[0, 1\]"):
        build_m1(centered, parse_m1({}), 0)
    build_m1(centered, parse_m1({"likelihood": "gaussian"}), 0)  # fine with a Gaussian likelihood


def test_m1_m2_threshold_validation(split):
    from ssl_pipelines.params.vae import parse_m1
    from ssl_pipelines.pipelines.common_generative import build_m1
    from ssl_pipelines.pipelines.m1_m2.nodes import select_active_units

    m1 = build_m1(split, parse_m1({"latent_dim": 4, "hidden_units": [8]}), 0)
    with pytest.raises(ConfigError, match="stack.active_threshold must be a non-negative number"):
        select_active_units(m1, split, {"active_threshold": "high"}, 0)
    with pytest.raises(ConfigError, match="no M1 latent unit has a posterior-mean std above"):
        select_active_units(m1, split, {"active_threshold": 1e6}, 0)


def test_m1_classifier_trains_on_the_spread_labels_of_the_unlabeled_latents(split, monkeypatch):
    """``transduction.neighbors > 0``: label spreading gets every unlabeled latent, and the classifier's
    training set is labeled + unlabeled (its one epoch has that many batches); 0: labeled only."""
    from ssl_pipelines.params.vae import parse_m1
    from ssl_pipelines.pipelines.common_generative import build_m1
    from ssl_pipelines.pipelines.m1 import nodes

    calls = []
    real = nodes.label_spreading
    monkeypatch.setattr(nodes, "label_spreading", lambda *a, **k: calls.append(a) or real(*a, **k))
    steps = []
    monkeypatch.setattr(nodes, "train_stage", lambda clf, features, train, **k: steps.append(len(features.y_labeled)) or {})
    m1 = build_m1(split, parse_m1({"latent_dim": 4, "hidden_units": [8]}), 0)
    train = {"epochs": 1, "batch_size": 32, "verbose": 0}
    nodes.train_m1_classifier(m1, split, train, 0, {}, {"neighbors": 3, "alpha": 0.9})
    n_l, n_u = len(split.y_labeled), len(split.y_unlabeled)
    assert len(calls) == 1 and calls[0][2].shape == (n_u, 4) and calls[0][0].shape == (n_l, 4)
    assert steps == [n_l + n_u]
    nodes.train_m1_classifier(m1, split, train, 0, {}, {"neighbors": 0})
    assert len(calls) == 1 and steps[-1] == n_l


def test_paper_env_holds_the_paper_protocol():
    from conftest import load_parameters

    params = load_parameters("paper")
    for name in ("m1", "m2", "m1_m2"):
        p = params[name]
        assert p["data"]["name"] == "idx" and p["data"]["labels_per_class"] == 10
        assert {"seed", "data", "train", "evaluation", "plots"} <= set(p), name  # complete sections
    assert params["m2"]["model"]["kernel_init_std"] == 0.001 and params["m2"]["model"]["alpha"] == 0.1
    assert params["m2"]["train"]["epochs"] == 3000 and params["m2"]["train"]["batch_unlabeled"] == 499
    assert params["m2"]["train"]["optimizer"]["learning_rate"] == 0.0003
    assert params["m1_m2"]["m2"]["hidden_units"] == [300] and params["m1_m2"]["m2"]["likelihood"] == "gaussian"
