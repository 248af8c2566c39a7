"""Fully-convolutional (dense) evaluation: exact equivalence with the Dense classifier at the
training size, output shapes and averaging on larger images, parameter errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.data import ConfigError
from ssl_pipelines.evaluation_dense import check_scales, convolutionalize, dense_class_scores, dense_predict
from ssl_pipelines.models import build_backbone


def _vgg(input_shape=(16, 16, 3), classes=7, **kwargs):
    keras.utils.set_random_seed(0)
    kw = {"width": 0.125, "blocks": 3, "fc_units": 12, "dropout": 0.5, **kwargs}
    return build_backbone("vgg16", input_shape, classes, **kw)


@pytest.mark.parametrize("input_shape, kwargs", [
    ((16, 16, 3), {"preprocessing": "caffe"}),   # fc6 = a 2x2 conv over the 2x2x8 pool3 map
    ((16, 8, 1), {"blocks": 2}),                 # non-square: fc6 = a 4x2 conv
])
def test_convolutionalized_net_equals_the_dense_net_at_training_size(input_shape, kwargs):
    net = _vgg(input_shape, **kwargs)
    dense = convolutionalize(net)
    x = np.random.default_rng(0).uniform(size=(5, *input_shape)).astype(np.float32)
    maps = np.asarray(dense(x))
    assert maps.shape == (5, 1, 1, 7)
    np.testing.assert_allclose(maps[:, 0, 0], np.asarray(net(x, training=False)), rtol=1e-4, atol=1e-5)
    # fc6 is a conv covering the whole final feature map; the dropout layers are gone
    fc6 = dense.get_layer("fc1_conv")
    assert fc6.kernel_size == (input_shape[0] // 2 ** net_blocks(net), input_shape[1] // 2 ** net_blocks(net))
    assert dense.get_layer("fc2_conv").kernel_size == (1, 1) and dense.get_layer("predictions_conv").kernel_size == (1, 1)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in dense.layers)


def net_blocks(net):
    return sum(1 for layer in net.layers if layer.name.endswith("_pool"))


def test_dense_scores_on_a_bigger_image_average_the_score_map():
    net = _vgg()
    dense = convolutionalize(net)
    x = np.random.default_rng(1).uniform(size=(3, 24, 32, 3)).astype(np.float32)
    maps = np.asarray(dense(x))
    assert maps.shape == (3, 3 - 2 + 1, 4 - 2 + 1, 7)  # 24x32 -> 3x4 pool3 map, 2x2 fc6 -> 2x3 positions
    # logits averaging without flip at the native size is the plain spatial mean of the map
    scores = np.asarray(dense_class_scores(dense, x, scales=[24], flip=False, average="logits"))
    np.testing.assert_allclose(scores, maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    # softmax averaging: log of the mean posterior over positions and the two flips
    flipped = np.asarray(dense(x[:, :, ::-1]))
    post = np.concatenate([tf.nn.softmax(maps).numpy().reshape(3, -1, 7),
                           tf.nn.softmax(flipped).numpy().reshape(3, -1, 7)], axis=1)
    want = np.log(np.concatenate([post[:, :6].mean(1, keepdims=True), post[:, 6:].mean(1, keepdims=True)], 1).mean(1))
    got = np.asarray(dense_class_scores(dense, x, scales=[24], flip=True, average="softmax"))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # several scales: the average of the per-scale posteriors; batches of different sizes stream through
    s24 = np.exp(np.asarray(dense_class_scores(dense, x, [24], flip=False)))
    s40 = np.exp(np.asarray(dense_class_scores(dense, x, [40], flip=False)))
    both = dense_predict(dense, [x[:2], x[2:, :16, :16]], scales=[24, 40], flip=False)
    np.testing.assert_allclose(np.exp(both[:2]), (s24[:2] + s40[:2]) / 2, rtol=1e-4, atol=1e-6)
    assert both.shape == (3, 7) and np.allclose(np.exp(both).sum(1), 1.0, atol=1e-5)


def test_scales_below_the_training_size_and_unknown_layers_are_rejected():
    with pytest.raises(ConfigError, match="scale 8 must be an integer >= 16"):
        check_scales([32, 8], (16, 16, 3))
    with pytest.raises(ConfigError, match="non-empty list"):
        check_scales(32, (16, 16, 3))
    inputs = keras.Input((8, 8, 1))
    odd = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D(name="gap")(inputs)))
    with pytest.raises(ConfigError, match="'gap' of type GlobalAveragePooling2D"):
        convolutionalize(odd)
