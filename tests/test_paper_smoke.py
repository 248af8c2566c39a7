"""Full-size smoke runs of every paper environment (``conf/paper``, ``conf/paper_resnet``).

For each section: build the paper's full network from the MERGED paper parameters (as
``kedro run --env=paper`` sees them) with the library's constructors (``models``, ``methods``,
``training.build_optimizer``; not the pipeline nodes), run two training steps on synthetic data
of the paper's input shape at the paper's batch size, and check that the losses are finite, that
the weights that should train changed (and the frozen ones did not), and the parameter counts:
exactly where the architecture is known layer by layer (the kernels of ConvLarge / CNN-13, the
VGG16 of the ImageNet weights, the MLPs of Kingma et al.), else our count is recorded (printed,
and in the method's docs page). Each test prints one ``paper-smoke`` line with the count and the
time of the second (traced) step; run with ``-s`` to see them.

Slow (minutes on 2 cores), so marked ``slow``; ``make test`` runs them in a second pytest call
(``--runslow -m paper_smoke``), so CI runs them.
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import load_parameters
from ssl_pipelines import methods, models
from ssl_pipelines.data.streams import INDEX_LABELED, INDEX_UNLABELED, X_LABELED, X_UNLABELED, Y_LABELED
from ssl_pipelines.methods.swwae import decoder_pretraining_kwargs
from ssl_pipelines.training import build_optimizer

pytestmark = [pytest.mark.slow, pytest.mark.paper_smoke]

MNIST, CIFAR, IMAGENET = (28, 28, 1), (32, 32, 3), (224, 224, 3)
#: Full VGG16 + its five decoders at 224x224: ~0.2 TFLOP per image and training step; at batch 2
#: a step took 1.7-6.4 s and the process peaked at 4.7 GB. The paper's batch (not recovered;
#: conf/paper inherits 32) would need ~16x that time and activation memory on a 2-core CI machine.
#: The smoke run uses 2 images per step (the network, shapes and losses are the paper's; only the
#: batch is smaller; docs/methods/swwae_vgg.md).
SWWAE_SMOKE_BATCH = 2


@pytest.fixture(scope="module")
def paper():
    return {"paper": load_parameters("paper"), "paper_resnet": load_parameters("paper_resnet")}


# === Helpers ===
def ssl_batch(shape, n_l: int, n_u: int, num_classes: int, seed: int = 0, n_labeled_total: int | None = None,
              unit: bool = False) -> dict[str, tf.Tensor]:
    """A synthetic SSL batch: standardized (or [0, 1] with ``unit``) images, balanced labels and,
    with ``n_labeled_total``, table indices (labeled rows first, as ``ssl_stream(with_indices=True)``)."""
    rng = np.random.default_rng(seed)
    draw = (lambda n: rng.uniform(size=(n, *shape))) if unit else (lambda n: rng.normal(size=(n, *shape)))
    batch = {X_LABELED: draw(n_l).astype(np.float32), Y_LABELED: (np.arange(n_l) % num_classes).astype(np.int64)}
    if n_u:
        batch[X_UNLABELED] = draw(n_u).astype(np.float32)
    if n_labeled_total is not None:
        batch[INDEX_LABELED] = np.arange(n_l, dtype=np.int64)
        batch[INDEX_UNLABELED] = n_labeled_total + np.arange(n_u, dtype=np.int64)
    return {k: tf.constant(v) for k, v in batch.items()}


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times, self.losses = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))  # float() waits for the step to finish
        self.times.append(time.perf_counter() - self._t0)


def run_steps(model, batch, optimizer, steps: int = 2) -> StepTimer:
    """``steps`` training steps of ``model`` on ``batch``; asserts every reported loss is finite."""
    model.compile(optimizer=optimizer)
    timer = StepTimer()
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=[timer])
    assert len(timer.losses) == steps and all(math.isfinite(v) for v in timer.losses), timer.losses
    return timer


def snapshot(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


def assert_changed(before, variables, what: str):
    same = [v.path for b, v in zip(before, variables) if np.array_equal(b, np.asarray(v))]
    assert not same, f"{what}: {len(same)} of {len(variables)} variables did not change: {same[:8]}"


def assert_unchanged(before, variables, what: str):
    moved = [v.path for b, v in zip(before, variables) if not np.array_equal(b, np.asarray(v))]
    assert not moved, f"{what} should be frozen, but {moved[:8]} changed"


def kernel_count(*nets) -> int:
    """Parameters of every conv / dense kernel (no biases, no batch norm) of ``nets``."""
    return sum(int(np.prod(v.shape)) for net in nets for v in net.trainable_weights if v.name == "kernel")


def dense_count(units) -> int:
    """Weights + biases of a dense stack ``units[0] -> units[1] -> ...``."""
    return sum(a * b + b for a, b in zip(units[:-1], units[1:]))


def report(env: str, name: str, params, batch: int, timer: StepTimer, **extra):
    """The ``paper-smoke`` line: parameter count(s), batch, seconds for the second step, load."""
    load = os.getloadavg()[0]
    more = "".join(f", {k} {v}" for k, v in extra.items())
    print(f"\npaper-smoke {env}:{name}: params {params}, batch {batch}, "
          f"step {timer.times[-1]:.2f} s (first {timer.times[0]:.1f} s), load {load:.2f}{more}", flush=True)


def steps_per_epoch(n_unlabeled: int, batch_unlabeled: int) -> int:
    return math.ceil(n_unlabeled / batch_unlabeled)


#: CNN-13 / ConvLarge (Laine & Aila 2017, Table 5; Mean Teacher's cifar_cnn): 3x 128 3x3, pool,
#: 3x 256 3x3, pool, 512 3x3, 256 1x1, 128 1x1, global pool, dense 10. Kernel weights only.
CONVLARGE_KERNELS = (3 * 128 * 9 + 2 * 128 * 128 * 9 + 128 * 256 * 9 + 2 * 256 * 256 * 9
                     + 256 * 512 * 9 + 512 * 256 + 256 * 128 + 128 * 10)
#: VGG16 model D (Simonyan & Zisserman 2015, Table 2: 138M), as the keras.applications ImageNet file.
VGG16_PARAMS = 138_357_544
N_CIFAR_UNLABELED = 50_000 - 4_000


# === HybridNet (ConvLarge, Table 1 / 2a) and its ResNet protocol ===
def _hybridnet(p: dict, env: str):
    model_p, loss, train = dict(p["model"]), p["loss"], p["train"]
    parts = models.build_hybrid_branches(model_p.pop("arch"), CIFAR, 10, **model_p)
    spe = steps_per_epoch(N_CIFAR_UNLABELED, train["batch_unlabeled"])
    down = loss["rampdown_epochs"]
    model = methods.HybridNet(
        **parts, lambda_cls=loss["lambda_cls"], lambda_rec=loss["lambda_rec"], lambda_inter=loss["lambda_inter"],
        lambda_stab=loss["lambda_stab"], balanced=loss["balanced"], ema_decay=loss["ema_decay"],
        stab_rampup_steps=loss["stab_rampup_epochs"] * spe, rec_rampup_steps=loss["rec_rampup_epochs"] * spe,
        inter_rampup_steps=loss["inter_rampup_epochs"] * spe,
        rampdown_steps=(train["epochs"] if down is None else down) * spe,
        augment_shift=train["augment"]["max_shift"], augment_flip=train["augment"]["flip"])
    student = [v for k in ("encoder_c", "classifier", "encoder_u") for v in parts[k].trainable_variables]
    dec_c, dec_u = parts["decoder_c"].trainable_variables, parts["decoder_u"].trainable_variables
    before, before_c, before_u = snapshot(student), snapshot(dec_c), snapshot(dec_u)
    b_l, b_u = train["batch_labeled"], train["batch_unlabeled"]
    timer = run_steps(model, ssl_batch(CIFAR, b_l, b_u, 10), build_optimizer(train["optimizer"]))
    assert_changed(before, student, f"{env} HybridNet encoders and classifier")
    # Branch balancing sends each sample's final-reconstruction gradient into ONE decoder, so the
    # last layers of a decoder that lost every sample's comparison may not move in two steps;
    # each layer must have moved in at least one of the two (mirrored, same-named) decoders.
    moved = lambda b, v: not np.array_equal(b, np.asarray(v))  # noqa: E731
    still = [vc.path for bc, vc, bu, vu in zip(before_c, dec_c, before_u, dec_u)
             if not (moved(bc, vc) or moved(bu, vu))]
    assert len(dec_c) == len(dec_u) and not still, f"{env} HybridNet decoders: {still[:8]} moved in neither"
    counts = model.count_params_by_part()
    return model, parts, counts, timer, b_l + b_u


def test_hybridnet_convlarge_paper(paper):
    p = paper["paper"]["hybridnet"]
    model, parts, counts, timer, batch = _hybridnet(p, "paper")
    # E_c + C is ConvLarge: the same kernels as CNN-13 (our top convs pad "same": no count change)
    assert kernel_count(parts["encoder_c"], parts["classifier"]) == CONVLARGE_KERNELS
    assert kernel_count(parts["encoder_u"]) == CONVLARGE_KERNELS - 128 * 10  # E_u copies E_c, no classifier
    report("paper", "hybridnet", counts, batch, timer)


def test_hybridnet_resnet_paper_resnet(paper):
    p = paper["paper_resnet"]["hybridnet"]
    model, parts, counts, timer, batch = _hybridnet(p, "paper_resnet")
    assert model.optimizer.coupled_weight_decay == pytest.approx(2e-4)
    classifier = int(parts["encoder_c"].count_params() + parts["classifier"].count_params())
    report("paper_resnet", "hybridnet", counts, batch, timer, classifier=f"{classifier:,}")


# === Mean Teacher (HybridNet Table 1 "classification + stability") ===
def test_mean_teacher_paper(paper):
    p = paper["paper"]["mean_teacher"]
    loss, train = p["loss"], p["train"]
    backbone = models.build_backbone(p["model"]["backbone"], CIFAR, 10, **p["model"]["backbone_kwargs"])
    spe = steps_per_epoch(N_CIFAR_UNLABELED, train["batch_unlabeled"])
    model = methods.MeanTeacher(backbone, ema_decay=loss["ema_decay"], lambda_stab=loss["lambda_stab"],
                                stab_rampup_steps=loss["stab_rampup_epochs"] * spe,
                                augment_shift=train["augment"]["max_shift"], augment_flip=train["augment"]["flip"])
    before = snapshot(backbone.trainable_variables)
    b_l, b_u = train["batch_labeled"], train["batch_unlabeled"]
    timer = run_steps(model, ssl_batch(CIFAR, b_l, b_u, 10), build_optimizer(train["optimizer"]))
    assert_changed(before, backbone.trainable_variables, "Mean Teacher student")
    assert kernel_count(backbone) == CONVLARGE_KERNELS
    report("paper", "mean_teacher", f"{backbone.count_params():,} (student; the EMA teacher the same)",
           b_l + b_u, timer)


# === R2-D2 (three stages, ConvLarge / CNN-13) ===
def test_r2d2_paper(paper):
    p = paper["paper"]["r2d2"]
    backbone = models.build_backbone(p["model"]["backbone"], CIFAR, 10, **p["model"]["backbone_kwargs"])
    assert kernel_count(backbone) == CONVLARGE_KERNELS
    n_l = 10 * p["data"]["labels_per_class"]
    times = {}
    # stage 1: cross-entropy on the labeled images
    s1 = p["supervised"]
    before = snapshot(backbone.trainable_variables)
    opt = build_optimizer(s1["optimizer"])
    assert opt.coupled_weight_decay == pytest.approx(2e-4) and opt.nesterov
    times["stage1"] = run_steps(methods.SupervisedClassifier(backbone), ssl_batch(CIFAR, s1["batch_size"], 0, 10), opt)
    assert_changed(before, backbone.trainable_variables, "R2-D2 stage 1")
    # stage 2: D2 on labeled + unlabeled rows of the 50k-row pseudo-label table
    d2 = p["d2"]
    model = methods.R2D2(backbone, num_examples=50_000, num_labeled=n_l, alpha=d2["alpha"], beta=d2["beta"],
                         label_lr=d2["label_lr"], label_lr_reference_batch_size=d2["label_lr_reference_batch_size"],
                         labeled_logit_scale=d2["labeled_logit_scale"])
    model.pseudo_labels.set_labeled(np.arange(n_l) % 10)
    b_l, b_u = d2["batch_labeled"], d2["batch_unlabeled"]
    batch = ssl_batch(CIFAR, b_l, b_u, 10, n_labeled_total=n_l)
    # the initial reprediction: eval-mode logits into the unlabeled rows (the batch's; the other
    # 46k - 96 rows get zeros, as repredicting all of them at full size would take minutes)
    logits = np.zeros((50_000 - n_l, 10), np.float32)
    logits[:b_u] = np.asarray(backbone(batch[X_UNLABELED], training=False))
    model.pseudo_labels.repredict(logits)
    table = np.array(model.pseudo_labels.table)
    before = snapshot(backbone.trainable_variables)
    times["stage2"] = run_steps(model, batch, build_optimizer(d2["optimizer"]))
    assert_changed(before, backbone.trainable_variables, "R2-D2 stage 2")
    after = np.array(model.pseudo_labels.table)
    rows = n_l + np.arange(b_u)
    assert not np.allclose(after[rows], table[rows]), "stage 2 did not update the batch's pseudo-labels"
    np.testing.assert_array_equal(after[:n_l], table[:n_l])  # labeled rows stay 10 * onehot(y)
    np.testing.assert_array_equal(after[n_l + b_u:], table[n_l + b_u:])  # rows outside the batch untouched
    # stage 3: cross-entropy with hard pseudo-labels on all 50k images
    s3 = p["finetune"]
    before = snapshot(backbone.trainable_variables)
    times["stage3"] = run_steps(methods.SupervisedClassifier(backbone), ssl_batch(CIFAR, s3["batch_size"], 0, 10),
                                build_optimizer(s3["optimizer"]))
    assert_changed(before, backbone.trainable_variables, "R2-D2 stage 3")
    for stage, batch_size in (("stage1", s1["batch_size"]), ("stage2", b_l + b_u), ("stage3", s3["batch_size"])):
        report("paper", f"r2d2.{stage}", f"{backbone.count_params():,}", batch_size, times[stage])


# === Zhang et al.: full VGG16 + SWWAE decoders at 224x224 ===
def test_swwae_vgg_paper(paper):
    p = paper["paper"]["swwae_vgg"]
    m = p["model"]
    backbone = models.build_backbone("vgg16", IMAGENET, 1000, **m["backbone_kwargs"])
    assert sum(int(np.prod(v.shape)) for v in backbone.trainable_weights) == VGG16_PARAMS
    decoders = models.build_vgg16_decoders(backbone, m["unpooling"], init_stddev=m["decoder_init_stddev"],
                                           fixed_position=tuple(m["fixed_position"]))
    dec_vars = [v for d in decoders for v in d.trainable_variables]
    b = SWWAE_SMOKE_BATCH
    batch = ssl_batch(IMAGENET, b, 0, 1000, unit=True)  # [0, 1] RGB; the model's caffe layer does the rest
    # Step 2: layerwise decoders, encoder frozen, the pre-training loss (paper: weight 1 on Caffe's sum)
    enc_before = snapshot(backbone.weights)
    backbone.trainable = False
    pretrain = methods.SWWAEModel(backbone, decoders, variant="layerwise",
                                  **decoder_pretraining_kwargs(len(decoders), p["decoder_layerwise"]["loss"]))
    dec_before = snapshot(dec_vars)
    t_layerwise = run_steps(pretrain, batch, build_optimizer(p["decoder_layerwise"]["optimizer"]))
    assert_changed(dec_before, dec_vars, "SWWAE layerwise decoders")
    assert_unchanged(enc_before, backbone.weights, "the VGG16 encoder in decoder pre-training")
    backbone.trainable = True
    backbone.get_layer("caffe_preprocess").trainable = False
    # Step 4: joint fine-tuning of the "-all" model with the reference loss weights
    ft = p["finetune"]
    loss = ft["loss"]
    model = methods.SWWAEModel(backbone, decoders, variant=m["variant"], loss_weights=loss["weights"],
                               classification_weight=loss["classification_weight"], reduction=loss["reduction"],
                               reconstruct_unlabeled=loss["reconstruct_unlabeled"],
                               stop_gradient_targets=loss["stop_gradient_targets"])
    before = snapshot(backbone.trainable_variables)
    t_finetune = run_steps(model, batch, build_optimizer(ft["optimizer"]))
    counts = {"backbone": backbone.count_params(), "decoders": sum(d.count_params() for d in decoders)}
    report("paper", "swwae_vgg.decoder_layerwise", counts, b, t_layerwise)
    report("paper", "swwae_vgg.finetune", counts, b, t_finetune)
    assert_changed(before, backbone.trainable_variables, "VGG16 in SWWAE-all fine-tuning")
    # The decoders are not checked in Step 4: after two pre-training steps from N(0, 0.001^2) their
    # chained activations are ~0, so with the paper's loss weights (1e-4 .. 1e-12) and lr 1e-4 an
    # SGD update of most of them is below float32 resolution (Step 2 above checks that they train).


# === Balestriero et al.: Resnet2-32 with the double backward pass ===
def test_inversion_paper(paper):
    p = paper["paper"]["inversion"]
    m, train = p["model"], p["train"]
    backbone = models.build_backbone(m["backbone"], MNIST, 10, **m["backbone_kwargs"])
    kw = {k: m[k] for k in ("alpha", "beta", "cotangent", "stop_gradient_cotangent", "unsupervised_on",
                            "reconstruction_distance")}
    model = methods.InversionSSL(backbone, **kw)
    before = snapshot(backbone.trainable_variables)
    b_l, b_u = train["batch_labeled"], train["batch_unlabeled"]
    timer = run_steps(model, ssl_batch(MNIST, b_l, b_u, 10), build_optimizer(train["optimizer"]))
    assert_changed(before, backbone.trainable_variables, "Resnet2-32")
    report("paper", "inversion", f"{backbone.count_params():,}", b_l + b_u, timer)


# === Kingma et al.: M1, M2, M1+M2 and the supervised NN baseline ===
def _vae_common(mp: dict) -> dict:
    return {"activation": mp["activation"], "kernel_init_std": mp["kernel_init_std"]}


def _m1(mp: dict, seed: int = 0):
    z, units = mp["latent_dim"], mp["hidden_units"]
    enc = models.gaussian_encoder(MNIST, latent_dim=z, hidden_units=units, **_vae_common(mp))
    dec = models.decoder(z, MNIST, hidden_units=list(reversed(units)), likelihood=mp["likelihood"], **_vae_common(mp))
    clf_p = mp.get("classifier") or {"backbone": "mlp", "backbone_kwargs": {"hidden_units": []}}
    clf = models.build_backbone(clf_p["backbone"], (z,), 10, **clf_p["backbone_kwargs"])
    return methods.M1(clf, enc, dec, likelihood=mp["likelihood"], binarize=mp["binarize"], seed=seed)


def _m2(input_shape, mp: dict, n_l: int, n_u: int, seed: int = 0):
    z, units = mp["latent_dim"], mp["hidden_units"]
    clf = models.build_backbone("mlp", input_shape, 10, hidden_units=mp["classifier_hidden_units"], **_vae_common(mp))
    enc = models.conditional_gaussian_encoder(input_shape, 10, latent_dim=z, hidden_units=units, **_vae_common(mp))
    dec = models.decoder(z, input_shape, hidden_units=list(reversed(units)), likelihood=mp["likelihood"],
                         num_classes=10, **_vae_common(mp))
    return methods.M2(clf, enc, dec, num_classes=10, num_labeled=n_l, num_unlabeled=n_u, alpha=mp["alpha"],
                      likelihood=mp["likelihood"], binarize=mp["binarize"], seed=seed)


N_MNIST_TRAIN = 60_000 - 10_000  # conf/paper: validation_per_class 1000


def test_m1_paper(paper):
    p = paper["paper"]["m1"]
    mp = p["model"]
    model = _m1(mp)
    b = p["pretrain"]["batch_size"]
    model(tf.zeros((1, *MNIST)))
    trainable = [*model.encoder.trainable_variables, *model.decoder.trainable_variables]
    before = snapshot(trainable)
    timer = run_steps(model, ssl_batch(MNIST, b, 0, 10, unit=True), build_optimizer(p["pretrain"]["optimizer"]))
    assert_changed(before, trainable, "M1 VAE")
    counts = model.count_params_by_part()
    d, (h1, h2), z = 28 * 28, mp["hidden_units"], mp["latent_dim"]
    assert mp["hidden_units"] == [500, 500] and z == 50  # the reference code's 784-500-500-50
    assert counts["encoder"] == dense_count([d, h1, h2]) + 2 * dense_count([h2, z])
    assert counts["decoder"] == dense_count([z, h2, h1, d])
    assert counts["backbone"] == dense_count([z, 10])  # softmax regression on mu(x)
    report("paper", "m1.pretrain", counts, b, timer)


def test_m2_paper(paper):
    p = paper["paper"]["m2"]
    mp, train = p["model"], p["train"]
    n_l = 10 * p["data"]["labels_per_class"]
    model = _m2(MNIST, mp, n_l, N_MNIST_TRAIN - n_l)
    model(tf.zeros((1, *MNIST)))
    before = snapshot(model.trainable_variables)
    b_l, b_u = train["batch_labeled"], train["batch_unlabeled"]
    timer = run_steps(model, ssl_batch(MNIST, b_l, b_u, 10, unit=True), build_optimizer(train["optimizer"]))
    assert_changed(before, model.trainable_variables, "M2")
    counts = model.count_params_by_part()
    d, (h,), z = 28 * 28, mp["hidden_units"], mp["latent_dim"]
    assert h == 500 and mp["classifier_hidden_units"] == [500] and z == 50  # paper: one hidden layer of 500
    assert counts["backbone"] == dense_count([d, h, 10])
    assert counts["encoder"] == dense_count([d + 10, h]) + 2 * dense_count([h, z])
    assert counts["decoder"] == dense_count([z + 10, h, d])
    report("paper", "m2", counts, b_l + b_u, timer)


def test_m1_m2_paper(paper):
    p = paper["paper"]["m1_m2"]
    m1 = _m1(p["m1"])
    m1(tf.zeros((1, *MNIST)))
    m1_before = snapshot(m1.weights)
    n_l = 10 * p["data"]["labels_per_class"]
    z1 = p["m1"]["latent_dim"]  # all 50 units taken as active (synthetic M1: the threshold is data-dependent)
    m2p = {"likelihood": "gaussian", "binarize": False, **p["m2"]}
    m2 = _m2((z1,), m2p, n_l, N_MNIST_TRAIN - n_l)
    model = methods.M1M2(m1, m2, active_units=list(range(z1)))
    model(tf.zeros((1, *MNIST)))
    before = snapshot(m2.trainable_variables)
    train = p["train"]
    b_l, b_u = train["batch_labeled"], train["batch_unlabeled"]
    timer = run_steps(model, ssl_batch(MNIST, b_l, b_u, 10, unit=True), build_optimizer(train["optimizer"]))
    assert_changed(before, m2.trainable_variables, "M2 of M1+M2")
    assert_unchanged(m1_before, m1.weights, "M1 inside M1+M2")
    (h,), z2 = m2p["hidden_units"], m2p["latent_dim"]
    counts = m2.count_params_by_part()
    assert counts["backbone"] == dense_count([z1, h, 10])
    assert counts["encoder"] == dense_count([z1 + 10, h]) + 2 * dense_count([h, z2])
    assert counts["decoder"] == dense_count([z2 + 10, h]) + 2 * dense_count([h, z1])  # Gaussian p(z1|y,z2)
    report("paper", "m1_m2", {"m2": counts, "m1": m1.count_params_by_part()["total"]}, b_l + b_u, timer)


def test_supervised_paper(paper):
    p = paper["paper"]["supervised"]
    backbone = models.build_backbone(p["model"]["backbone"], MNIST, 10, **p["model"]["backbone_kwargs"])
    assert backbone.count_params() == dense_count([28 * 28, *p["model"]["backbone_kwargs"]["hidden_units"], 10])
    b = p["train"]["batch_size"]
    before = snapshot(backbone.trainable_variables)
    timer = run_steps(methods.SupervisedClassifier(backbone), ssl_batch(MNIST, b, 0, 10, unit=True),
                      build_optimizer(p["train"]["optimizer"]))
    assert_changed(before, backbone.trainable_variables, "supervised MLP")
    report("paper", "supervised", f"{backbone.count_params():,}", b, timer)
