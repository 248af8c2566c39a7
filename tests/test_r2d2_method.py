"""PseudoLabelTable, R2D2 train_step (table update rule, fixed labeled rows, row-sum invariance,
reprediction) and .keras round trips with the table (METHODS.md §4.2, §4.7)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_layer, check_method_model
from ssl_pipelines import data, layers, methods, models

N_L, N_U, C = 20, 40, 10


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def split():
    ds = data.load_dataset("digits")
    sp = data.split_labeled_unlabeled(ds, labels_per_class=2, max_unlabeled=N_U, seed=0)
    assert len(sp.x_labeled) == N_L and len(sp.x_unlabeled) == N_U
    return sp


def _model(sp, **kw):
    keras.utils.set_random_seed(0)
    net = models.build_backbone("lenet", sp.input_shape, C, filters=[4, 8], dense_units=16, padding="same")
    model = methods.R2D2(net, num_examples=N_L + N_U, num_labeled=N_L, **kw)
    model.pseudo_labels.set_labeled(sp.y_labeled)
    model.repredict(sp.x_unlabeled)
    return model


def test_pseudo_label_table_layer_round_trips(tmp_path):
    out = check_layer(layers.PseudoLabelTable, {"num_examples": 6, "num_classes": 3, "num_labeled": 2,
                                                "labeled_logit_scale": 5.0},
                      tf.constant([0, 3, 5], tf.int32), tmp_path)
    assert out.shape == (3, 3)


def test_table_writes_labeled_rows_repredicts_unlabeled_rows_and_skips_labeled_updates():
    table = layers.PseudoLabelTable(5, 3, num_labeled=2)
    table.set_labeled(np.array([2, 0]))
    np.testing.assert_array_equal(table.table.numpy()[:2], [[0, 0, 10], [10, 0, 0]])
    assert np.allclose(table.table.numpy()[2:], 0)
    new = np.arange(9, dtype=np.float32).reshape(3, 3)
    table.repredict(new)
    np.testing.assert_array_equal(table.table.numpy()[:2], [[0, 0, 10], [10, 0, 0]])  # untouched
    np.testing.assert_array_equal(table.table.numpy()[2:], new)  # exactly the unlabeled rows
    before = table.table.numpy().copy()
    table.apply_gradient(np.array([0, 3, 3]), np.ones((3, 3), np.float32), learning_rate=0.5)
    after = table.table.numpy()
    np.testing.assert_array_equal(after[0], before[0])  # labeled row skipped
    np.testing.assert_allclose(after[3], before[3] - 1.0)  # duplicate index: two steps of 0.5
    np.testing.assert_array_equal(after[[1, 2, 4]], before[[1, 2, 4]])
    with pytest.raises(ValueError, match="shape"):
        table.repredict(np.zeros((2, 3), np.float32))


def test_train_step_updates_table_by_lambda_alpha_p_tilde_minus_p_hat_over_b(split):
    model = _model(split, alpha=0.1, beta=0.03, label_lr=4000.0, label_lr_reference_batch_size=512)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=4,
                             batch_unlabeled=12, with_indices=True, seed=3)
    batch = next(iter(stream))
    # right after a reprediction p_tilde = p_hat and the step is zero: start from other pseudo-labels
    model.pseudo_labels.repredict(np.random.default_rng(0).normal(size=(N_U, C)).astype(np.float32))
    x = np.concatenate([batch["x_labeled"], batch["x_unlabeled"]])
    rows = np.concatenate([batch["index_labeled"], batch["index_unlabeled"]])
    table0 = model.pseudo_labels.table.numpy().copy()
    p_hat = _softmax(np.asarray(model(x, training=True), np.float64))  # lenet has no dropout/BN
    p_tilde = _softmax(table0[rows].astype(np.float64))
    model.train_on_batch(batch)
    b = 16
    lam = 4000.0 * b / 512  # rescaled lambda: per-example step 4000 * 0.1 / 512
    expected = table0.copy()
    u = rows >= N_L
    expected[rows[u]] -= lam * 0.1 * (p_tilde[u] - p_hat[u]) / b
    table1 = model.pseudo_labels.table.numpy()
    np.testing.assert_allclose(table1, expected, atol=1e-5)
    assert not np.allclose(table1[rows[u]], table0[rows[u]])  # the update is not trivially zero
    np.testing.assert_array_equal(table1[:N_L], table0[:N_L])


def test_training_keeps_labeled_rows_and_row_sums_and_learns(split):
    model = _model(split)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9, nesterov=True))
    table0 = model.pseudo_labels.table.numpy().copy()
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=8,
                             batch_unlabeled=16, with_indices=True, seed=1, augment={"max_shift": 1})
    hist = model.fit(stream, epochs=2, steps_per_epoch=10, verbose=0)
    assert {"loss", "kl", "entropy", "accuracy", "pseudo_label_change"} <= set(hist.history)
    table1 = model.pseudo_labels.table.numpy()
    np.testing.assert_array_equal(table1[:N_L], table0[:N_L])
    np.testing.assert_allclose(table1[:N_L], 10 * np.eye(C)[split.y_labeled])
    np.testing.assert_allclose(table1.sum(axis=1), table0.sum(axis=1), atol=1e-4)  # equality constraint
    assert np.abs(table1[N_L:] - table0[N_L:]).max() > 1e-3
    # reprediction overwrites exactly the unlabeled rows with the eval-mode logits
    logits = model.repredict(split.x_unlabeled)
    np.testing.assert_allclose(logits, np.asarray(model.predict(split.x_unlabeled, verbose=0)), atol=1e-5)
    np.testing.assert_allclose(model.pseudo_labels.table.numpy()[N_L:], logits, atol=0)
    np.testing.assert_array_equal(model.pseudo_labels.table.numpy()[:N_L], table0[:N_L])
    hard = model.hard_pseudo_labels()
    np.testing.assert_array_equal(hard[:N_L], split.y_labeled)


def test_r2d2_model_round_trips_with_its_table(split, tmp_path):
    model = _model(split, alpha=0.2, beta=0.05, label_lr=100.0, label_lr_reference_batch_size=None)
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=4,
                             batch_unlabeled=8, with_indices=True)
    loaded = check_method_model(model, stream, split.x_test[:8], tmp_path, expected_metrics=("kl", "entropy"))
    np.testing.assert_array_equal(loaded.pseudo_labels.table.numpy(), model.pseudo_labels.table.numpy())
    assert (loaded.alpha, loaded.beta, loaded.label_lr, loaded.label_lr_reference_batch_size) == (0.2, 0.05, 100.0, None)
    assert loaded.num_labeled == N_L and loaded.num_examples == N_L + N_U
    assert loaded.effective_label_lr(64) == 100.0


def test_r2d2_needs_indices(split):
    model = _model(split)
    model.compile(optimizer="sgd")
    stream = data.ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=4, batch_unlabeled=8)
    with pytest.raises(ValueError, match="with_indices=True"):
        model.fit(stream, epochs=1, steps_per_epoch=1, verbose=0)


@pytest.mark.parametrize("name,kwargs,shape", [
    ("lenet", {}, (28, 28, 1)), ("lenet", {"padding": "same", "embedding_units": 2}, (8, 8, 1)),
    ("resnet", {"depth": 8}, (32, 32, 3)), ("resnet", {"depth": 14, "width": 2}, (8, 8, 1)),
])
def test_lenet_and_resnet_output_logits_and_round_trip(name, kwargs, shape, tmp_path):
    net = models.build_backbone(name, shape, 10, **kwargs)
    x = np.random.default_rng(0).random((2, *shape), np.float32)
    out = np.asarray(net(x))
    assert out.shape == (2, 10)
    net.save(tmp_path / "net.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / "net.keras")(x)), out, atol=1e-5)


def test_backbone_argument_errors():
    with pytest.raises(data.ConfigError, match="depth must be 6n\\+2"):
        models.build_backbone("resnet", (32, 32, 3), 10, depth=10)
    with pytest.raises(data.ConfigError, match="padding must be 'valid' or 'same'"):
        models.build_backbone("lenet", (28, 28, 1), 10, padding="full")


@pytest.mark.heavy(14)
def test_table_update_under_mirrored_strategy_matches_single_device(tmp_path):
    """With 2 replicas every replica applies all rows' pseudo-label steps (all_gather), so the
    table equals the single-device one (run in a subprocess: logical devices need a fresh TF)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent('''
        import sys, numpy as np, keras, tensorflow as tf
        from ssl_pipelines.training.distribute import make_strategy
        mirrored = make_strategy("mirrored", logical_cpu_devices=2)
        from ssl_pipelines import data, methods, models, training
        sp = data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=4, max_unlabeled=200, seed=0)
        training.set_global_seed(0)
        kw = dict(filters=[4, 8], dense_units=16, padding="same")
        init = models.build_backbone("lenet", sp.input_shape, 10, **kw).get_weights()
        rand = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
        def run(strategy):
            with strategy.scope():
                net = models.build_backbone("lenet", sp.input_shape, 10, **kw)
                net.set_weights(init)
                m = methods.R2D2(net, num_examples=240, num_labeled=40)
                m.compile(optimizer=keras.optimizers.SGD(0.03))
            m.pseudo_labels.set_labeled(sp.y_labeled)
            m.pseudo_labels.repredict(rand)
            s = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=8, batch_unlabeled=16,
                                with_indices=True)
            training.fit_model(m, s, epochs=1, steps_per_epoch=2, verbose=0)
            return m.pseudo_labels.table.numpy()
        a = run(tf.distribute.get_strategy())
        b = run(mirrored)
        np.save(sys.argv[1], np.stack([a, b]))
    ''')
    out = tmp_path / "tables.npy"
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = np.load(out)
    rand = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
    assert (np.abs(a[40:] - rand).max(axis=1) > 1e-6).sum() == 32  # 2 steps x 16 unlabeled rows moved
    np.testing.assert_allclose(b, a, atol=1e-5)
