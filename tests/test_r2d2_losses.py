"""R2-D2 loss family (METHODS.md §4.2) against hand/numpy computations and tf autodiff."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.losses import d2_loss, pseudo_label_gradient, scaled_label_lr, theorem1_pseudo_label


def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_d2_loss_matches_hand_computation_and_uses_kl_prediction_first():
    logits = np.array([[1.0, 0.0, -1.0], [2.0, 2.0, 0.0]], np.float32)
    pseudo = np.array([[0.0, 0.0, 0.0], [0.0, 3.0, 0.0]], np.float32)
    p, q = _softmax(logits), _softmax(pseudo)
    # row 0 by hand: p = softmax(1, 0, -1) = (0.66524, 0.24473, 0.09003), q = 1/3 each
    np.testing.assert_allclose(p[0], [0.665241, 0.244728, 0.090031], atol=1e-6)
    h = -(p * np.log(p)).sum(-1)
    kl_pq = (p * (np.log(p) - np.log(q))).sum(-1)
    np.testing.assert_allclose(kl_pq[0], np.log(3) - h[0], atol=1e-9)  # KL(p || uniform) = log C - H(p)
    got = d2_loss(logits, pseudo, alpha=0.1, beta=0.03).numpy()
    np.testing.assert_allclose(got, 0.1 * kl_pq + 0.03 * h, rtol=1e-5)
    kl_qp = (q * (np.log(q) - np.log(p))).sum(-1)
    assert not np.allclose(got, 0.1 * kl_qp + 0.03 * h, rtol=1e-3)  # the other KL direction differs


def test_pseudo_label_gradient_equals_autodiff_and_formula():
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(6, 5)), tf.float32)
    pseudo = tf.constant(rng.normal(size=(6, 5)) * 3, tf.float32)
    alpha, beta = 0.1, 0.03
    with tf.GradientTape() as tape:
        tape.watch(pseudo)
        loss = tf.reduce_mean(d2_loss(logits, pseudo, alpha, beta))
    auto = tape.gradient(loss, pseudo).numpy()
    by_hand = alpha * (_softmax(pseudo.numpy()) - _softmax(logits.numpy())) / 6
    np.testing.assert_allclose(auto, by_hand, atol=1e-7)
    np.testing.assert_allclose(pseudo_label_gradient(logits, pseudo, alpha).numpy(), by_hand, atol=1e-7)
    np.testing.assert_allclose(auto.sum(axis=1), 0.0, atol=1e-7)  # the equality constraint: row sums fixed
    # the entropy weight does not touch the pseudo-labels
    with tf.GradientTape() as tape:
        tape.watch(pseudo)
        loss = tf.reduce_mean(d2_loss(logits, pseudo, alpha, beta=5.0))
    np.testing.assert_allclose(tape.gradient(loss, pseudo).numpy(), by_hand, atol=1e-7)


def test_scaled_label_lr_keeps_the_per_example_step():
    # reference: lambda 4000 at B = 512 -> per-example step 4000 * 0.1 / 512 = 0.78125
    assert scaled_label_lr(4000, 512) == 4000
    assert scaled_label_lr(4000, 128) == 1000
    assert scaled_label_lr(4000, 64) * 0.1 / 64 == pytest.approx(0.78125)
    with pytest.raises(ValueError, match="label_lr"):
        scaled_label_lr(-1, 64)


def test_theorem1_link_is_the_stationary_point_of_the_network_and_flatter():
    """Tiny synthetic problem: free network logits z trained by gradient descent on the D2 loss
    against fixed pseudo-labels converge to p_tilde = p_hat^(1-beta/alpha) / sum (Theorem 1), and
    the pseudo-label's largest entry is below the prediction's (Theorem 2)."""
    alpha, beta = 0.1, 0.03
    rng = np.random.default_rng(1)
    pseudo = tf.constant(rng.normal(size=(4, 5)) * 2, tf.float32)
    z = tf.Variable(rng.normal(size=(4, 5)), dtype=tf.float32)
    opt = tf.keras.optimizers.SGD(50.0)

    @tf.function  # one traced step: 3000 eager steps took 16 s
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(d2_loss(z, pseudo, alpha, beta))
        opt.apply_gradients([(tape.gradient(loss, z), z)])

    for _ in range(3000):
        step()
    p_hat = _softmax(z.numpy())
    p_tilde = _softmax(pseudo.numpy())
    np.testing.assert_allclose(theorem1_pseudo_label(p_hat, alpha, beta).numpy(), p_tilde, atol=2e-3)
    # by hand for one row: p_tilde proportional to p_hat^0.7
    ratio = np.log(p_tilde[0]) - 0.7 * np.log(p_hat[0])
    np.testing.assert_allclose(ratio, ratio.mean(), atol=5e-3)
    n = p_hat.argmax(axis=1)
    assert np.all(p_tilde[np.arange(4), n] <= p_hat[np.arange(4), n] + 1e-6)
