"""HybridNet loss terms, ramp-ups and the EMA teacher, against hand computations."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines import losses, training


def _grads(fn, *arrays):
    vs = [tf.Variable(a) for a in arrays]
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(fn(*vs))
    return out, [g if g is None else g.numpy() for g in tape.gradient(out, vs)]


def test_reconstruction_mse_matches_numpy():
    x = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    c = np.array([[0.5, 0.0], [0.0, 0.0]], np.float32)
    u = np.array([[0.0, 0.5], [0.5, 0.0]], np.float32)
    # sample 0: x_hat = [0.5, 0.5] -> ((0.5)^2 + (0.5)^2)/2 = 0.25 ; sample 1: [0.5, 0] -> (0 + 0.25)/2
    np.testing.assert_allclose(losses.reconstruction_mse(x, c, u).numpy(), [0.25, 0.125])
    np.testing.assert_allclose(losses.balanced_reconstruction_mse(x, c, u).numpy(), [0.25, 0.125])
    err_c, err_u = losses.branch_errors(x, c, u)
    np.testing.assert_allclose(err_c.numpy(), [0.125, 0.25])  # [(0.25+0)/2, (0.25+0.25)/2]
    np.testing.assert_allclose(err_u.numpy(), [0.625, 0.125])  # [(1+0.25)/2, (0+0.25)/2]


def test_balancing_routes_each_samples_gradient_into_the_worse_branch_only():
    x = np.array([[1.0, 0.0], [0.5, 0.5], [1.0, 1.0]], np.float32)
    c = np.array([[0.5, 0.0], [0.0, 0.0], [0.5, 0.5]], np.float32)
    u = np.array([[0.0, 0.5], [0.5, 0.0], [0.5, 0.5]], np.float32)  # sample 2: tie
    _, (gc, gu) = _grads(lambda c_, u_: losses.balanced_reconstruction_mse(x, c_, u_), c, u)
    full = 2.0 * (c + u - x) / x.shape[1]  # d/dx_hat of mean((x_hat - x)^2)
    # sample 0: err_u > err_c -> unsupervised branch; sample 1: err_c > err_u -> discriminative;
    # sample 2: tie -> unsupervised (the code's cond = mse_c > mse_u)
    np.testing.assert_allclose(gc, [[0, 0], full[1], [0, 0]], atol=1e-7)
    np.testing.assert_allclose(gu, [full[0], [0, 0], full[2]], atol=1e-7)
    # without balancing both branches get the full gradient
    _, (gc2, gu2) = _grads(lambda c_, u_: losses.reconstruction_mse(x, c_, u_), c, u)
    np.testing.assert_allclose(gc2, full, atol=1e-7)
    np.testing.assert_allclose(gu2, full, atol=1e-7)


def test_intermediate_target_is_detached():
    h_hat = np.array([[[1.0, 2.0]], [[0.0, 0.0]]], np.float32)
    h = np.array([[[0.0, 0.0]], [[1.0, 3.0]]], np.float32)
    value, (g_hat, g_h) = _grads(losses.intermediate_reconstruction_mse, h_hat, h)
    # per sample: (1 + 4)/2, (1 + 9)/2
    np.testing.assert_allclose(float(value), 2.5 + 5.0)
    assert g_h is None or not np.any(g_h)
    np.testing.assert_allclose(g_hat, 2.0 * (h_hat - h) / 2)


def test_rampups_match_their_formulas():
    assert float(losses.sigmoid_rampup(0, 10)) == pytest.approx(math.exp(-5.0))
    assert float(losses.sigmoid_rampup(5, 10)) == pytest.approx(math.exp(-1.25))
    assert float(losses.sigmoid_rampup(20, 10)) == pytest.approx(1.0)
    assert float(losses.sigmoid_rampup(3, 0)) == 1.0
    assert float(losses.cosine_rampdown(0, 8)) == pytest.approx(1.0)
    assert float(losses.cosine_rampdown(2, 8)) == pytest.approx(0.5 * (math.cos(math.pi / 4) + 1))
    assert float(losses.cosine_rampdown(8, 8)) == pytest.approx(0.0, abs=1e-7)
    assert float(losses.cosine_rampdown(9, 0)) == 1.0


def test_ema_decay_warmup_and_update_formula():
    assert float(training.ema_decay(1, 0.97)) == pytest.approx(0.5)
    assert float(training.ema_decay(9, 0.97)) == pytest.approx(0.9)
    assert float(training.ema_decay(1000, 0.97)) == pytest.approx(0.97)
    t, s = tf.Variable([1.0, 2.0]), tf.Variable([3.0, -2.0])
    training.update_ema([t], [s], 0.75)
    np.testing.assert_allclose(t.numpy(), [0.75 * 1 + 0.25 * 3, 0.75 * 2 + 0.25 * -2])


def _bn_net():
    x = keras.Input((3,))
    h = keras.layers.Dense(4)(x)
    h = keras.layers.BatchNormalization()(h)
    return keras.Model(x, keras.layers.Dense(2)(h))


def test_ema_teacher_averages_trainable_only_or_all_weights():
    student = _bn_net()
    ema = training.EMATeacher(student, decay=0.9, teacher=training.clone_for_ema(student, trainable=True),
                              trainable_only=True)
    before_t = [w.numpy().copy() for w in ema.teacher.weights]
    for w in student.weights:
        w.assign(w + 1.0)
    ema.update(step=1000)
    for (bt, t, s, trainable) in zip(before_t, ema.teacher.weights, student.weights,
                                     [w.trainable for w in student.weights]):
        expected = 0.9 * bt + 0.1 * s.numpy() if trainable else bt  # moving stats untouched
        np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6, atol=1e-6)
    full = training.EMATeacher(student, decay=0.5)
    assert not full.teacher.trainable
    before = [w.numpy().copy() for w in full.teacher.weights]
    for w in student.weights:
        w.assign(w + 2.0)
    full.update(step=1)  # warm-up: a = min(1 - 1/2, 0.5) = 0.5
    for b, t, s in zip(before, full.teacher.weights, student.weights):
        np.testing.assert_allclose(t.numpy(), 0.5 * b + 0.5 * s.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        training.EMATeacher(student, decay=1.0)


def test_ema_callback_updates_teacher_during_fit():
    student = _bn_net()
    student.compile(optimizer="sgd", loss="mse")
    ema = training.EMATeacher(student, decay=0.99)
    before = [w.numpy().copy() for w in ema.teacher.weights]
    x, y = np.random.rand(16, 3).astype("float32"), np.random.rand(16, 2).astype("float32")
    student.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[training.EMACallback(ema)])
    assert len(before) == len(student.weights)
    assert any(not np.allclose(b, t.numpy()) for b, t in zip(before, ema.teacher.weights))  # it moved
    # ... but only part of the way to the student (decay 0.5 then 0.66 over the two steps)
    assert not np.allclose(ema.teacher.weights[0].numpy(), student.weights[0].numpy())
