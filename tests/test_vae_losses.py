"""ELBO terms of METHODS.md §5.1 against hand / numpy computations on tiny tensors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ssl_pipelines import losses


def test_bernoulli_log_likelihood_by_hand():
    # x = [1, 0], p = sigmoid(logits) = [0.8, 0.25]  ->  log 0.8 + log 0.75
    logits = np.log([[0.8 / 0.2, 0.25 / 0.75]]).astype(np.float32)
    x = np.array([[1.0, 0.0]], np.float32)
    got = losses.bernoulli_log_likelihood(x, logits).numpy()
    np.testing.assert_allclose(got, [math.log(0.8) + math.log(0.75)], rtol=1e-6)
    # fractional targets (BCE on intensities): 0.5 log 0.8 + 0.5 log 0.2
    got = losses.bernoulli_log_likelihood(np.array([[0.5]], np.float32), logits[:, :1]).numpy()
    np.testing.assert_allclose(got, [0.5 * math.log(0.8) + 0.5 * math.log(0.2)], rtol=1e-6)
    # extreme logits stay finite
    assert np.isfinite(losses.bernoulli_log_likelihood(np.ones((1, 1), np.float32), np.full((1, 1), -100.0, np.float32)))


def test_bernoulli_broadcasts_x_over_classes():
    x = np.array([[[1.0, 0.0]]], np.float32)  # (B=1, 1, D=2)
    logits = np.zeros((1, 3, 2), np.float32)  # (B=1, C=3, D=2): p = 0.5 everywhere
    np.testing.assert_allclose(losses.bernoulli_log_likelihood(x, logits).numpy(), [[2 * math.log(0.5)] * 3], rtol=1e-6)


def test_gaussian_log_likelihood_by_hand():
    # N(1; mean 0, var 4) = -0.5 (log 2pi + log 4 + 1/4);  N(2; 2, 1) = -0.5 log 2pi
    x = np.array([[1.0, 2.0]], np.float32)
    mean = np.array([[0.0, 2.0]], np.float32)
    log_var = np.array([[math.log(4.0), 0.0]], np.float32)
    expected = -0.5 * (math.log(2 * math.pi) + math.log(4.0) + 0.25) - 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(losses.gaussian_log_likelihood(x, mean, log_var).numpy(), [expected], rtol=1e-6)


def test_kl_of_two_known_gaussians():
    # KL(N(1, 1) || N(0, 1)) = 1/2;  KL(N(0, 4) || N(0, 1)) = 1/2 (4 - 1 - log 4)
    mean = np.array([[1.0, 0.0]], np.float32)
    log_var = np.array([[0.0, math.log(4.0)]], np.float32)
    expected = 0.5 + 0.5 * (4.0 - 1.0 - math.log(4.0))
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var).numpy(), [expected], rtol=1e-6)
    # general p: KL(N(1, 1) || N(3, 4)) = 1/2 (log 4 - 0 + (1 + 4) / 4 - 1)
    got = losses.gaussian_kl(np.array([[1.0]], np.float32), np.zeros((1, 1), np.float32),
                             np.array([[3.0]], np.float32), np.full((1, 1), math.log(4.0), np.float32)).numpy()
    np.testing.assert_allclose(got, [0.5 * (math.log(4.0) + 5.0 / 4.0 - 1.0)], rtol=1e-6)
    # KL(q || q) = 0
    assert abs(float(losses.gaussian_kl(mean, log_var, mean, log_var)[0])) < 1e-6


def test_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    m, s = 0.7, 0.5
    z = rng.normal(m, s, 400_000)
    log_q = -0.5 * (np.log(2 * np.pi * s**2) + (z - m) ** 2 / s**2)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2)
    mc = float(np.mean(log_q - log_p))
    exact = float(losses.gaussian_kl(np.array([[m]], np.float32), np.array([[2 * np.log(s)]], np.float32))[0])
    assert exact == pytest.approx(mc, abs=5e-3)


def test_labeled_bound_and_vae_loss_by_hand():
    # L = -(log p(x|y,z) + log p(y) - KL) with log p(x|y,z) = -3, KL = 0.5, p(y) = 1/10
    got = np.asarray(losses.labeled_bound(tf.constant([-3.0]), tf.constant([0.5]), -math.log(10)))
    np.testing.assert_allclose(got, [3.0 + 0.5 + math.log(10)], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(losses.vae_loss(tf.constant([-3.0]), tf.constant([0.5]))), [3.5])


def test_unlabeled_bound_is_weighted_sum_of_labeled_bounds_plus_entropy():
    rng = np.random.default_rng(1)
    bounds = rng.uniform(10, 20, (4, 3)).astype(np.float32)
    logits = rng.normal(size=(4, 3)).astype(np.float32)
    q = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    entropy = -(q * np.log(q)).sum(1)
    expected = (q * bounds).sum(1) - entropy  # U = sum_y q L - H  (the loss form of Eq. 7)
    np.testing.assert_allclose(losses.unlabeled_bound(bounds, logits).numpy(), expected, rtol=1e-5)
    # a one-hot-confident q reduces U to the L of that class
    sharp = np.array([[50.0, 0.0, 0.0]], np.float32)
    np.testing.assert_allclose(losses.unlabeled_bound(bounds[:1], sharp).numpy(), bounds[:1, 0], rtol=1e-4)


def test_unlabeled_bound_gradient_reaches_the_classifier_logits():
    bounds = tf.constant([[1.0, 5.0]])
    logits = tf.Variable([[0.0, 0.0]])
    with tf.GradientTape() as tape:
        u = losses.unlabeled_bound(bounds, logits)
    g = tape.gradient(u, logits).numpy()
    # dU/dlogit_k = q_k (L_k + log q_k + 1 - sum_j q_j (L_j + log q_j + 1)); q = (1/2, 1/2) -> (-1, +1)
    np.testing.assert_allclose(g, [[-1.0, 1.0]], rtol=1e-5)


def test_m2_objective_scaling_by_hand():
    # N_l = 100, N_u = 900: J/N = 0.1 L + 0.9 U + alpha CE
    got = float(losses.m2_objective(10.0, 20.0, 2.0, 100, 900, alpha=0.1))
    assert got == pytest.approx(0.1 * 10 + 0.9 * 20 + 0.1 * 2)
    # per labeled point, the CE weighs alpha N / N_l times a bound term (the code's beta = 0.1 N / N_l)
    d_ce = float(losses.m2_objective(0.0, 0.0, 1.0, 100, 900)) / (1 / 100)  # CE on one of the N_l points
    d_bound = float(losses.m2_objective(1.0, 0.0, 0.0, 100, 900)) / (1 / 100)
    assert d_ce / d_bound == pytest.approx(0.1 * 1000 / 100)


def test_m2_objective_mean_by_hand():
    # mean L + mean U + alpha mean CE, whatever N_l and N_u
    assert float(losses.m2_objective_mean(10.0, 20.0, 2.0, alpha=0.1)) == pytest.approx(10 + 20 + 0.2)
    # against the paper form with N_l = 100, N_u = 900 the labeled bound weighs N / N_l = 10 times more
    paper_l = float(losses.m2_objective(1.0, 0.0, 0.0, 100, 900))
    assert float(losses.m2_objective_mean(1.0, 0.0, 0.0)) / paper_l == pytest.approx(10.0)


def test_sampled_kl_by_hand_and_its_mean_is_the_analytic_kl():
    # z = 1, mean 0.5, var 4: 1/2 [z^2 - log var - (z - mean)^2 / var] = 1/2 [1 - log 4 - 0.0625]
    got = float(losses.gaussian_kl_sample(np.array([[1.0]], np.float32), np.array([[0.5]], np.float32),
                                          np.array([[math.log(4.0)]], np.float32))[0])
    assert got == pytest.approx(0.5 * (1 - math.log(4.0) - 0.0625), rel=1e-6)
    # sums over the last axis: two identical dimensions give twice the value
    two = losses.gaussian_kl_sample(np.ones((1, 2), np.float32), np.full((1, 2), 0.5, np.float32),
                                    np.full((1, 2), math.log(4.0), np.float32))
    assert float(two[0]) == pytest.approx(2 * got, rel=1e-6)
    m, log_var = np.float32(0.7), np.float32(2 * np.log(0.5))
    z = np.random.default_rng(0).normal(m, 0.5, (200_000, 1)).astype(np.float32)
    mc = float(tf.reduce_mean(losses.gaussian_kl_sample(z, np.full_like(z, m), np.full_like(z, log_var))))
    exact = float(losses.gaussian_kl(np.array([[m]]), np.array([[log_var]]))[0])
    assert mc == pytest.approx(exact, abs=5e-3)
