"""VGG16 backbone and mirrored decoders (METHODS.md §3.1)."""

import warnings

import numpy as np
import pytest
import keras

from ssl_pipelines.data import ConfigError
from ssl_pipelines.models import build_backbone, build_vgg16_decoders, vgg16_feature_model
from ssl_pipelines.models.vgg import VGG16_BLOCKS, vgg16_levels


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("unpooling", ["swwae", "sae"])
def test_decoder_shapes_mirror_encoder_at_every_level(size, unpooling):
    net = build_backbone("vgg16", (size, size, 3), 10, width=0.0625, fc_units=16)
    levels = vgg16_levels(net)
    assert len(levels) == 5
    feats = vgg16_feature_model(net)
    x = np.random.default_rng(0).random((2, size, size, 3)).astype("float32")
    outs = feats(x)
    logits, pools, switches, pres = outs[0], outs[1:6], outs[6:11], outs[11:]
    assert logits.shape == (2, 10)
    decoders = build_vgg16_decoders(net, unpooling)
    for l, dec in enumerate(decoders, start=1):
        assert pools[l - 1].shape == (2, size // 2 ** l, size // 2 ** l, levels[l - 1]["channels"])
        inputs = [pools[l - 1], switches[l - 1], pres[l - 1]] if unpooling == "swwae" else [pools[l - 1], pres[l - 1]]
        out = dec(inputs)
        target = x if l == 1 else pools[l - 2]
        assert out.shape == target.shape, (l, out.shape, target.shape)
        # the decoder mirrors the block: one transposed conv per encoder conv
        convs = [layer for layer in dec.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
        assert len(convs) == VGG16_BLOCKS[l - 1][1]
    # the image decoder is linear at the output, the others end with ReLU
    assert decoders[0].layers[-1].activation.__name__ == "linear"
    assert decoders[1].layers[-1].activation.__name__ == "relu"


def test_width_and_blocks_and_decoder_init():
    net = build_backbone("vgg16", (16, 16, 1), 4, width=0.25, blocks=3, fc_units=8)
    assert [lv["channels"] for lv in vgg16_levels(net)] == [16, 32, 64]
    decs = build_vgg16_decoders(net, "swwae", init_stddev=0.001)
    kernel = decs[2].get_layer("dec_block3_conv3").kernel.numpy()
    assert 0.0005 < kernel.std() < 0.002  # N(0, 0.001^2), as the paper
    assert not np.any(decs[2].get_layer("dec_block3_conv3").bias.numpy())


@pytest.mark.parametrize("kwargs, match", [
    ({"blocks": 6}, "blocks"), ({"width": 0}, "width"), ({"fc_units": 0}, "fc_units"), ({"dropout": 1.0}, "dropout"),
])
def test_bad_vgg_arguments_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_backbone("vgg16", (32, 32, 3), 10, **kwargs)


def test_input_size_must_fit_the_pooling_levels():
    with pytest.raises(ConfigError, match="divisible by 32"):
        build_backbone("vgg16", (8, 8, 1), 10)
    with pytest.raises(ConfigError, match="unpooling"):
        build_vgg16_decoders(build_backbone("vgg16", (8, 8, 1), 10, blocks=3, width=0.1, fc_units=8), "bilinear")


def test_vgg16_is_a_plain_classifier_backbone(tmp_path):
    net = build_backbone("vgg16", (32, 32, 3), 10, width=0.0625, fc_units=16)
    x = np.random.default_rng(1).random((3, 32, 32, 3)).astype("float32")
    ref = net.predict(x, verbose=0)
    path = str(tmp_path / "vgg.keras")
    net.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), ref, atol=1e-5)


def test_caffe_preprocessing_matches_keras_vgg16_convention_and_stays_frozen():
    net = build_backbone("vgg16", (32, 32, 3), 10, width=0.0625, fc_units=8, preprocessing="caffe")
    layer = net.get_layer("caffe_preprocess")
    x = np.random.default_rng(2).random((2, 32, 32, 3)).astype("float32")
    # hand computation: RGB in [0, 1] -> 255 * BGR - ImageNet BGR means
    expected = 255.0 * x[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-3)
    assert not layer.trainable and all("caffe_preprocess" not in w.path for w in net.trainable_weights)
    with pytest.raises(ConfigError, match="3-channel"):
        build_backbone("vgg16", (32, 32, 1), 10, preprocessing="caffe")
    with pytest.raises(ConfigError, match="preprocessing"):
        build_backbone("vgg16", (32, 32, 3), 10, preprocessing="torch")


def test_load_vgg16_weights_by_layer_name(tmp_path):
    from ssl_pipelines.models import load_vgg16_weights

    ref = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    ref.save_weights(path)
    net = build_backbone("vgg16", (32, 32, 3), 10, fc_units=8)
    with warnings.catch_warnings(record=True) as caught:  # the file's own layout only: no failed try
        warnings.simplefilter("always")
        loaded = load_vgg16_weights(net, path)
    assert not [str(w.message) for w in caught if "Skipping" in str(w.message)]
    assert sorted(loaded) == sorted(layer.name for layer in ref.layers if layer.weights)  # the 13 convs
    np.testing.assert_array_equal(net.get_layer("block5_conv3").kernel.numpy(),
                                  ref.get_layer("block5_conv3").kernel.numpy())
    with pytest.raises(ConfigError, match="no layer"):
        load_vgg16_weights(build_backbone("vgg16", (32, 32, 3), 10, width=0.5, fc_units=8), path)
