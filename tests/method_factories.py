"""One tiny instance of every method model, for the checks that run over all of them (mixed
precision, XLA): ``METHOD_FACTORIES[name](split)`` returns ``(model, train_stream)``.

The nets are the smallest that still exercise each method's every loss term; the split is the
embedded digits data (8x8x1, 10 classes) from :func:`digits_split`.
"""

from __future__ import annotations

import keras

from ssl_pipelines import data, methods, models

TINY_HYBRID = dict(stages=[[4, 1], [6, 1]], top=[8])


def digits_split(labels_per_class: int = 3, max_unlabeled: int | None = 60):
    return data.split_labeled_unlabeled(data.load_dataset("digits"), labels_per_class=labels_per_class,
                                        max_unlabeled=max_unlabeled, seed=0)


def _stream(sp, bl=6, bu=6, **kw):
    return data.ssl_stream(sp.x_labeled, sp.y_labeled, sp.x_unlabeled, batch_labeled=bl, batch_unlabeled=bu, **kw)


def supervised(sp):
    net = models.build_backbone("small_cnn", sp.input_shape, 10, filters=[8], dense_units=16)
    return methods.SupervisedClassifier(net), _stream(sp, bu=0)


def _m1(sp, likelihood="bernoulli"):
    enc = models.gaussian_encoder(sp.input_shape, latent_dim=4, hidden_units=[16])
    dec = models.decoder(4, sp.input_shape, hidden_units=[16], likelihood=likelihood)
    clf = models.build_backbone("mlp", (4,), 10, hidden_units=[8])
    return methods.M1(clf, enc, dec, likelihood=likelihood, binarize=likelihood == "bernoulli", seed=0)


def m1(sp):
    return _m1(sp), _stream(sp)


def _m2(input_shape, likelihood, n_l, n_u):
    clf = models.build_backbone("mlp", input_shape, 10, hidden_units=[16])
    enc = models.conditional_gaussian_encoder(input_shape, 10, latent_dim=4, hidden_units=[16])
    dec = models.decoder(4, input_shape, hidden_units=[16], likelihood=likelihood, num_classes=10)
    return methods.M2(clf, enc, dec, num_classes=10, num_labeled=n_l, num_unlabeled=n_u, alpha=0.1,
                      likelihood=likelihood, binarize=likelihood == "bernoulli", seed=0)


def m2(sp):
    return _m2(sp.input_shape, "bernoulli", len(sp.x_labeled), len(sp.x_unlabeled)), _stream(sp)


def m1_m2(sp):
    m1_model = _m1(sp)
    m2_model = _m2((3,), "gaussian", len(sp.x_labeled), len(sp.x_unlabeled))
    return methods.M1M2(m1_model, m2_model, active_units=[0, 2, 3]), _stream(sp)


def inversion(sp):
    net = models.build_backbone("inv_small_cnn", sp.input_shape, 10, filters=[4, 8])
    model = methods.InversionSSL(net, alpha=0.5, beta=0.3, unsupervised_on="all",
                                 reconstruction_layers=["pool_0"], schedule_steps=5)
    return model, _stream(sp)


def swwae_vgg(sp):
    net = models.build_backbone("vgg16", sp.input_shape, 10, width=0.0625, blocks=3, fc_units=8, dropout=0.0)
    decoders = models.build_vgg16_decoders(net, "swwae", init_stddev=0.1)
    model = methods.SWWAEModel(net, decoders, variant="all", loss_weights={"image": 1.0, "pool1": 0.5, "pool2": 0.25})
    return model, _stream(sp)


def hybridnet(sp):
    parts = models.build_hybrid_branches("convlarge", sp.input_shape, 10, **TINY_HYBRID)
    model = methods.HybridNet(**parts, augment_shift=1, stab_rampup_steps=2, rec_rampup_steps=2, rampdown_steps=10)
    return model, _stream(sp)


def mean_teacher(sp):
    net = models.build_backbone("hybrid_convlarge", sp.input_shape, 10, **TINY_HYBRID)
    return methods.MeanTeacher(net, ema_decay=0.9, lambda_stab=10.0, augment_shift=1), _stream(sp)


def r2d2(sp):
    net = models.build_backbone("lenet", sp.input_shape, 10, filters=[4, 8], dense_units=16, padding="same")
    model = methods.R2D2(net, num_examples=len(sp.x_labeled) + len(sp.x_unlabeled), num_labeled=len(sp.x_labeled))
    model.pseudo_labels.set_labeled(sp.y_labeled)
    model.repredict(sp.x_unlabeled)
    return model, _stream(sp, with_indices=True)


METHOD_FACTORIES = {f.__name__: f for f in (supervised, m1, m2, m1_m2, inversion, swwae_vgg, hybridnet,
                                            mean_teacher, r2d2)}


def make_method(name: str, sp, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return METHOD_FACTORIES[name](sp)
