"""SWWAEModel: the six paper variants train and round-trip; loss terms match hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from harness import check_method_model
from ssl_pipelines.losses import cross_entropy_from_logits
from ssl_pipelines.methods import SWWAEModel
from ssl_pipelines.models import build_backbone, build_vgg16_decoders

SHAPE = (16, 16, 1)
WEIGHTS = {"image": 1.0, "pool1": 0.5, "pool2": 0.25}


def _model(unpooling="swwae", variant="all", **kw):
    net = build_backbone("vgg16", SHAPE, 4, width=0.0625, blocks=3, fc_units=8, dropout=0.0)
    decs = build_vgg16_decoders(net, unpooling, init_stddev=0.1)
    return SWWAEModel(net, decs, variant=variant, loss_weights=WEIGHTS, **kw)


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE)).astype("float32"), rng.integers(0, 4, n).astype("int32")


@pytest.mark.heavy(10)
@pytest.mark.parametrize("unpooling", ["sae", "swwae"])
@pytest.mark.parametrize("variant", ["first", "all", "layerwise"])
def test_six_variants_train_one_step_and_round_trip(unpooling, variant, tmp_path):
    x, y = _data()
    batch = {"x_labeled": x[:3], "y_labeled": y[:3], "x_unlabeled": x[3:]}
    stream = tf.data.Dataset.from_tensors(batch).repeat()
    model = _model(unpooling, variant)
    expected = ("cross_entropy", "reconstruction", "recon_image") + (() if variant == "first" else ("recon_pool2",))
    loaded = check_method_model(model, stream, x, tmp_path, expected_metrics=expected)
    assert type(loaded) is SWWAEModel and loaded.variant == variant
    assert loaded.uses_switches == (unpooling == "swwae")
    # the reloaded decoders reconstruct identically too
    np.testing.assert_allclose(loaded.reconstruct_image_from_level(x, 3).numpy(),
                               model.reconstruct_image_from_level(x, 3).numpy(), atol=1e-5)


def _sq_mean(a, b):
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


@pytest.mark.parametrize("variant", ["first", "all", "layerwise"])
def test_loss_terms_equal_hand_computation(variant):
    model = _model("swwae", variant)
    x, y = _data()
    terms = model.compute_losses({"x_labeled": x[:3], "y_labeled": y[:3], "x_unlabeled": x[3:]}, training=False)
    logits, pools, switches, pres = model.encode(x)
    # decoder outputs computed by hand from the individual decoders
    if variant == "layerwise":
        rec = [model.decoders[l]([pools[l], switches[l], pres[l]]) for l in range(3)]
    else:
        h3 = model.decoders[2]([pools[2], switches[2], pres[2]])
        h2 = model.decoders[1]([h3, switches[1], pres[1]])
        h1 = model.decoders[0]([h2, switches[0], pres[0]])
        rec = [h1, h2, h3]
    expected = {"recon_image": _sq_mean(rec[0], x)}  # all 6 images: labeled + unlabeled
    if variant != "first":
        expected["recon_pool1"] = _sq_mean(rec[1], np.asarray(pools[0]))
        expected["recon_pool2"] = _sq_mean(rec[2], np.asarray(pools[1]))
    assert set(k for k in terms if k.startswith("recon_")) == set(expected)
    for k, v in expected.items():
        assert float(terms[k]) == pytest.approx(v, rel=1e-4), k
    ce = float(np.mean(cross_entropy_from_logits(y[:3], np.asarray(logits)[:3])))
    w = {"recon_image": 1.0, "recon_pool1": 0.5, "recon_pool2": 0.25}
    recon = sum(w[k] * v for k, v in expected.items())
    assert float(terms["reconstruction"]) == pytest.approx(recon, rel=1e-4)
    assert float(terms["loss"]) == pytest.approx(ce + recon, rel=1e-4)


def test_chained_and_layerwise_differ_only_below_the_top():
    model = _model("swwae", "all")
    x, _ = _data()
    _, pools, sw, pres = model.encode(x)
    chained = model.reconstruct(pools, sw, pres, variant="all")
    layerwise = model.reconstruct(pools, sw, pres, variant="layerwise")
    np.testing.assert_allclose(chained[2].numpy(), layerwise[2].numpy())  # both decode the encoder's pool3
    assert not np.allclose(chained[0].numpy(), layerwise[0].numpy())


def test_unlabeled_part_enters_reconstruction_only_when_enabled():
    x, y = _data()
    batch = {"x_labeled": x[:3], "y_labeled": y[:3], "x_unlabeled": x[3:]}
    on = _model(reconstruct_unlabeled=True)
    off = SWWAEModel(on.backbone, on.decoders, variant="all", loss_weights=WEIGHTS, reconstruct_unlabeled=False)
    t_on, t_off = on.compute_losses(batch, False), off.compute_losses(batch, False)
    assert float(t_on["cross_entropy"]) == pytest.approx(float(t_off["cross_entropy"]))
    labeled_only = off.compute_losses({"x_labeled": x[:3], "y_labeled": y[:3]}, False)
    assert float(t_off["recon_image"]) == pytest.approx(float(labeled_only["recon_image"]))
    assert float(t_on["recon_image"]) != pytest.approx(float(t_off["recon_image"]))


def test_bad_arguments_raise():
    net = build_backbone("vgg16", SHAPE, 4, width=0.0625, blocks=3, fc_units=8)
    decs = build_vgg16_decoders(net, "sae")
    with pytest.raises(ValueError, match="variant"):
        SWWAEModel(net, decs, variant="middle")
    with pytest.raises(ValueError, match="loss_weights"):
        SWWAEModel(net, decs, loss_weights={"pool3": 1.0})  # pool3 is the decoder input, not a target
    with pytest.raises(ValueError, match="one decoder per"):
        SWWAEModel(net, decs[:2])


def test_decoder_pretraining_loss_is_a_parameter():
    """Steps 2-3: every reconstruction weight equal, no classification; bad values are ConfigErrors."""
    from ssl_pipelines.data.errors import ConfigError
    from ssl_pipelines.methods.swwae import decoder_pretraining_kwargs

    kw = decoder_pretraining_kwargs(3, {"reduction": "sum", "weight": 2.0})
    assert kw == {"loss_weights": {"image": 2.0, "pool1": 2.0, "pool2": 2.0}, "classification_weight": 0.0,
                  "reduction": "sum"}
    assert decoder_pretraining_kwargs(2)["reduction"] == "mean"  # the digits default (unchanged)
    for bad, match in (({"reduction": "max"}, "reduction must be one of"), ({"weight": -1}, "weight must be"),
                       ({"weigth": 1}, "unknown decoder pre-training loss key")):
        with pytest.raises(ConfigError, match=match):
            decoder_pretraining_kwargs(3, bad)


def test_stage_restored_as_completed_leaves_the_model_built(tmp_path):
    """swwae_vgg killed during evaluation, rerun: fine-tuning is restored from its
    completed checkpoint without a training step, and the node's ``count_params_by_part`` raised
    "the layer isn't built" (the model's parts were built, the model itself not)."""
    import keras

    from ssl_pipelines import training

    x, y = _data()
    stream = tf.data.Dataset.from_tensors({"x_labeled": x[:3], "y_labeled": y[:3], "x_unlabeled": x[3:]}).repeat()
    for run in ("trains", "restores"):
        training.set_global_seed(0)
        model = _model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = training.fit_model(model, stream, epochs=1, steps_per_epoch=1, verbose=0, checkpoint_dir=tmp_path)
    assert len(history["loss"]) == 1 and model.optimizer.iterations.numpy() == 1  # restored, not retrained
    assert model.count_params_by_part()["total"] == sum(int(np.prod(v.shape)) for v in model.weights)


def test_parameter_counts_of_a_model_never_called():
    """A fit without validation never calls the model itself (only its parts): the counts still work."""
    model = _model()
    counts = model.count_params_by_part()
    assert counts["total"] == counts["backbone"] + counts["decoders"] > 0
