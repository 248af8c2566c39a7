"""Switch pooling / unpooling layers (METHODS.md §3.1): hand-checked values, gradients, serialization."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from harness import check_layer
from ssl_pipelines.layers import MaxPoolingWithSwitches, MaxUnpooling


def _numpy_pool_argmax(x, p=2):
    """Reference: loop over windows, return pooled values and flat argmax indices (batch included)."""
    b, h, w, c = x.shape
    ho, wo = h // p, w // p
    pooled = np.zeros((b, ho, wo, c), x.dtype)
    arg = np.zeros((b, ho, wo, c), np.int64)
    for n in range(b):
        for i in range(ho):
            for j in range(wo):
                for k in range(c):
                    win = x[n, i * p:(i + 1) * p, j * p:(j + 1) * p, k]
                    r, s = np.unravel_index(np.argmax(win), win.shape)
                    y, xx = i * p + r, j * p + s
                    pooled[n, i, j, k] = x[n, y, xx, k]
                    arg[n, i, j, k] = ((n * h + y) * w + xx) * c + k
    return pooled, arg


def test_max_pool_with_argmax_exists_on_cpu_and_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 6, 3)).astype("float32")
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    ref_pooled, ref_arg = _numpy_pool_argmax(x)
    assert switches.dtype == tf.int64
    np.testing.assert_allclose(pooled.numpy(), ref_pooled)
    np.testing.assert_array_equal(switches.numpy(), ref_arg)


def test_unpool_switches_inverts_pooling_at_argmax_and_zero_elsewhere():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    out = MaxUnpooling(2, mode="switches")([pooled, switches, x]).numpy()
    expected = np.zeros_like(x)
    flat = expected.reshape(-1)
    _, arg = _numpy_pool_argmax(x)
    flat[arg.reshape(-1)] = x.reshape(-1)[arg.reshape(-1)]
    np.testing.assert_allclose(out, expected)
    # exactly one non-zero per 2x2 window and channel, equal to the window max
    assert np.count_nonzero(out) == pooled.numpy().size
    # each window's (single) non-zero entry is the window max
    np.testing.assert_allclose(out.reshape(2, 2, 2, 2, 2, 2).sum(axis=(2, 4)), pooled.numpy(), rtol=1e-6)


def test_unpool_switches_hand_example():
    x = np.array([[1., 5., 0., 2.],
                  [3., 2., 7., 1.],
                  [0., 0., 1., 1.],
                  [9., 0., 2., 8.]], "float32").reshape(1, 4, 4, 1)
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    np.testing.assert_array_equal(pooled.numpy().reshape(2, 2), [[5, 7], [9, 8]])
    np.testing.assert_array_equal(switches.numpy().reshape(2, 2), [[1, 6], [12, 15]])
    values = np.array([10., 20., 30., 40.], "float32").reshape(1, 2, 2, 1)
    out = MaxUnpooling(2)([values, switches, x]).numpy().reshape(4, 4)
    expected = np.zeros((4, 4), "float32")
    expected[0, 1], expected[1, 2], expected[3, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(out, expected)


def test_unpool_fixed_places_value_at_documented_position():
    values = np.array([1., 2., 3., 4.], "float32").reshape(1, 2, 2, 1)
    out = MaxUnpooling(2, mode="fixed")(values).numpy().reshape(4, 4)
    expected = np.zeros((4, 4), "float32")
    expected[1, 1], expected[1, 3], expected[3, 1], expected[3, 3] = 1, 2, 3, 4  # default (1, 1)
    np.testing.assert_array_equal(out, expected)
    out00 = MaxUnpooling(2, mode="fixed", fixed_position=(0, 1))(values).numpy().reshape(4, 4)
    expected = np.zeros((4, 4), "float32")
    expected[0, 1], expected[0, 3], expected[2, 1], expected[2, 3] = 1, 2, 3, 4
    np.testing.assert_array_equal(out00, expected)


def test_odd_sizes_follow_reference_shape():
    x = np.arange(2 * 5 * 7 * 3, dtype="float32").reshape(2, 5, 7, 3)
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    assert pooled.shape == (2, 2, 3, 3)
    out = MaxUnpooling(2)([pooled, switches, x])
    assert out.shape == x.shape
    fixed = MaxUnpooling(2, mode="fixed")([pooled, x]).numpy()
    assert fixed.shape == x.shape
    assert np.all(fixed[:, 4, :, :] == 0) and np.all(fixed[:, :, 6, :] == 0)
    np.testing.assert_array_equal(fixed[:, 1::2, 1::2, :][:, :2, :3], pooled.numpy())


def test_gradient_flows_to_values_not_switches():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(size=(1, 4, 4, 1)).astype("float32"))
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    values = tf.Variable(tf.ones_like(pooled))
    weights = tf.constant(np.arange(16, dtype="float32").reshape(1, 4, 4, 1))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(switches)
        out = MaxUnpooling(2)([values, switches, x])
        loss = tf.reduce_sum(out * weights)
    g_values = tape.gradient(loss, values).numpy()
    # d loss / d value = weight at the value's switch position
    np.testing.assert_allclose(g_values.reshape(-1), weights.numpy().reshape(-1)[switches.numpy().reshape(-1)])
    assert tape.gradient(loss, switches) is None
    # fixed mode: gradient is the weight at (1, 1) of each block
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(MaxUnpooling(2, mode="fixed")(values) * weights)
    np.testing.assert_allclose(tape.gradient(loss, values).numpy().reshape(2, 2), [[5, 7], [13, 15]])
    # gradient through the pooled values reaches the encoder input only at the argmax positions
    with tf.GradientTape() as tape:
        tape.watch(x)
        p, s = MaxPoolingWithSwitches(2)(x)
        loss = tf.reduce_sum(MaxUnpooling(2)([p, s, x]))
    assert np.count_nonzero(tape.gradient(loss, x).numpy()) == 4


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mode"):
        MaxUnpooling(2, mode="bilinear")
    with pytest.raises(ValueError, match="fixed_position"):
        MaxUnpooling(2, mode="fixed", fixed_position=(2, 0))
    with pytest.raises(ValueError, match="switches"):
        MaxUnpooling(2)(tf.zeros((1, 2, 2, 1)))


def test_layers_serialize_and_reload(tmp_path):
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32")
    check_layer(MaxPoolingWithSwitches, {"pool_size": 2}, x, tmp_path)
    pooled, switches = MaxPoolingWithSwitches(2)(x)
    # (harness ``expected_output_shape`` cannot take a single flat shape, so shapes are checked here)
    out = check_layer(MaxUnpooling, {"pool_size": 2, "mode": "switches"}, [pooled, switches, tf.constant(x)],
                      tmp_path)
    assert tuple(out.shape) == x.shape
    out = check_layer(MaxUnpooling, {"pool_size": 2, "mode": "fixed", "fixed_position": [0, 0]},
                      [pooled, tf.constant(x)], tmp_path)
    assert tuple(out.shape) == x.shape


def test_pool_unpool_in_functional_model_roundtrip(tmp_path):
    inp = keras.Input((4, 4, 2))
    p, s = MaxPoolingWithSwitches(2)(inp)
    h = keras.layers.Conv2D(2, 1)(p)
    out = MaxUnpooling(2)([h, s, inp])
    model = keras.Model(inp, out)
    x = np.random.default_rng(4).normal(size=(3, 4, 4, 2)).astype("float32")
    ref = model(x).numpy()
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x).numpy(), ref, atol=1e-6)
