"""Inversion loss terms (paper Eq. 8-10, multiscale extension) against hand computations."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines import losses


def test_reconstruction_error_is_per_example_mean_square():
    x = np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]], np.float32)
    x_hat = np.array([[[1.0, 0.0], [3.0, 5.0]], [[1.0, -1.0], [2.0, 0.0]]], np.float32)
    # example 0: diffs 0, -2, 0, 1 -> (0 + 4 + 0 + 1) / 4 = 1.25; example 1: (1 + 1 + 4 + 0) / 4 = 1.5
    np.testing.assert_allclose(losses.reconstruction_error(x, x_hat).numpy(), [1.25, 1.5], rtol=1e-6)


def test_cosine_reconstruction_error_by_hand():
    x = np.array([[1.0, 0.0], [2.0, 2.0]], np.float32)
    x_hat = np.array([[1.0, 1.0], [-3.0, -3.0]], np.float32)
    np.testing.assert_allclose(losses.cosine_reconstruction_error(x, x_hat).numpy(),
                               [1.0 - 1.0 / math.sqrt(2.0), 2.0], rtol=1e-5)


def test_specialization_loss_is_the_entropy():
    logits = np.array([[0.0, 0.0], [0.0, math.log(3.0)]], np.float32)  # p = [.5, .5] and [.25, .75]
    expected = [math.log(2.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]
    np.testing.assert_allclose(losses.specialization_loss(logits).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("alpha,beta,expected", [
    (0.6, 0.5, 0.6 * 2.0 + 0.4 * (0.5 * 3.0 + 0.5 * 5.0)),  # 1.2 + 0.4 * 4 = 2.8
    (1.0, 0.3, 2.0),                                        # alpha = 1: plain cross-entropy
    (0.0, 1.0, 3.0),                                        # fully unsupervised, reconstruction only
    (0.0, 0.0, 5.0),                                        # entropy only
])
def test_total_loss_is_the_convex_combination_of_eq10(alpha, beta, expected):
    out = losses.inversion_total_loss(tf.constant(2.0), tf.constant(3.0), tf.constant(5.0), alpha, beta)
    assert float(out) == pytest.approx(expected, rel=1e-6)


def test_multiscale_reconstruction_error_weighted_sum():
    z1 = np.zeros((2, 3), np.float32)
    z1_hat = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 0.0]], np.float32)  # summed squares 3 and 4
    z2 = np.ones((2, 2, 2), np.float32)
    z2_hat = np.array([np.full((2, 2), 3.0), np.ones((2, 2))], np.float32)  # summed squares 16 and 0
    out = losses.multiscale_reconstruction_error([z1, z2], [z1_hat, z2_hat], weights=[0.5, 0.25])
    np.testing.assert_allclose(out.numpy(), [0.5 * 3 + 0.25 * 16, 0.5 * 4 + 0.25 * 0], rtol=1e-6)
    # default weights 1 / (L * D_l): L = 2, D = 3 and 4
    assert losses.multiscale_default_weights([(3,), (2, 2)]) == pytest.approx([1 / 6, 1 / 8])
    default = losses.multiscale_reconstruction_error([z1, z2], [z1_hat, z2_hat])
    np.testing.assert_allclose(default.numpy(), [3 / 6 + 16 / 8, 4 / 6], rtol=1e-6)


def test_multiscale_rejects_mismatched_lists():
    with pytest.raises(ValueError, match="2 targets but 1 reconstructions"):
        losses.multiscale_reconstruction_error([np.zeros((1, 2))] * 2, [np.zeros((1, 2))])


def test_normalized_entropy_weight_maps_uniform_entropy_to_one():
    w = losses.normalized_entropy_weight(10)
    uniform = losses.specialization_loss(np.zeros((1, 10), np.float32))
    assert w == pytest.approx(1 / math.log(10)) and float(w * uniform[0]) == pytest.approx(1.0, rel=1e-5)
