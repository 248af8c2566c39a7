import numpy as np
import tensorflow as tf

from ssl_pipelines import losses


def test_cross_entropy_and_entropy_by_hand():
    logits = tf.constant([[0.0, np.log(3.0)]])  # p = [1/4, 3/4]
    np.testing.assert_allclose(losses.cross_entropy_from_logits([1], logits).numpy(), [-np.log(0.75)], rtol=1e-6)
    h = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose(losses.entropy_from_logits(logits).numpy(), [h], rtol=1e-6)


def test_categorical_kl_by_hand_and_direction():
    p = tf.math.log(tf.constant([[0.5, 0.5]]))
    q = tf.math.log(tf.constant([[0.9, 0.1]]))
    kl_pq = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    kl_qp = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    np.testing.assert_allclose(losses.categorical_kl_from_logits(p, q).numpy(), [kl_pq], rtol=1e-5)
    np.testing.assert_allclose(losses.categorical_kl_from_logits(q, p).numpy(), [kl_qp], rtol=1e-5)


def test_softmax_mse_by_hand():
    a = tf.math.log(tf.constant([[0.5, 0.5]]))
    b = tf.math.log(tf.constant([[1.0, 1e-30]]))
    np.testing.assert_allclose(losses.softmax_mse(a, b).numpy(), [(0.25 + 0.25) / 2], rtol=1e-5)
