"""M1, M2 and M1+M2 models: one-step fit, `.keras` save/reload, config round trip (harness), the
sampling layer, and that the unlabeled term alone moves the classifier."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_layer, check_method_model, load_restoring_all_state
from ssl_pipelines import data, layers, methods, models
from ssl_pipelines.data import ConfigError

Z = 4


@pytest.fixture(scope="module")
def split():
    ds = data.load_dataset("digits")
    return data.split_labeled_unlabeled(ds, labels_per_class=2, seed=0)


def stream(sp, bl=4, bu=8):
    return data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=bl, batch_unlabeled=bu)


def make_m1(sp, likelihood="bernoulli", seed=0):
    enc = models.gaussian_encoder(sp.input_shape, latent_dim=Z, hidden_units=[16])
    dec = models.decoder(Z, sp.input_shape, hidden_units=[16], likelihood=likelihood)
    clf = models.build_backbone("mlp", (Z,), 10, hidden_units=[])
    return methods.M1(clf, enc, dec, likelihood=likelihood, seed=seed)


def make_m2(input_shape, likelihood="bernoulli", n_l=20, n_u=100, alpha=0.1, init_std=1e-3, **m2_kwargs):
    clf = models.build_backbone("mlp", input_shape, 10, hidden_units=[16], activation="softplus",
                                kernel_init_std=init_std)
    enc = models.conditional_gaussian_encoder(input_shape, 10, latent_dim=Z, hidden_units=[16], kernel_init_std=init_std)
    dec = models.decoder(Z, input_shape, hidden_units=[16], likelihood=likelihood, num_classes=10, kernel_init_std=init_std)
    return methods.M2(clf, enc, dec, num_classes=10, num_labeled=n_l, num_unlabeled=n_u, alpha=alpha,
                      likelihood=likelihood, binarize=likelihood == "bernoulli", seed=0, **m2_kwargs)


def test_gaussian_sampling_layer_roundtrip_and_statistics(tmp_path):
    mean = np.full((2000, 3), 2.0, np.float32)
    log_var = np.full((2000, 3), np.log(0.25), np.float32)
    # harness round trip (at inference the layer can return the mean, so reloaded outputs are comparable)
    out = check_layer(layers.GaussianSampling, {"seed": 3, "deterministic_inference": True}, [mean, log_var], tmp_path)
    np.testing.assert_array_equal(np.asarray(out), mean)
    z = np.asarray(layers.GaussianSampling(seed=3)([mean, log_var]))
    assert z.shape == (2000, 3)
    assert abs(z.mean() - 2.0) < 0.05 and abs(z.std() - 0.5) < 0.05
    # gradients reach mean and log_var (the reparameterization trick)
    m, lv = tf.Variable(mean[:4]), tf.Variable(log_var[:4])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layers.GaussianSampling(seed=1)([m, lv]))
    gm, glv = tape.gradient(out, [m, lv])
    np.testing.assert_allclose(gm.numpy(), 1.0)
    assert np.abs(glv.numpy()).sum() > 0
    det = layers.GaussianSampling(deterministic_inference=True)
    np.testing.assert_array_equal(np.asarray(det([mean[:2], log_var[:2]], training=False)), mean[:2])


def test_m1_trains_saves_and_reloads(split, tmp_path):
    model = make_m1(split)
    check_method_model(model, stream(split), split.x_test[:8], tmp_path, expected_metrics=("reconstruction", "kl_z"))
    mean, log_var = model.encode(split.x_test[:3])
    assert mean.shape == (3, Z) and log_var.shape == (3, Z)
    assert model.decode_mean(mean).shape == (3, 64)


def test_m1_gaussian_likelihood_trains(split, tmp_path):
    check_method_model(make_m1(split, likelihood="gaussian"), stream(split), split.x_test[:8], tmp_path)


def test_m2_trains_saves_and_reloads(split, tmp_path):
    model = make_m2(split.input_shape)
    loaded = check_method_model(model, stream(split), split.x_test[:8], tmp_path,
                                expected_metrics=M2_TERMS + ("accuracy",))
    assert loaded.num_labeled == 20 and loaded.alpha == pytest.approx(0.1) and loaded.binarize
    counts = model.count_params_by_part()
    assert list(counts) == ["total", "backbone", "encoder", "decoder"]
    assert counts["total"] == counts["backbone"] + counts["encoder"] + counts["decoder"] > 0
    assert model.reconstruct(split.x_test[:3]).shape == (3, 64)
    y = tf.one_hot(tf.range(10), 10)[None]
    assert model.generate(tf.zeros((2, 10, Z)), tf.tile(y, [2, 1, 1])).shape == (2, 10, 64)


M2_TERMS = ("labeled_bound", "unlabeled_bound", "classification", "entropy", "kl_z", "reconstruction")


def test_m1_m2_trains_saves_reloads_and_only_updates_m2(split, tmp_path):
    m1 = make_m1(split)
    active = [0, 2, 3]
    m2 = make_m2((len(active),), likelihood="gaussian")
    model = methods.M1M2(m1, m2, active_units=active)
    enc_before = [w.numpy().copy() for w in m1.encoder.weights]
    loaded = check_method_model(model, stream(split), split.x_test[:8], tmp_path, expected_metrics=M2_TERMS)
    for a, w in zip(enc_before, m1.encoder.weights):
        np.testing.assert_array_equal(a, w.numpy())
    assert loaded.active_units == active
    # call uses the posterior mean: deterministic
    np.testing.assert_array_equal(np.asarray(model(split.x_test[:4])), np.asarray(model(split.x_test[:4])))
    y = tf.tile(tf.one_hot(tf.range(10), 10)[None], [2, 1, 1])
    assert model.generate(tf.zeros((2, 10, Z)), y).shape == (2, 10, 64)


@pytest.mark.parametrize("kl_weight", [1.0, 0.1])
def test_m1_kl_warmup_weights_the_kl_by_the_step_then_is_the_elbo(split, kl_weight):
    """KL factor ``kl_weight * min(1, t / T)`` while training; the ELBO (factor 1) outside training."""
    import keras

    from ssl_pipelines.methods.m1 import kl_factor

    enc = models.gaussian_encoder(split.input_shape, latent_dim=Z, hidden_units=[16])
    dec = models.decoder(Z, split.input_shape, hidden_units=[16])
    m1 = methods.M1(models.build_backbone("mlp", (Z,), 10, hidden_units=[]), enc, dec, binarize=False,
                    kl_warmup_steps=8, kl_weight=kl_weight)
    m1.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = {"x_labeled": tf.constant(split.x_labeled[:4])}
    for step, weight in ((0, 0.0), (2, 0.25), (8, 1.0), (20, 1.0)):
        m1.optimizer.iterations.assign(step)
        assert float(kl_factor(m1, training=True)) == pytest.approx(kl_weight * weight)
        terms = m1.compute_losses(batch, training=True)
        # one reparameterized sample per call: recompute reconstruction and KL from the same terms
        assert float(terms["loss"]) == pytest.approx(
            float(terms["reconstruction"]) + kl_weight * weight * float(terms["kl_z"]), rel=1e-5)
    assert kl_factor(m1, training=False) == 1.0
    loaded = methods.M1.from_config(m1.get_config())
    assert (loaded.kl_warmup_steps, loaded.kl_weight) == (8, kl_weight)
    with pytest.raises(ConfigError, match="kl_warmup_steps must be a non-negative integer, got -1"):
        methods.M1(m1.backbone, enc, dec, kl_warmup_steps=-1)
    with pytest.raises(ConfigError, match=r"kl_weight must be a number in \(0, 1\], got 0"):
        methods.M1(m1.backbone, enc, dec, kl_weight=0)


def test_m1_kl_weight_without_warmup_scales_the_kl_from_the_first_step(split):
    import keras

    from ssl_pipelines.methods.m1 import kl_factor

    m1 = make_m1(split)
    m1 = methods.M1(m1.backbone, m1.encoder, m1.decoder, binarize=False, kl_weight=0.25)
    m1.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert float(kl_factor(m1, training=True)) == 0.25
    assert float(kl_factor(m1, training=False)) == 1.0


def test_knn_graph_is_the_symmetric_nearest_neighbour_adjacency():
    from ssl_pipelines.methods.m1 import knn_graph

    # points on a line at 0, 1, 3, 7: nearest neighbours 0->1, 1->0, 3->1, 7->3
    w = knn_graph(np.array([[0.0], [1.0], [3.0], [7.0]]), 1, chunk=3).toarray()
    np.testing.assert_array_equal(w, [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]])
    with pytest.raises(ConfigError, match=r"neighbors must be in \[1, 3\] for 4 points, got 4"):
        knn_graph(np.zeros((4, 2)), 4)


def test_label_spreading_reaches_the_hand_computed_fixed_point():
    """A chain 0 - 1 - 2 - 3 - 4 (points at 0, 1, 2.5, 4.5, 7, one nearest neighbour each), points 0 and
    3 labeled 0 and 1: the scores of 1, 2, 4 are Eq. 2's F* = (1 - a)(I - a S)^-1 Y, S = D^-1/2 W D^-1/2."""
    from ssl_pipelines.methods.m1 import label_spreading, label_spreading_scores

    a = 0.9
    w = np.diag(np.ones(4), 1) + np.diag(np.ones(4), -1)  # the chain's edges
    s = w / np.sqrt(np.outer(w.sum(1), w.sum(1)))
    y = np.zeros((5, 2))
    y[0, 0] = y[3, 1] = 1.0
    expected = (1 - a) * np.linalg.solve(np.eye(5) - a * s, y)
    z = np.array([[0.0], [1.0], [2.5], [4.5], [7.0]])
    got = label_spreading_scores(z[[0, 3]], np.array([0, 1]), z[[1, 2, 4]], 2, neighbors=1, alpha=a, iterations=400)
    np.testing.assert_allclose(got, expected[[1, 2, 4]], rtol=1e-6, atol=1e-9)
    assert expected[1].argmax() == 0 and expected[2].argmax() == 1 and expected[4].argmax() == 1
    np.testing.assert_array_equal(label_spreading(z[[0, 3]], np.array([0, 1]), z[[1, 2, 4]], 2, 1, a, 400), [0, 1, 1])
    with pytest.raises(ConfigError, match=r"alpha must be a number in \(0, 1\), got 1.0"):
        label_spreading(z[:2], np.array([0, 1]), z[2:], 2, alpha=1.0)


def test_m1_m2_can_train_on_the_posterior_means_instead_of_samples(split):
    """``sample_latents=False``: M2's batches hold ``mu(x)`` (active units), the same every call;
    the default resamples ``z1 ~ q(z1|x)`` every batch (the reference code)."""
    active = [0, 2]
    seen = []
    m2 = make_m2((len(active),), likelihood="gaussian")
    m2.compute_losses = lambda inner, training=True: seen.append(inner) or {"loss": tf.constant(0.0)}
    batch = next(iter(stream(split)))
    m1 = make_m1(split)
    means = np.asarray(m1.encode(batch["x_labeled"])[0])
    for sample in (False, True):
        model = methods.M1M2(m1, m2, active_units=active, sample_latents=sample)
        model.compute_losses(batch)
        model.compute_losses(batch)
        first, second = (np.asarray(b["x_labeled"]) for b in seen[-2:])
        if sample:
            assert not np.allclose(first, second)
        else:
            np.testing.assert_allclose(first, means[:, active], atol=1e-6)
            np.testing.assert_array_equal(first, second)
            assert methods.M1M2.from_config(model.get_config()).sample_latents is False


def test_saved_m1_m2_reloads_the_frozen_pretrained_m1_with_its_optimizer_state(split, tmp_path):
    """The pipeline's M1 is pretrained (its Adam state built over its weights), then frozen inside
    M1+M2. Loading the saved M1+M2 restores that state too: Keras used to build the frozen M1's
    optimizer over no variables and skip the saved ones with a warning."""
    import keras

    m1 = make_m1(split)
    m1.compile(optimizer=keras.optimizers.Adam(1e-3))
    m1.fit(stream(split), epochs=1, steps_per_epoch=2, verbose=0)
    model = methods.M1M2(m1, make_m2((Z,), likelihood="gaussian"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(stream(split), epochs=1, steps_per_epoch=2, verbose=0)
    path = tmp_path / "m1_m2.keras"
    model.save(path)
    loaded = load_restoring_all_state(path)
    assert len(m1.optimizer.variables) > 2
    for saved, restored in zip(m1.optimizer.variables, loaded.m1.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))
    assert not loaded.m1.trainable and not loaded.m1.trainable_variables  # still frozen
    assert len(loaded.trainable_variables) == len(model.trainable_variables) == len(model.m2.trainable_variables)


def test_unlabeled_bound_alone_moves_the_classifier(split):
    """Gradients reach q(y|x) from U(x) (weights q(y|x) and entropy), with no labeled term at all."""
    model = make_m2(split.input_shape, alpha=0.0, init_std=0.1)
    batch = next(iter(stream(split)))
    with tf.GradientTape() as tape:
        terms = model.compute_losses(batch)
        u = terms["unlabeled_bound"]
    grads = tape.gradient(u, model.backbone.trainable_variables)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 1e-6
    # ...and the labeled bound does not touch the classifier
    with tf.GradientTape() as tape:
        lb = model.compute_losses(batch)["labeled_bound"]
    assert all(g is None for g in tape.gradient(lb, model.backbone.trainable_variables))


def test_m2_objective_in_the_model_is_the_scaled_sum(split):
    """The tracked total equals (N_l/N) L + (N_u/N) U + alpha CE of the tracked terms."""
    model = make_m2(split.input_shape, n_l=20, n_u=180, alpha=0.1)
    t = model.compute_losses(next(iter(stream(split))))
    expected = 0.1 * float(t["labeled_bound"]) + 0.9 * float(t["unlabeled_bound"]) + 0.1 * float(t["classification"])
    assert float(t["loss"]) == pytest.approx(expected, rel=1e-5)


def test_m2_mean_weighting_is_the_unweighted_sum_and_round_trips(split):
    """bound_weighting="mean": loss = L + U + alpha CE of the tracked terms (not 0.1 L + 0.9 U)."""
    model = make_m2(split.input_shape, n_l=20, n_u=180, alpha=0.1, bound_weighting="mean", kl="sample")
    batch = next(iter(stream(split)))
    t = model.compute_losses(batch)
    expected = float(t["labeled_bound"]) + float(t["unlabeled_bound"]) + 0.1 * float(t["classification"])
    assert float(t["loss"]) == pytest.approx(expected, rel=1e-5)
    labeled_only = model.compute_losses({k: v for k, v in batch.items() if k != data.X_UNLABELED})
    assert float(labeled_only["loss"]) == pytest.approx(
        float(labeled_only["labeled_bound"]) + 0.1 * float(labeled_only["classification"]), rel=1e-5)
    config = model.get_config()
    assert config["bound_weighting"] == "mean" and config["kl"] == "sample"
    copy = methods.M2.from_config(config)
    assert copy.bound_weighting == "mean" and copy.kl == "sample"
    assert make_m2(split.input_shape).get_config()["bound_weighting"] == "paper"


def test_m2_sampled_kl_differs_from_the_analytic_one_on_the_same_posterior(split):
    model = make_m2(split.input_shape, init_std=None)  # Glorot: q(z|x,y) far enough from N(0, I)
    x = tf.constant(split.x_labeled[:8], tf.float32)
    y = tf.one_hot(split.y_labeled[:8], 10)[:, None, :]
    analytic = model.bound_terms(x, y)["kl_z"].numpy()
    model.kl = "sample"
    sampled = model.bound_terms(x, y)["kl_z"].numpy()
    assert analytic.shape == sampled.shape == (8, 1) and np.all(analytic > 0)
    assert np.all(np.isfinite(sampled)) and not np.allclose(sampled, analytic, atol=1e-3)


def test_encoder_softplus_log_variance_and_named_initializer():
    enc = models.conditional_gaussian_encoder((8, 8, 1), 10, latent_dim=Z, hidden_units=[16], kernel_init_std=None,
                                              kernel_initializer="glorot_normal", log_var_activation="softplus")
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    y = np.tile(np.eye(10, dtype="float32")[None], (4, 1, 1))
    _, log_var = enc([x, y])
    assert log_var.shape == (4, 10, Z) and float(tf.reduce_min(log_var)) > 0.0  # variance >= 1
    assert enc.get_layer("hidden_0_x").get_config()["kernel_initializer"]["class_name"] == "GlorotNormal"
    with pytest.raises(ConfigError, match=r"log_var_activation must be one of \['linear', 'softplus'\], got 'relu'"):
        models.conditional_gaussian_encoder((8, 8, 1), 10, hidden_units=[16], log_var_activation="relu")
    with pytest.raises(ConfigError, match=r"kernel_initializer must be one of \['glorot_uniform', .*got 'xavier'"):
        models.decoder(Z, (8, 8, 1), hidden_units=[16], kernel_init_std=None, kernel_initializer="xavier")


def test_bad_arguments_raise_config_error(split):
    with pytest.raises(ConfigError, match="likelihood must be one of"):
        models.decoder(Z, (8, 8, 1), likelihood="poisson")
    with pytest.raises(ConfigError, match="alpha must be a non-negative number"):
        make_m2(split.input_shape, alpha=-1.0)
    with pytest.raises(ConfigError, match=r"bound_weighting must be one of \['paper', 'mean'\], got 'sum'"):
        make_m2(split.input_shape, bound_weighting="sum")
    with pytest.raises(ConfigError, match=r"kl must be one of \['analytic', 'sample'\], got 'mc'"):
        make_m2(split.input_shape, kl="mc")
    with pytest.raises(ConfigError, match="hidden_units must be a list of positive integers"):
        models.gaussian_encoder((8, 8, 1), hidden_units=[0])


def test_active_latent_units():
    from ssl_pipelines.methods.m1 import active_latent_units

    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 1, 500), rng.normal(0, 0.01, 500), rng.normal(3, 0.5, 500)], axis=1)
    np.testing.assert_array_equal(active_latent_units(mu, 0.1), [0, 2])


def test_m2_unlabeled_bound_equals_an_independent_computation_from_the_sub_models():
    """Eq. (7) recomputed by hand, not from the model's reported terms: for each class c run the
    encoder on [x, onehot(c)], the decoder on [z = mean, onehot(c)] (the sampler is made
    deterministic), then -L(x,c) = log p(x|c,z) + log(1/C) - KL(q(z|x,c) || N(0, I)) in numpy, and
    U(x) = sum_c q(c|x) L(x,c) - H(q(y|x)) with q from the classifier's logits."""
    rng = np.random.default_rng(0)
    input_shape, C = (4, 4, 1), 10
    clf = models.build_backbone("mlp", input_shape, C, hidden_units=[8], activation="softplus")
    enc = models.conditional_gaussian_encoder(input_shape, C, latent_dim=3, hidden_units=[8], kernel_init_std=0.3)
    dec = models.decoder(3, input_shape, hidden_units=[8], num_classes=C, kernel_init_std=0.3)
    m2 = methods.M2(clf, enc, dec, num_classes=C, num_labeled=10, num_unlabeled=20, binarize=False)
    m2.sampler = lambda inputs: inputs[0]  # z = mean of q(z|x,y): the same z in both computations
    x_l = rng.uniform(size=(2, *input_shape)).astype(np.float32)
    for x in rng.uniform(size=(3, 1, *input_shape)).astype(np.float32):
        batch = {"x_labeled": x_l, "y_labeled": np.array([0, 1]), "x_unlabeled": x}
        batch = {k: tf.convert_to_tensor(v) for k, v in batch.items()}
        reported = float(m2.compute_losses(batch, training=False)["unlabeled_bound"])
        logits = np.asarray(clf(x, training=False), np.float64)[0]
        q = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        bounds = []
        for c in range(C):
            y = np.eye(C, dtype=np.float32)[c][None, None]
            mean, log_var = (np.asarray(t, np.float64)[0, 0] for t in enc([tf.constant(x), tf.constant(y)], training=False))
            out = np.asarray(dec([tf.constant(mean[None, None], tf.float32), tf.constant(y)], training=False),
                             np.float64)[0, 0]
            xf = x.reshape(-1).astype(np.float64)
            log_px = np.sum(xf * out - np.logaddexp(0.0, out))  # Bernoulli with logits
            kl = 0.5 * np.sum(np.exp(log_var) + mean ** 2 - 1.0 - log_var)
            bounds.append(-(log_px + np.log(1.0 / C) - kl))
        expected = float(np.sum(q * np.array(bounds)) + np.sum(q * np.log(q)))  # - H(q) = + sum q log q
        assert reported == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_binarize_once_is_a_seeded_fixed_draw_that_dynamic_binarization_keeps():
    from ssl_pipelines.methods.m1 import binarize_once, dynamic_binarize

    x = np.random.default_rng(3).random((400, 8, 8, 1)).astype("float32")
    a, b = binarize_once(x, 7), binarize_once(x, 7)
    np.testing.assert_array_equal(a, b)  # fixed: the same seed draws the same pixels
    assert set(np.unique(a)) == {0.0, 1.0} and not np.array_equal(a, binarize_once(x, 8))
    assert abs(a.mean() - x.mean()) < 0.01  # b ~ Bernoulli(x): E[b] = x
    again = dynamic_binarize(tf.constant(a), keras.random.SeedGenerator(0))
    np.testing.assert_array_equal(np.asarray(again), a)  # binary inputs pass dynamic binarization unchanged


def test_fixed_labeled_binarization_binarizes_the_labeled_part_only(split):
    from ssl_pipelines.params.vae import parse_m2
    from ssl_pipelines.pipelines.common_generative import fixed_labeled_binarization

    fixed = fixed_labeled_binarization(split, seed=0)
    assert set(np.unique(fixed.x_labeled)) <= {0.0, 1.0} and fixed.x_labeled.shape == split.x_labeled.shape
    assert fixed.x_unlabeled is split.x_unlabeled and not set(np.unique(split.x_labeled)) <= {0.0, 1.0}
    assert parse_m2({"binarize_labeled": "fixed"}).binarize_labeled == "fixed"
    assert parse_m2(None).binarize_labeled == "dynamic"
    with pytest.raises(ConfigError, match=r"model.binarize_labeled must be one of \['dynamic', 'fixed'\], got 'once'"):
        parse_m2({"binarize_labeled": "once"})
