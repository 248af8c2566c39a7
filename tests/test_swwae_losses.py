"""SWWAE / SAE reconstruction losses (METHODS.md §3.2, §3.7) against hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines.losses import (
    caffe_weight_to_mean_weight,
    euclidean_loss_per_example,
    mean_squared_error_per_example,
    reconstruction_loss,
    weighted_reconstruction_total,
)

A = np.array([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 1.0]]], "float32")  # (2, 2, 2)
B = np.array([[[1.0, 0.0], [3.0, 1.0]], [[1.0, 0.0], [0.0, 0.0]]], "float32")
# squared errors: example 0 -> 0 + 4 + 0 + 9 = 13; example 1 -> 1 + 0 + 0 + 1 = 2


def test_euclidean_loss_is_caffe_half_sum():
    np.testing.assert_allclose(euclidean_loss_per_example(A, B).numpy(), [6.5, 1.0])
    # Caffe EuclideanLoss: 1 / (2 B) * sum ||a - b||^2 = (13 + 2) / 4
    assert reconstruction_loss(A, B, "sum").numpy() == pytest.approx(15.0 / 4.0)


def test_mean_squared_error_is_per_element_mean():
    np.testing.assert_allclose(mean_squared_error_per_example(A, B).numpy(), [13 / 4, 2 / 4])
    assert reconstruction_loss(A, B, "mean").numpy() == pytest.approx(15.0 / 8.0)


def test_caffe_weight_conversion_makes_terms_equal():
    lam = 1e-4
    d = A[0].size
    w = caffe_weight_to_mean_weight(lam, d)
    assert w == pytest.approx(lam * 4 / 2)
    assert (lam * reconstruction_loss(A, B, "sum")).numpy() == pytest.approx((w * reconstruction_loss(A, B, "mean")).numpy())
    assert caffe_weight_to_mean_weight(1e-4, 224 * 224 * 3) == pytest.approx(7.5264)


def test_weighted_total_skips_missing_and_zero_weights():
    losses = {"recon_image": tf.constant(2.0), "recon_pool1": tf.constant(3.0), "recon_pool2": tf.constant(5.0)}
    total = weighted_reconstruction_total(losses, {"recon_image": 0.5, "recon_pool1": 0.0})
    assert total.numpy() == pytest.approx(1.0)
    assert weighted_reconstruction_total({}, {"recon_image": 1.0}).numpy() == 0.0


def test_target_gradient_flows_unless_detached():
    a, b = tf.constant(A), tf.Variable(B)
    with tf.GradientTape(persistent=True) as tape:
        attached = reconstruction_loss(a, b, "sum")
        detached = reconstruction_loss(a, b, "sum", stop_gradient_target=True)
    # d/db of 1/(2B) sum (a - b)^2 = -(a - b) / B
    np.testing.assert_allclose(tape.gradient(attached, b).numpy(), -(A - B) / 2)
    assert tape.gradient(detached, b) is None


def test_bad_reduction_raises():
    with pytest.raises(ValueError, match="reduction"):
        reconstruction_loss(A, B, "max")
