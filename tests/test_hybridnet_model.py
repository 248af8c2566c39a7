"""HybridNet / MeanTeacher models: branches, per-sample balancing on a tiny net, detached
intermediate targets, ablation switches, EMA update, save/reload, parameter validation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from harness import check_method_model
from ssl_pipelines import data, methods, models
from ssl_pipelines.params import Section, parse_augment
from ssl_pipelines.params.ema_teacher import parse_hybrid_loss

TINY = dict(stages=[[4, 1], [6, 1]], top=[8])


def _parts(arch="convlarge", shape=(8, 8, 1), **kw):
    keras.utils.set_random_seed(0)
    return models.build_hybrid_branches(arch, shape, 3, **{**TINY, **kw})


def _batch(n_l=2, n_u=2, shape=(8, 8, 1), seed=0):
    rng = np.random.default_rng(seed)
    return {"x_labeled": tf.constant(rng.random((n_l, *shape), np.float32)),
            "y_labeled": tf.constant(rng.integers(0, 3, n_l).astype(np.int32)),
            "x_unlabeled": tf.constant(rng.random((n_u, *shape), np.float32))}


@pytest.mark.parametrize("arch", ["convlarge", "resnet"])
def test_branch_shapes_match_per_level(arch):
    m = methods.HybridNet(**_parts(arch))
    out = m.branches(tf.zeros((2, 8, 8, 1)))
    assert out["logits"].shape == (2, 3) and out["x_hat"].shape == (2, 8, 8, 1)
    assert len(out["h_c"]) == len(out["h_hat_c"]) == len(out["h_u"]) == len(out["h_hat_u"]) == 2
    for a, b in zip(out["h_c"] + out["h_u"], out["h_hat_c"] + out["h_hat_u"]):
        assert a.shape == b.shape
    assert m.switches_u == (arch == "convlarge")
    np.testing.assert_allclose(out["x_hat"], out["x_hat_c"] + out["x_hat_u"], atol=1e-6)


def test_bad_architecture_parameters_raise_config_errors():
    with pytest.raises(data.ConfigError, match="arch must be one of"):
        models.build_hybrid_branches("vgg", (8, 8, 1), 3)
    with pytest.raises(data.ConfigError, match="divisible by 8"):
        models.build_hybrid_branches("convlarge", (12, 12, 1), 3, stages=[[4, 1]] * 3)
    with pytest.raises(data.ConfigError, match="unpool_u"):
        models.build_hybrid_branches("convlarge", (8, 8, 1), 3, unpool_u="bilinear")
    with pytest.raises(data.ConfigError, match="stages"):
        models.build_hybrid_branches("convlarge", (8, 8, 1), 3, stages=[[4, 0]])


def _rec_only(parts, balanced=True):
    return methods.HybridNet(**parts, lambda_cls=0.0, lambda_inter=0.0, lambda_stab=0.0, balanced=balanced)


def test_balancing_sends_each_samples_gradient_only_into_the_worse_branch():
    parts = _parts()
    model = _rec_only(parts)
    # shift x_hat_c up by 0.5: dark images are then reconstructed worse by the discriminative
    # branch, bright ones worse by the unsupervised branch
    parts["decoder_c"].get_layer("x_hat").bias.assign([0.5])
    rng = np.random.default_rng(1)
    x = np.concatenate([0.05 * rng.random((3, 8, 8, 1)), 1.0 + 0.05 * rng.random((3, 8, 8, 1))]).astype(np.float32)
    seen = set()
    for k in range(6):
        batch = {"x_labeled": tf.constant(x[k:k + 1]), "y_labeled": tf.constant([0], tf.int32)}
        with tf.GradientTape() as tape:
            loss = model.compute_losses(batch, training=False)["loss"]
        dc = tape.gradient(loss, parts["decoder_c"].trainable_variables)
        with tf.GradientTape() as tape:
            loss = model.compute_losses(batch, training=False)["loss"]
        du = tape.gradient(loss, parts["decoder_u"].trainable_variables)
        norm = lambda gs: sum(float(tf.reduce_sum(tf.abs(g))) for g in gs if g is not None)  # noqa: E731
        b = model.branches(x[k:k + 1], training=False)
        to_c = float(np.mean((np.asarray(b["x_hat_c"]) - x[k:k + 1]) ** 2)) > \
            float(np.mean((np.asarray(b["x_hat_u"]) - x[k:k + 1]) ** 2))
        seen.add(to_c)
        if to_c:
            assert norm(dc) > 0 and norm(du) == 0, k
        else:
            assert norm(du) > 0 and norm(dc) == 0, k
    assert seen == {True, False}  # both routes were exercised
    # without balancing both decoders receive gradient
    plain = _rec_only(parts, balanced=False)
    batch = {"x_labeled": tf.constant(x[:1]), "y_labeled": tf.constant([0], tf.int32)}
    with tf.GradientTape(persistent=True) as tape:
        loss = plain.compute_losses(batch, training=False)["loss"]
    for part in ("decoder_c", "decoder_u"):
        assert any(g is not None and np.any(g.numpy()) for g in
                   tape.gradient(loss, parts[part].trainable_variables))


def test_intermediate_targets_receive_no_gradient_from_their_loss():
    parts = _parts()
    model = methods.HybridNet(**parts, lambda_cls=0.0, lambda_rec=0.0, lambda_stab=0.0)
    batch = _batch()
    x = tf.concat([batch["x_labeled"], batch["x_unlabeled"]], 0)
    enc_vars = parts["encoder_c"].trainable_variables + parts["encoder_u"].trainable_variables
    with tf.GradientTape() as tape:
        loss = model.compute_losses(batch, training=False)["loss"]
    got = tape.gradient(loss, enc_vars)
    # the same loss with the targets replaced by constants: equal gradients iff targets are detached
    out = model.branches(x, training=False)
    targets = [tf.constant(h.numpy()) for h in out["h_c"] + out["h_u"]]
    with tf.GradientTape() as tape:
        o = model.branches(x, training=False)
        ref = tf.add_n([tf.reduce_mean(tf.reduce_mean(tf.square(hh - t), axis=[1, 2, 3]))
                        for hh, t in zip(o["h_hat_c"] + o["h_hat_u"], targets)])
    want = tape.gradient(ref, enc_vars)
    np.testing.assert_allclose(float(loss), float(ref), rtol=1e-5)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-6)


def test_each_ablation_switch_removes_exactly_its_term():
    parts = _parts()
    full = methods.HybridNet(**parts)
    batch = _batch()
    terms = full.compute_losses(batch, training=False)
    weighted = {"lambda_cls": 1.0 * terms["cross_entropy"], "lambda_rec": 1.0 * terms["reconstruction"],
                "lambda_inter": 1.0 * terms["intermediate"], "lambda_stab": 100.0 * terms["stability"]}
    assert all(float(v) > 0 for k, v in weighted.items() if k != "lambda_stab")
    assert float(terms["loss"]) == pytest.approx(float(sum(weighted.values())), rel=1e-5)
    for switch, part in weighted.items():
        off = methods.HybridNet(**parts, teacher=full.teacher, **{switch: 0.0})
        t = off.compute_losses(batch, training=False)
        assert float(t["loss"]) == pytest.approx(float(terms["loss"] - part), rel=1e-5, abs=1e-7), switch
    # balanced: same value, different gradient (tested above); no teacher without stability
    assert float(methods.HybridNet(**parts, balanced=False, teacher=full.teacher)
                 .compute_losses(batch, training=False)["loss"]) == pytest.approx(float(terms["loss"]), rel=1e-5)
    assert not methods.HybridNet(**parts, lambda_stab=0.0).use_teacher


def test_stability_pulls_towards_the_teacher_and_ema_follows_the_formula():
    parts = _parts()
    model = methods.HybridNet(**parts, ema_decay=0.97, lambda_rec=0.0, lambda_inter=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = _batch()
    t0 = [w.numpy().copy() for w in model.teacher.trainable_weights]
    model.train_step(batch)
    # first step: a = min(1 - 1/(1 + 1), 0.97) = 0.5
    for before, t, s in zip(t0, model.teacher.trainable_weights, model.backbone.trainable_weights):
        np.testing.assert_allclose(t.numpy(), 0.5 * before + 0.5 * s.numpy(), rtol=1e-5, atol=1e-6)
    assert not any(v is w for v in model.student_variables for w in model.teacher.weights)


@pytest.mark.heavy(22)
@pytest.mark.parametrize("arch", ["convlarge", "resnet"])
def test_hybridnet_trains_saves_and_reloads(arch, tmp_path):
    ds = data.load_dataset("digits")
    sp = data.split_labeled_unlabeled(ds, labels_per_class=3, seed=0)
    parts = models.build_hybrid_branches(arch, sp.input_shape, 10, **TINY)
    model = methods.HybridNet(**parts, augment_shift=1, stab_rampup_steps=2, rec_rampup_steps=2, rampdown_steps=10)
    stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=10, batch_unlabeled=10)
    loaded = check_method_model(model, stream, sp.x_test[:8], tmp_path,
                                expected_metrics=("cross_entropy", "reconstruction", "intermediate", "stability",
                                                  "balance_to_c", "accuracy"))
    x = sp.x_test[:4]
    np.testing.assert_allclose(loaded.student_logits(x), model.student_logits(x), atol=1e-5)
    np.testing.assert_allclose(loaded.reconstruct(x)["x_hat_u"], model.reconstruct(x)["x_hat_u"], atol=1e-5)
    assert loaded.get_config()["lambda_stab"] == 100.0 and loaded.switches_u == (arch == "convlarge")


@pytest.mark.heavy(12)
def test_mean_teacher_trains_saves_reloads_and_updates_ema(tmp_path):
    ds = data.load_dataset("digits")
    sp = data.split_labeled_unlabeled(ds, labels_per_class=3, seed=0)
    net = models.build_backbone("hybrid_convlarge", sp.input_shape, 10, **TINY)
    model = methods.MeanTeacher(net, ema_decay=0.9, lambda_stab=10.0, augment_shift=1)
    stream = data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=10, batch_unlabeled=10)
    loaded = check_method_model(model, stream, sp.x_test[:8], tmp_path,
                                expected_metrics=("cross_entropy", "stability", "accuracy"))
    x = sp.x_test[:4]
    np.testing.assert_allclose(loaded.student_logits(x), model.student_logits(x), atol=1e-5)
    # teacher (call) and raw student differ after training: the teacher is a lagging average
    assert not np.allclose(model(x), model.student_logits(x))
    t0 = [w.numpy().copy() for w in model.teacher.trainable_weights]
    step = int(model.optimizer.iterations)
    model.train_step(next(iter(stream)))
    a = min(1 - 1 / (step + 2), 0.9)
    for before, t, s in zip(t0, model.teacher.trainable_weights, model.backbone.trainable_weights):
        np.testing.assert_allclose(t.numpy(), a * before + (1 - a) * s.numpy(), rtol=1e-5, atol=1e-6)


def hybridnet_kwargs(loss, steps_per_epoch, epochs):
    return parse_hybrid_loss(loss).model_kwargs(steps_per_epoch, epochs)


def resolve_augment(augment):
    a = parse_augment(Section("train", {"augment": augment}, {"augment"}))
    return a.max_shift, a.flip


def test_loss_parameters_are_validated_before_training():
    kw = hybridnet_kwargs({"lambda_rec": 0.5, "rec_rampup_epochs": 2}, steps_per_epoch=10, epochs=7)
    assert kw["lambda_rec"] == 0.5 and kw["rec_rampup_steps"] == 20 and kw["rampdown_steps"] == 70
    assert kw["stab_rampup_steps"] == 50 and kw["inter_rampup_steps"] == 20
    with pytest.raises(data.ConfigError, match=r"loss.lambda_stab must be a non-negative number, got -1"):
        hybridnet_kwargs({"lambda_stab": -1}, 10, 7)
    with pytest.raises(data.ConfigError, match=r"unknown loss parameter\(s\) \['lambda_recon'\]"):
        hybridnet_kwargs({"lambda_recon": 1}, 10, 7)
    with pytest.raises(data.ConfigError, match="balanced must be true or false"):
        hybridnet_kwargs({"balanced": "yes"}, 10, 7)
    with pytest.raises(data.ConfigError, match="ema_decay"):
        hybridnet_kwargs({"ema_decay": 1.0}, 10, 7)
    with pytest.raises(data.ConfigError, match="at least one"):
        hybridnet_kwargs({"lambda_cls": 0, "lambda_rec": 0, "lambda_inter": 0, "lambda_stab": 0}, 10, 7)
    assert resolve_augment({"max_shift": 2, "flip": True}) == (2, True)
    with pytest.raises(data.ConfigError, match=r"train.augment.max_shift must be a non-negative integer, got -1"):
        resolve_augment({"max_shift": -1})
    with pytest.raises(data.ConfigError, match=r"unknown train.augment parameter\(s\) \['shift'\]"):
        resolve_augment({"shift": 1})


def test_classification_only_forwards_only_the_labeled_images():
    """Table 1's classification row reads no unlabeled image: NaN unlabeled pixels leave its loss
    finite and equal to the loss on the labeled part alone (all branches on, they poison it)."""
    batch = _batch(n_l=3, n_u=4)
    poisoned = {**batch, "x_unlabeled": tf.fill(batch["x_unlabeled"].shape, float("nan"))}
    off = dict(lambda_rec=0.0, lambda_inter=0.0, lambda_stab=0.0, augment_shift=0, augment_flip=False)
    cls_only = methods.HybridNet(**_parts(), **off)
    alone = cls_only.compute_losses({k: batch[k] for k in ("x_labeled", "y_labeled")}, training=True)["loss"]
    with_nan = cls_only.compute_losses(poisoned, training=True)["loss"]
    assert np.isfinite(float(with_nan)) and float(with_nan) == pytest.approx(float(alone), rel=1e-6)
    full = methods.HybridNet(**_parts(), augment_shift=0, augment_flip=False)
    full.compile(optimizer="adam")
    assert not np.isfinite(float(full.compute_losses(poisoned, training=True)["loss"]))
    # so the pipeline streams labeled batches only for it (common_ema.train_ema_model)
    assert not cls_only.reads_unlabeled and full.reads_unlabeled
    assert methods.HybridNet(**_parts(), lambda_rec=0.0, lambda_inter=0.0).reads_unlabeled  # stability
    assert methods.HybridNet(**_parts(), lambda_inter=0.0, lambda_stab=0.0).reads_unlabeled  # reconstruction


@pytest.mark.parametrize("lambda_stab, streams_unlabeled", [(0.0, False), (10.0, True)])
def test_classification_only_pipeline_stage_streams_labeled_batches_only(monkeypatch, lambda_stab, streams_unlabeled):
    """train_ema_model hands a model that reads no unlabeled image a labeled-only, stream-augmented
    stream, with the steps per epoch of the full stream (the epochs mean the same) and images/s counted
    on 20 images."""
    from ssl_pipelines import data
    from ssl_pipelines.params import parse_train
    from ssl_pipelines.pipelines import common_ema

    split = data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=2, seed=0)
    seen = {}

    def fake_fit(model, train, stream, steps, **kwargs):
        seen.update(keys=set(stream.element_spec), steps=steps, per_step=kwargs["images_per_step"],
                    in_step=model.augment_in_step)
        return {}

    monkeypatch.setattr(common_ema, "fit_stage", fake_fit)
    train = parse_train({"batch_labeled": 20, "batch_unlabeled": 80}, 0)[0]
    common_ema.train_ema_model(lambda steps: methods.HybridNet(**_parts(), lambda_rec=0.0, lambda_inter=0.0,
                                                               lambda_stab=lambda_stab), split, train, stage="h")
    assert ("x_unlabeled" in seen["keys"]) == streams_unlabeled
    assert seen["steps"] == -(-len(split.x_unlabeled) // 80)  # one pass over the unlabeled images either way
    assert seen["per_step"] == (100 if streams_unlabeled else 20)
    assert seen["in_step"] == streams_unlabeled  # one view, drawn by the stream, when the step needs no two
