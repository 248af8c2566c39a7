"""The reconstruction x_hat = A[x]^T c: exact on linear and tiny ReLU nets (independent numpy
vector-Jacobian products), second-order gradients vs finite differences, serialization."""

import numpy as np
import keras
import pytest
import tensorflow as tf

from harness import check_layer
from ssl_pipelines import models
from ssl_pipelines.data import ConfigError
from ssl_pipelines.layers import InversionReconstruction, invert
from ssl_pipelines.layers.inversion import cotangent_from_logits, layer_output_model

RNG = np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_cotangent(z, kind):
    return {"softmax": softmax(z), "onehot": np.eye(z.shape[-1])[z.argmax(-1)], "logits": z,
            "ones": np.ones_like(z)}[kind]


def tiny_relu_net(d=5, h=7, c=3, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((d,))
    hid = keras.layers.Dense(h, activation="relu", name="hidden")(inputs)
    logits = keras.layers.Dense(c, name="logits")(hid)
    net = keras.Model(inputs, logits)
    # biases away from zero so both sides of the ReLU occur
    net.get_layer("hidden").bias.assign(RNG.normal(0, 0.5, h).astype(np.float32))
    net.get_layer("logits").bias.assign(RNG.normal(0, 0.5, c).astype(np.float32))
    return net


def np_tiny_forward(params, x):
    w1, b1, w2, b2 = params
    pre = x @ w1 + b1
    hid = np.maximum(pre, 0)
    return pre, hid, hid @ w2 + b2


def np_tiny_reconstruction(params, x, kind):
    """A[x]^T c by hand: z = relu(x W1 + b1) W2 + b2  =>  dz/dx^T c = W1 (mask * (W2 c))."""
    w1, _, w2, _ = params
    pre, _, z = np_tiny_forward(params, x)
    c = np_cotangent(z, kind)
    return ((c @ w2.T) * (pre > 0)) @ w1.T


@pytest.mark.parametrize("kind", ["softmax", "onehot", "logits", "ones"])
def test_linear_model_reconstruction_is_w_transpose_c(kind):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    net = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    w, b = (v.numpy() for v in net.weights)
    x = RNG.normal(size=(6, 4)).astype(np.float32)
    z = x @ w + b
    expected = np_cotangent(z, kind) @ w.T  # x_hat = W^T c (keras stores W transposed: (D, C))
    inv = invert(net, tf.constant(x), kind)
    np.testing.assert_allclose(inv.logits.numpy(), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inv.reconstruction.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["softmax", "onehot", "logits", "ones"])
def test_tiny_relu_net_reconstruction_equals_independent_vjp(kind):
    net = tiny_relu_net()
    params = [v.numpy().astype(np.float64) for v in net.weights]
    x = RNG.normal(size=(8, 5))
    pre, _, _ = np_tiny_forward(params, x)
    assert (pre > 0).any() and (pre <= 0).any(), "the test needs active and inactive units"
    inv = invert(net, tf.constant(x, tf.float32), kind)
    np.testing.assert_allclose(inv.reconstruction.numpy(), np_tiny_reconstruction(params, x, kind), rtol=1e-4, atol=1e-5)


def test_templates_give_the_spline_form_z_equals_a_x_plus_b():
    """Eq. 5-7: with one-hot cotangents the reconstructions are the template rows A[x]_c, and
    z(x) = A[x] x + b[x] where b[x] does not change under a small move inside the same region."""
    net = tiny_relu_net()
    x = tf.constant(RNG.normal(size=(1, 5)), tf.float32)
    rows = []
    for c in range(3):
        with tf.GradientTape() as tape:
            tape.watch(x)
            zc = net(x)[:, c]
        rows.append(tape.gradient(zc, x).numpy()[0])
    a = np.stack(rows)
    w1, b1, w2, b2 = (v.numpy() for v in net.weights)
    mask = ((x.numpy() @ w1 + b1) > 0)[0]
    np.testing.assert_allclose(a, ((w1 * mask) @ w2).T, rtol=1e-5, atol=1e-6)
    eps = 1e-4 * RNG.normal(size=(1, 5)).astype(np.float32)
    dz = net(x + eps).numpy() - net(x).numpy()
    np.testing.assert_allclose(dz[0], a @ eps[0], rtol=1e-2, atol=1e-6)


def _r_numpy(params, x, kind):
    return np.mean((np_tiny_reconstruction(params, x, kind) - x) ** 2)


@pytest.mark.parametrize("kind,stop_gradient", [("ones", True), ("softmax", False), ("logits", False)])
def test_reconstruction_loss_gradient_matches_finite_differences(kind, stop_gradient):
    net = tiny_relu_net(d=4, h=6, c=3, seed=2)
    x = RNG.normal(size=(5, 4))
    params = [v.numpy().astype(np.float64) for v in net.weights]
    with tf.GradientTape() as tape:
        inv = invert(net, tf.constant(x, tf.float32), kind, stop_gradient_cotangent=stop_gradient)
        r = tf.reduce_mean(tf.square(inv.reconstruction - tf.constant(x, tf.float32)))
    # (unconnected_gradients=ZERO fails on keras variables in TF 2.21: map None -> 0 here)
    grads = [np.zeros(v.shape) if g is None else g.numpy() for g, v in zip(tape.gradient(r, net.weights), net.weights)]
    assert float(r) == pytest.approx(_r_numpy(params, x, kind), rel=1e-4)
    assert np.abs(grads[0]).sum() > 1e-3 and np.abs(grads[2]).sum() > 1e-3, "dR/dW must be non-zero"
    eps = 1e-6
    for k in range(4):  # W1, b1, W2, b2 (b1 only moves the masks: zero gradient almost everywhere)
        fd = np.zeros_like(params[k])
        for idx in np.ndindex(params[k].shape):
            up = [p.copy() for p in params]
            down = [p.copy() for p in params]
            up[k][idx] += eps
            down[k][idx] -= eps
            fd[idx] = (_r_numpy(up, x, kind) - _r_numpy(down, x, kind)) / (2 * eps)
        np.testing.assert_allclose(grads[k], fd, rtol=2e-3, atol=2e-5, err_msg=f"weight {k}")


def test_stop_gradient_on_the_softmax_cotangent_changes_the_weight_gradient():
    net = tiny_relu_net(seed=3)
    x = tf.constant(RNG.normal(size=(4, 5)), tf.float32)
    grads = []
    for sg in (True, False):
        with tf.GradientTape() as tape:
            r = tf.reduce_mean(tf.square(invert(net, x, "softmax", stop_gradient_cotangent=sg).reconstruction - x))
        grads.append(tape.gradient(r, net.get_layer("logits").kernel).numpy())
    assert not np.allclose(grads[0], grads[1])


def test_per_layer_reconstructions_are_the_layer_templates():
    net = tiny_relu_net()
    params = [v.numpy().astype(np.float64) for v in net.weights]
    x = RNG.normal(size=(3, 5))
    inv = invert(net, tf.constant(x, tf.float32), "softmax", feature_model=layer_output_model(net, ["hidden"]))
    _, hid, z = np_tiny_forward(params, x)
    np.testing.assert_allclose(inv.layer_targets[0].numpy(), hid, rtol=1e-5, atol=1e-5)
    # f^-1_hidden = (dz/dh)^T c = W2 c
    np.testing.assert_allclose(inv.layer_reconstructions[0].numpy(), softmax(z) @ params[2].T, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="'nope' is not a layer"):
        layer_output_model(net, ["nope"])


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_every_conv_kernel_gets_a_reconstruction_gradient(pooling):
    net = models.build_backbone("inv_small_cnn", (8, 8, 1), 10, filters=[4, 6], pooling=pooling)
    x = tf.constant(RNG.normal(size=(3, 8, 8, 1)), tf.float32)
    with tf.GradientTape() as tape:
        r = tf.reduce_mean(tf.square(invert(net, x).reconstruction - x))
    kernels = [v for v in net.trainable_variables if "kernel" in v.path]
    grads = tape.gradient(r, kernels)
    assert len(kernels) == 3 and all(g is not None and float(tf.norm(g)) > 0 for g in grads)


def test_unknown_cotangent_is_a_config_error():
    with pytest.raises(ConfigError, match=r"cotangent must be one of \['softmax', 'onehot', 'logits', 'ones'\], got 'sum'"):
        cotangent_from_logits(tf.zeros((1, 2)), "sum")
    with pytest.raises(ConfigError, match="'sum'"):
        InversionReconstruction(tiny_relu_net(), cotangent="sum")


@pytest.mark.parametrize("return_logits", [False, True])
def test_reconstruction_layer_harness(tmp_path, return_logits):
    net = models.build_backbone("inv_small_cnn", (8, 8, 1), 10, filters=[4])
    x = tf.constant(RNG.normal(size=(2, 8, 8, 1)), tf.float32)
    out = check_layer(InversionReconstruction, {"classifier": net, "cotangent": "onehot", "return_logits": return_logits},
                      x, tmp_path)
    rec = out[1] if return_logits else out
    assert tuple(rec.shape) == (2, 8, 8, 1)
    np.testing.assert_allclose(rec.numpy(), invert(net, x, "onehot").reconstruction.numpy(), atol=1e-6)
