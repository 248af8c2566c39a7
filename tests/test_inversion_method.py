"""InversionSSL: harness (fit, save/reload, config), alpha = 1 is plain cross-entropy, term
selection, schedule, config errors, the paper's backbones, and a 1-D net on MNIST-1D."""

import numpy as np
import keras
import pytest
import tensorflow as tf

from harness import check_method_model
from ssl_pipelines import data, losses, methods, models
from ssl_pipelines.data import ConfigError


@pytest.fixture(scope="module")
def digits_split():
    ds, _ = data.preprocess_dataset(data.load_dataset("digits"), normalization="standardize")
    return data.split_labeled_unlabeled(ds, labels_per_class=3, seed=0)


def small_net(split, seed=0, **kw):
    keras.utils.set_random_seed(seed)
    return models.build_backbone("inv_small_cnn", split.input_shape, 10, filters=[4, 8], **kw)


def stream(split, seed=0):
    return data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=10,
                           batch_unlabeled=12, seed=seed)


def test_inversion_model_harness(digits_split, tmp_path):
    model = methods.InversionSSL(small_net(digits_split), alpha=0.5, beta=0.3, cotangent="onehot",
                                 unsupervised_on="all", reconstruction_layers=["pool_0"], alpha_start=0.9,
                                 beta_start=0.1, schedule_steps=5)
    loaded = check_method_model(model, stream(digits_split), digits_split.x_test[:8], tmp_path,
                                expected_metrics=("cross_entropy", "reconstruction", "entropy", "multiscale", "accuracy"))
    assert isinstance(loaded, methods.InversionSSL)
    for key, value in {"alpha": 0.5, "beta": 0.3, "cotangent": "onehot", "unsupervised_on": "all",
                       "reconstruction_layers": ["pool_0"], "alpha_start": 0.9, "schedule_steps": 5}.items():
        assert getattr(loaded, key) == value, key
    x = tf.constant(digits_split.x_test[:4])
    np.testing.assert_allclose(loaded.reconstruct(x).numpy(), model.reconstruct(x).numpy(), atol=1e-5)


def test_alpha_one_is_plain_cross_entropy(digits_split):
    """Same init, same batch, SGD: one InversionSSL(alpha=1) step == one SupervisedClassifier step,
    although R and E are computed (and non-zero) in the inversion step."""
    batch = next(iter(stream(digits_split)))
    inv = methods.InversionSSL(small_net(digits_split, seed=3), alpha=1.0, beta=0.5)
    sup = methods.SupervisedClassifier(small_net(digits_split, seed=3))
    for w_a, w_b in zip(inv.trainable_weights, sup.trainable_weights):
        np.testing.assert_array_equal(w_a.numpy(), w_b.numpy())
    terms = inv.compute_losses(batch, training=False)
    ce = tf.reduce_mean(losses.cross_entropy_from_logits(batch["y_labeled"], sup(batch["x_labeled"])))
    assert float(terms["loss"]) == pytest.approx(float(ce), rel=1e-6)
    assert float(terms["reconstruction"]) > 0 and float(terms["entropy"]) > 0
    for m in (inv, sup):
        m.compile(optimizer=keras.optimizers.SGD(0.5))
        m.train_step(batch)
    for w_a, w_b in zip(inv.trainable_weights, sup.trainable_weights):
        np.testing.assert_allclose(w_a.numpy(), w_b.numpy(), rtol=1e-5, atol=1e-6)
    # and alpha < 1 does move the weights differently
    inv2 = methods.InversionSSL(small_net(digits_split, seed=3), alpha=0.5)
    inv2.compile(optimizer=keras.optimizers.SGD(0.5))
    inv2.train_step(batch)
    assert not all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(inv2.trainable_weights, sup.trainable_weights))


@pytest.mark.parametrize("which", ["unlabeled", "labeled", "all"])
def test_reconstruction_and_entropy_are_taken_on_the_selected_samples(digits_split, which):
    batch = next(iter(stream(digits_split)))
    model = methods.InversionSSL(small_net(digits_split), alpha=0.6, beta=0.25, unsupervised_on=which)
    terms = model.compute_losses(batch, training=False)
    x = {"labeled": batch["x_labeled"], "unlabeled": batch["x_unlabeled"],
         "all": tf.concat([batch["x_labeled"], batch["x_unlabeled"]], 0)}[which]
    logits = model(x).numpy()
    x_hat = model.reconstruct(x).numpy()
    # independent numpy: softmax cotangent, mean square over pixels, entropy of softmax
    r = np.mean((x_hat - x.numpy()) ** 2)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    e = np.mean(-(p * np.log(p)).sum(-1))
    assert float(terms["reconstruction"]) == pytest.approx(r, rel=1e-4)
    assert float(terms["entropy"]) == pytest.approx(e, rel=1e-4)
    assert float(terms["loss"]) == pytest.approx(0.6 * float(terms["cross_entropy"]) + 0.4 * (0.25 * r + 0.75 * e), rel=1e-4)


def test_labeled_only_batch_has_no_unsupervised_terms(digits_split):
    model = methods.InversionSSL(small_net(digits_split), alpha=0.6)
    batch = model.as_batch((tf.constant(digits_split.x_labeled[:5]), tf.constant(digits_split.y_labeled[:5])))
    terms = model.compute_losses(batch, training=False)
    assert float(terms["reconstruction"]) == 0.0 and float(terms["loss"]) == pytest.approx(0.6 * float(terms["cross_entropy"]))


def test_alpha_beta_schedule_ramps_linearly(digits_split):
    model = methods.InversionSSL(small_net(digits_split), alpha=0.4, beta=0.5, alpha_start=1.0, beta_start=0.0,
                                 schedule_steps=10)
    model.compile(optimizer=keras.optimizers.Adam())
    model.optimizer.build(model.trainable_variables)
    for step, (a, b) in {0: (1.0, 0.0), 5: (0.7, 0.25), 10: (0.4, 0.5), 50: (0.4, 0.5)}.items():
        model.optimizer.iterations.assign(step)
        alpha, beta = model.loss_weights()
        assert (float(alpha), float(beta)) == pytest.approx((a, b)), step


@pytest.mark.parametrize("kwargs,match", [
    ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\], got 1.5"),
    ({"beta": "high"}, r"beta must be a number in \[0, 1\], got 'high'"),
    ({"cotangent": "sum"}, r"cotangent must be one of .* got 'sum'"),
    ({"unsupervised_on": "some"}, r"unsupervised_on must be one of \['unlabeled', 'all', 'labeled'\], got 'some'"),
    ({"reconstruction_distance": "l1"}, r"reconstruction_distance must be one of \['cosine', 'mse'\], got 'l1'"),
    ({"reconstruction_layers": ["conv_9"]}, r"'conv_9' is not a layer"),
    ({"reconstruction_layers": ["conv_0"], "reconstruction_layer_weights": [1.0, 2.0]}, "2 entries for 1"),
    ({"schedule_steps": -1}, "schedule_steps must be a non-negative integer, got -1"),
])
def test_bad_arguments_raise_config_errors(digits_split, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        methods.InversionSSL(small_net(digits_split), **kwargs)


@pytest.mark.parametrize("name", ["inv_small_cnn", "inv_large_cnn", "inv_resnet2_32", "inv_resnet3_16"])
@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_paper_backbones_are_bn_free_piecewise_affine_classifiers(name, pooling):
    kwargs = {"width": 0.05} if name == "inv_large_cnn" else {}
    net = models.build_backbone(name, (12, 12, 1), 10, pooling=pooling, **kwargs)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in net.layers)
    pools = [layer for layer in net.layers if "Pooling" in type(layer).__name__]
    assert pools and all(("Max" in type(p).__name__) == (pooling == "max") for p in pools)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 12, 12, 1)), tf.float32)
    assert net(x).shape == (2, 10)
    from ssl_pipelines.layers import invert

    with tf.GradientTape() as tape:
        rec = invert(net, x).reconstruction
        r = tf.reduce_mean(tf.square(rec - x))
    assert rec.shape == x.shape and float(tf.reduce_max(tf.abs(rec))) > 0
    kernels = [v for v in net.trainable_variables if "kernel" in v.path]
    assert all(g is not None for g in tape.gradient(r, kernels)), "every kernel must get a reconstruction gradient"


def test_resnet_names_and_bad_depth():
    net = models.build_backbone("inv_resnet3_16", (8, 8, 1), 10)
    assert sum("_add" in layer.name for layer in net.layers) == 9  # 3 stages x depth 3
    assert net.get_layer("stem").filters == 16 and net.get_layer("stage3_block1_conv1").filters == 64
    with pytest.raises(ConfigError, match="depth must be a positive integer, got 0"):
        models.build_backbone("inv_resnet2_32", (8, 8, 1), 10, depth=0)
    with pytest.raises(ConfigError, match="pooling must be one of \\['max', 'mean'\\], got 'avg2'"):
        models.build_backbone("inv_small_cnn", (8, 8, 1), 10, pooling="avg2")


def test_bird10_topology_on_raw_audio_and_short_signals():
    net = models.build_backbone("conv1d_bird10", (22050, 1), 10)  # 1 s of 22.05 kHz audio
    conv1 = net.get_layer("conv1")
    assert (conv1.filters, conv1.kernel_size, conv1.strides) == (42, (1024,), (512,))
    assert net.get_layer("pool1").pool_size == (4,) and net.get_layer("dense").units == 32
    assert net.get_layer("dropout").rate == 0.5 and net.output.shape[-1] == 10
    with pytest.raises(ConfigError, match="signals of length 40 are too short"):
        models.build_backbone("conv1d_bird10", (40, 1), 10)
    with pytest.raises(ConfigError, match=r"needs \(L, C\) signals"):
        models.build_backbone("conv1d_bird10", (8, 8, 1), 10)


@pytest.fixture(scope="module")
def mnist1d_split():
    """MNIST-1D generated offline (no download): 4000 train / 1000 test signals of length 40."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 5000
    d = make_dataset(args)
    ds = data.Dataset(d["x"][..., None].astype(np.float32), d["y"].astype(np.int64),
                      d["x_test"][..., None].astype(np.float32), d["y_test"].astype(np.int64), 10, "mnist1d")
    data.validate_dataset(ds)
    return data.split_labeled_unlabeled(ds, labels_per_class=50, seed=0)


@pytest.mark.heavy(10)
def test_1d_bird10_net_trains_with_the_inversion_loss(mnist1d_split, tmp_path):
    sp = mnist1d_split
    keras.utils.set_random_seed(0)
    net = models.build_backbone("conv1d_bird10", sp.input_shape, 10, filters=32, kernel_size=5, strides=1,
                                filters2=32, dense_units=64, dropout=0.1)
    model = methods.InversionSSL(net, alpha=0.7, beta=0.5)
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    s = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=50, batch_unlabeled=50, seed=0)
    before = model.evaluate(sp.x_test, sp.y_test, verbose=0)[1]
    hist = model.fit(s, epochs=6, steps_per_epoch=50, verbose=0).history
    acc = model.evaluate(sp.x_test, sp.y_test, verbose=0)[1]
    assert all(np.isfinite(v).all() for v in hist.values())
    assert acc > 0.35 and acc > before + 0.15, (before, acc)  # chance is 0.1
    x_hat = model.reconstruct(sp.x_test[:4]).numpy()
    assert x_hat.shape == (4, 40, 1) and np.isfinite(x_hat).all()
    path = tmp_path / "inv1d.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(sp.x_test[:8], verbose=0),
                               model.predict(sp.x_test[:8], verbose=0), atol=1e-5)


def test_multiscale_terms_enter_the_reconstruction_part_of_eq10(digits_split):
    batch = next(iter(stream(digits_split)))
    model = methods.InversionSSL(small_net(digits_split), alpha=0.5, beta=0.8, reconstruction_layers=["conv_0", "pool_1"],
                                 reconstruction_layer_weights=[0.01, 0.1])
    t = {k: float(v) for k, v in model.compute_losses(batch, training=False).items() if not k.startswith("_")}
    assert t["multiscale"] > 0
    assert t["loss"] == pytest.approx(0.5 * t["cross_entropy"] + 0.5 * (0.8 * (t["reconstruction"] + t["multiscale"])
                                                                         + 0.2 * t["entropy"]), rel=1e-5)
    # the per-layer term on the unlabeled part, recomputed from the layer activations by hand:
    # f^-1_l = (dz/dz_l)^T softmax(z), weighted summed squares
    from ssl_pipelines.layers.inversion import layer_output_model

    xu = batch["x_unlabeled"]
    feats = layer_output_model(model.backbone, ["conv_0", "pool_1"])
    with tf.GradientTape() as tape:
        h0, h1, z = feats(xu)
    g0, g1 = tape.gradient(z, [h0, h1], output_gradients=tf.nn.softmax(z))
    expected = np.mean(0.01 * np.sum((g0 - h0).numpy().reshape(len(xu), -1) ** 2, 1)
                       + 0.1 * np.sum((g1 - h1).numpy().reshape(len(xu), -1) ** 2, 1))
    assert t["multiscale"] == pytest.approx(expected, rel=1e-4)
