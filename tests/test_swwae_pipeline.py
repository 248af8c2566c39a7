"""swwae_vgg nodes (frozen stages, parameter errors) and the staged pipeline end to end."""

import json

import numpy as np
import pytest

from conftest import mlflow_runs
from ssl_pipelines.data import ConfigError
from ssl_pipelines.pipelines.common_nodes import load_dataset, split_labeled_unlabeled
from ssl_pipelines.pipelines.swwae_vgg.nodes import (
    finetune_swwae,
    pretrain_classifier,
    train_chained_decoder,
    train_layerwise_decoders,
)

# 8x8 digits without resizing: 3 pooling levels (8 -> 4 -> 2 -> 1)
DATA = {"name": "digits", "labels_per_class": 10, "validation_per_class": 2, "max_unlabeled": 64}
MODEL = {"unpooling": "swwae", "variant": "all",
         "backbone_kwargs": {"width": 0.125, "blocks": 3, "fc_units": 32, "dropout": 0.0}}
STAGE = {"epochs": 1, "steps_per_epoch": 3, "batch_labeled": 8, "batch_unlabeled": 8, "verbose": 0,
         "optimizer": {"name": "adam", "learning_rate": 0.01}}
PRETRAIN = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 16, "verbose": 0}


@pytest.fixture(scope="module")
def split():
    ds = load_dataset(DATA, 0)
    return split_labeled_unlabeled(ds, DATA, 0)[0]


def _snapshot(model):
    return [np.array(w) for w in model.weights]


@pytest.mark.heavy(12)
def test_frozen_stages_leave_the_encoder_unchanged_and_train_the_decoders(split):
    backbone, _, metrics = pretrain_classifier(split, MODEL, PRETRAIN, 0)
    backbone.get_layer("fc1").trainable = False  # a layer frozen on purpose stays frozen after the stages
    flags = [layer.trainable for layer in backbone.layers]
    assert {"train_error", "validation_error", "test_error", "generalization_gap"} <= set(metrics)
    before = _snapshot(backbone)
    decoders, h2 = train_layerwise_decoders(backbone, split, MODEL, STAGE, 0)
    dec_before = [_snapshot(d) for d in decoders]
    decoders, h3 = train_chained_decoder(backbone, decoders, split, MODEL, STAGE, 0)
    for a, w in zip(before, backbone.weights):
        np.testing.assert_array_equal(a, np.asarray(w))
    assert [layer.trainable for layer in backbone.layers] == flags
    assert h2["frozen_encoder_max_abs_change"] == [0.0] and h3["frozen_encoder_max_abs_change"] == [0.0]
    assert "recon_pool2" in h2 and "recon_pool2" in h3
    # step 3 trained the decoders it got from step 2
    assert any(not np.allclose(a, np.asarray(w)) for d, snap in zip(decoders, dec_before)
               for a, w in zip(snap, d.weights))
    # step 4 trains the encoder again
    ft = {**STAGE, "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1}}}
    model, history, ft_metrics = finetune_swwae(backbone, decoders, split, MODEL, ft, 0, {}, h2, h3)
    assert any(not np.allclose(a, np.asarray(w)) for a, w in zip(before, backbone.weights))
    assert set(history["stages"]) == {"pretrain", "decoder_layerwise", "decoder_chained", "finetune"}
    assert model.trainable and backbone.trainable
    assert 0.0 <= ft_metrics["test_error"]["value"] <= 100.0


def test_layerwise_variant_skips_step_3(split):
    backbone, _, _ = pretrain_classifier(split, MODEL, PRETRAIN, 0)
    model = {**MODEL, "variant": "layerwise"}
    decoders, _ = train_layerwise_decoders(backbone, split, model, STAGE, 0)
    snap = [_snapshot(d) for d in decoders]
    out, history = train_chained_decoder(backbone, decoders, split, model, STAGE, 0)
    assert out is decoders and history == {"skipped": [1.0]}
    for d, s in zip(decoders, snap):
        for a, w in zip(s, d.weights):
            np.testing.assert_array_equal(a, np.asarray(w))


@pytest.mark.heavy(8)
def test_unpooling_none_is_the_vggnet_baseline(split):
    """``model.unpooling: none`` (the paper's VGGNet row, the benchmark's baseline arm): no decoders,
    Steps 2-3 skipped, Step 4 trains the Step-1 classifier with cross-entropy only (the reconstruction
    weights of ``finetune.loss`` are ignored); the reconstruction figure shows the inputs only."""
    from ssl_pipelines.methods import SupervisedClassifier
    from ssl_pipelines.pipelines.swwae_vgg.nodes import plot_reconstructions

    model = {**MODEL, "unpooling": "none"}
    backbone, _, _ = pretrain_classifier(split, model, PRETRAIN, 0)
    before = _snapshot(backbone)
    decoders, h2 = train_layerwise_decoders(backbone, split, model, STAGE, 0)
    assert decoders == [] and h2 == {"skipped": [1.0]}
    decoders, h3 = train_chained_decoder(backbone, decoders, split, model, STAGE, 0)
    assert decoders == [] and h3 == {"skipped": [1.0]}
    ft = {**STAGE, "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1}}}
    trained, history, metrics = finetune_swwae(backbone, decoders, split, model, ft, 0, {}, h2, h3)
    assert isinstance(trained, SupervisedClassifier) and trained.backbone is backbone
    assert any(not np.allclose(a, np.asarray(w)) for a, w in zip(before, backbone.weights))
    finetune = history["stages"]["finetune"]
    assert len(finetune["loss"]) == STAGE["epochs"] and not any(k.startswith("recon") for k in finetune)
    assert 0.0 <= metrics["test_error"]["value"] <= 100.0
    figure = plot_reconstructions(trained, split, {"num_images": 4})
    assert len(figure.axes) == 4  # one row: the inputs


@pytest.mark.parametrize("model, pretrain, match", [
    ({**MODEL, "unpooling": "bilinear"}, PRETRAIN, "model.unpooling"),
    ({**MODEL, "variant": "middle"}, PRETRAIN, "model.variant"),
    ({**MODEL, "decoder": 1}, PRETRAIN, "unknown model parameter"),
    (MODEL, {**PRETRAIN, "init": "random"}, "pretrain.init"),
    (MODEL, {**PRETRAIN, "init": "imagenet"}, "weights_path"),
    (MODEL, {**PRETRAIN, "init": "imagenet", "weights_path": "/nonexistent/vgg16.h5"}, "cannot load VGG16"),
])
def test_bad_parameters_raise_before_training(split, model, pretrain, match):
    with pytest.raises(ConfigError, match=match):
        pretrain_classifier(split, model, pretrain, 0)


@pytest.mark.parametrize("dense, match", [
    ({"enabled": True, "scales": [4]}, "scale 4 must be an integer >= 8"),  # 8x8 digits
    ({"enabled": "yes"}, "enabled must be true or false"),
    ({"enabled": True, "average": "max"}, "average must be one of"),
    ({"enabled": False, "scale": [16]}, "unknown dense_evaluation parameter"),
])
def test_bad_dense_evaluation_parameters_raise_before_training(split, dense, match):
    with pytest.raises(ConfigError, match=match):
        pretrain_classifier(split, MODEL, PRETRAIN, 0, dense)


@pytest.mark.parametrize("loss, match", [
    ({"reduction": "max"}, "reduction"),
    ({"weights": {"pool3": 1.0}}, "pool3"),  # pool3 is the top of a 3-block encoder, not a target
    ({"weights": {"pool5": 0.0}}, r"unknown finetune.loss.weights parameter\(s\) \['pool5'\]"),
    ({"weights": {"image": -1}}, "non-negative"),
    ({"typo": 1}, "unknown finetune.loss"),
])
def test_bad_loss_parameters_raise(split, loss, match):
    from ssl_pipelines.params.swwae import parse_loss

    with pytest.raises(ConfigError, match=match):
        parse_loss(loss, levels=3)


FAST = {"swwae_vgg": {
    "data": {"resize": None, "labels_per_class": 20, "validation_per_class": 5},
    "model": {"backbone_kwargs": {"blocks": 3, "width": 0.25, "fc_units": 64, "dropout": 0.0}},
    "pretrain": {"epochs": 8, "verbose": 0},
    "decoder_layerwise": {"epochs": 1, "steps_per_epoch": 3, "verbose": 0},
    "decoder_chained": {"epochs": 1, "steps_per_epoch": 3, "verbose": 0},
    "finetune": {"epochs": 2, "steps_per_epoch": 5, "verbose": 0,
                 "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.0, "pool4": 0.0}}},
}}


@pytest.mark.heavy(25)
def test_swwae_vgg_pipeline_end_to_end(kedro_project):
    project, uri = kedro_project("swwae_vgg", params=FAST)
    out = project / "data"
    report = json.loads((out / "08_reporting/swwae_vgg/evaluation_report.json").read_text())
    assert report["n"] == 450 and report["accuracy"] > 0.3, report["accuracy"]  # chance is 0.1
    layerwise = json.loads((out / "07_model_output/swwae_vgg/layerwise_history.json").read_text())
    chained = json.loads((out / "07_model_output/swwae_vgg/chained_history.json").read_text())
    assert layerwise["frozen_encoder_max_abs_change"] == [0.0] and chained["frozen_encoder_max_abs_change"] == [0.0]
    assert (out / "08_reporting/swwae_vgg/reconstruction.png").stat().st_size > 1000

    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED"
    assert abs(run["metrics.test.accuracy"] - report["accuracy"]) < 1e-9
    for metric in ("test.top5_error", "finetune.train_error", "finetune.validation_error",
                   "finetune.generalization_gap", "pretrain.test_error", "finetune.recon_image",
                   "finetune.recon_pool2", "decoder_layerwise.recon_pool1"):
        assert f"metrics.{metric}" in run.index and np.isfinite(run[f"metrics.{metric}"]), metric
    import mlflow

    client = mlflow.MlflowClient(uri)
    artifacts = {a.path for d in ("models", "figures", "histories") for a in client.list_artifacts(run["run_id"], d)}
    assert {"models/trained_model.keras", "figures/reconstruction.png", "figures/learning_curves.png",
            "histories/training_history.json"} <= artifacts

    import keras

    model = keras.models.load_model(out / "06_models/swwae_vgg/trained_model.keras")
    assert type(model).__name__ == "SWWAEModel" and model.variant == "all" and model.uses_switches


@pytest.mark.heavy(28)
def test_swwae_vgg_pipeline_streams_an_image_folder_and_evaluates_densely(kedro_project, tmp_path):
    """The paper env's data path and evaluation on a tiny generated folder: streamed random crops
    for training, centre crops for single-crop evaluation, the fully-convolutional evaluation."""
    from test_data_image_files import write_image_folder

    folder = write_image_folder(tmp_path / "images")  # 6 classes x (5 train + 2 test) 16x16 PNGs
    stage = {"epochs": 1, "steps_per_epoch": 2, "batch_labeled": 6, "batch_unlabeled": 2, "verbose": 0}
    params = {"swwae_vgg": {
        "data": {"name": "image_folder", "path": str(folder), "streaming": True, "shorter_side": 18,
                 "resize": [16, 16], "channels": 3, "labels_per_class": 3, "validation_per_class": 1},
        "model": {"backbone_kwargs": {"blocks": 3, "width": 0.125, "fc_units": 16, "dropout": 0.0}},
        "pretrain": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 6, "verbose": 0},
        "decoder_layerwise": stage, "decoder_chained": stage,
        "finetune": {**stage, "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1, "pool3": 0.0,
                                                   "pool4": 0.0}}},
        "reconstruction_plot": {"num_images": 4},
        "dense_evaluation": {"enabled": True, "scales": [16, 24], "flip": True},
    }}
    project, uri = kedro_project("swwae_vgg", params=params)
    out = project / "data"
    summary = json.loads((out / "03_primary/swwae_vgg/split_summary.json").read_text())
    assert summary["streaming"] and summary["labeled_per_class"] == [3] * 6 and summary["unlabeled"] == 6
    report = json.loads((out / "08_reporting/swwae_vgg/evaluation_report.json").read_text())
    dense = json.loads((out / "08_reporting/swwae_vgg/dense_report.json").read_text())
    assert report["n"] == 12 and dense["test"]["n"] == 12 and dense["validation"]["n"] == 6
    assert dense["scales"] == [16, 24] and dense["flip"] is True
    assert len(dense["test"]["confusion_matrix"]) == 6

    run = mlflow_runs(uri).iloc[0]
    assert run["status"] == "FINISHED"
    for metric in ("test.error", "test.top5_error", "dense.test.error", "dense.test.top5_error",
                   "dense.validation.error", "finetune.recon_image", "finetune.train_error"):
        assert np.isfinite(run[f"metrics.{metric}"]), metric
    assert abs(run["metrics.dense.test.top5_error"] - dense["test"]["top5_error"]) < 1e-9


@pytest.mark.parametrize("env", ["base", "paper"])
def test_parameter_files_validate(env):
    """Both environments' merged parameters pass every node's checks (without training)."""
    from conftest import load_parameters
    from ssl_pipelines.methods.swwae import decoder_pretraining_kwargs
    from ssl_pipelines.models import build_backbone
    from ssl_pipelines.params import check_pipeline
    from ssl_pipelines.params.swwae import parse_dense, parse_loss, parse_model

    params = load_parameters(env)["swwae_vgg"]
    assert set(params) == {"seed", "data", "model", "pretrain", "decoder_layerwise", "decoder_chained", "finetune",
                           "reconstruction_plot", "evaluation", "dense_evaluation"}
    check_pipeline("swwae_vgg", params)  # every section, as the pipeline's first node does
    kwargs = dict(parse_model(params["model"]).backbone_kwargs)
    size = params["data"]["resize"]
    channels = 3 if env == "paper" else 1
    # build at the configured input size and options, narrowed (the full paper VGG16 has ~138M
    # parameters: too slow to initialise in a unit test)
    net = build_backbone("vgg16", (*size, channels), 10, **{**kwargs, "width": 1 / 16, "fc_units": 8})
    assert len(net.get_layer("block5_pool").output) == 2
    if env == "paper":
        assert kwargs == {"width": 1.0, "blocks": 5, "fc_units": 4096, "dropout": 0.5, "preprocessing": "caffe"}
        assert tuple(size) == (224, 224) and params["pretrain"]["init"] == "imagenet"
    loss = parse_loss(params["finetune"]["loss"], levels=kwargs["blocks"])
    if env == "paper":
        assert loss["reduction"] == "sum" and loss["loss_weights"]["image"] == 1e-4
        assert loss["loss_weights"]["pool4"] == 1e-10 and loss["loss_weights"]["pool1"] == 1e-12
    for stage in ("decoder_layerwise", "decoder_chained"):  # Steps 2-3: every weight 1 (paper: on Caffe's sum)
        pre = decoder_pretraining_kwargs(kwargs["blocks"], params[stage].get("loss"))
        assert pre["reduction"] == ("sum" if env == "paper" else "mean") and pre["classification_weight"] == 0
        assert pre["loss_weights"] == {"image": 1.0, **{f"pool{l}": 1.0 for l in range(1, kwargs["blocks"])}}
    dense = parse_dense(params["dense_evaluation"], (*size, channels))
    if env == "paper":  # the paper's data: streamed ImageNet folders, dense evaluation at Q = 256
        assert params["data"]["streaming"] and params["data"]["shorter_side"] == 256
        # METHODS.md §3.4: the full image, outputs averaged (no flip averaging)
        assert dense["enabled"] and dense["scales"] == [256] and not dense["flip"]
    else:  # the quick default is unchanged: in-memory digits, single crop only
        assert not params["data"].get("streaming") and not dense["enabled"]
