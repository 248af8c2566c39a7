"""HybridNet encoder/decoder branches (Robert, Thome & Cord, ECCV 2018; METHODS.md §1.1).

:func:`build_hybrid_branches` returns the five functional models of a HybridNet:

* ``encoder_c``: ``x -> [h_c, h_c,1 ... h_c,L]`` (discriminative encoder ``E_c``: the backbone up to
  the last feature map before global pooling, plus the activation after each pooling stage);
* ``classifier``: ``h_c -> logits`` (``C``: global average pooling + dense);
* ``decoder_c``: ``h_c -> [x̂_c, ĥ_c,1 ... ĥ_c,L]`` (``D_c``, mirrors ``E_c``; plain upsampling);
* ``encoder_u`` / ``decoder_u``: the same for the unsupervised branch; with ``unpool_u="switches"``
  the encoder also outputs its max-pooling switches and pre-pooling tensors, and the decoder
  puts values back with :class:`~ssl_pipelines.layers.MaxUnpooling` (paper text: upsampling in
  ``D_c``, switch unpooling in ``D_u``).

``ĥ_{b,l}`` has the shape of ``h_{b,l}``: the decoder activation right before the matching
upsampling stage (intermediate reconstruction targets, §1.2).

Two families:

* ``convlarge``: ConvLarge-style (CNN-13 of Ladder/TE/MT, scaled down by ``stages``/``top``):
  ``stages`` = list of ``[filters, n_convs]``, each stage = n × (Conv3x3 + BN + LeakyReLU(0.1))
  then 2×2 max pooling (+ dropout in ``E_c``); then ``top`` convolutions (3×3 then 1×1, "same"
  padding so the decoder can mirror them).
* ``resnet``: ResNet-style as in the released ``ResNet32x32Hybrid``: stem conv, then per stage a
  stride-2 residual block and ``n − 1`` residual blocks; decoders mirror with stride-2
  transposed convolutions in both branches (no unpooling, like the released code).

The registered backbones ``hybrid_convlarge`` / ``hybrid_resnet`` are ``C(E_c(x))`` alone (the
same classifier as HybridNet's discriminative path), for the supervised and Mean Teacher baselines.
"""

from __future__ import annotations

from typing import Sequence

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.layers import MaxPoolingWithSwitches, MaxUnpooling
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer, gaussian_noise as noise_layer

ARCHS = ("convlarge", "resnet")
UNPOOL_MODES = ("switches", "upsample")
# PyTorch's BatchNorm2d default (momentum 0.1 there = 0.9 here), as in the reference code; Keras'
# 0.99 leaves the moving statistics far from the batch statistics after a few hundred steps, and
# both the EMA teacher and evaluation run on them.
BN_MOMENTUM = 0.9


def _check_stages(stages) -> list[tuple[int, int]]:
    try:
        out = [(int(c), int(n)) for c, n in stages]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"stages must be a list of [filters, n_convs] pairs, got {stages!r}") from exc
    if not out or any(c < 1 or n < 1 for c, n in out):
        raise ConfigError(f"stages must be a non-empty list of positive [filters, n_convs], got {stages!r}")
    return out


def _conv(h, c, k, bn, name, transpose=False, strides=1):
    layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    h = layer(int(c), k, strides=strides, padding="same", use_bias=not bn, name=name)(h)
    if bn:
        h = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(h)
    return keras.layers.LeakyReLU(0.1, name=f"{name}_act")(h)


def _res_block(h, c, stride, bn, name):
    shortcut = h
    y = _conv(h, c, 3, bn, f"{name}_a", strides=stride)
    y = keras.layers.Conv2D(int(c), 3, padding="same", use_bias=not bn, name=f"{name}_b")(y)
    if bn:
        y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_b_bn")(y)
    if stride != 1 or shortcut.shape[-1] != c:
        shortcut = keras.layers.Conv2D(int(c), 1, strides=stride, use_bias=False, name=f"{name}_proj")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.LeakyReLU(0.1, name=f"{name}_out")(y)


# === ConvLarge-style ===
def _convlarge_encoder(input_shape, stages, top, bn, dropout, input_noise, switches, name):
    x = keras.Input(input_shape, name="x")
    h = noise_layer(input_noise, name="input_noise")(x) if input_noise else x
    inters, sws, refs = [], [], []
    for s, (c, n) in enumerate(stages):
        for j in range(n):
            h = _conv(h, c, 3, bn, f"conv{s}_{j}")
        if switches:
            refs.append(h)
            h, sw = MaxPoolingWithSwitches(2, name=f"pool{s}")(h)
            sws.append(sw)
        else:
            h = keras.layers.MaxPooling2D(2, name=f"pool{s}")(h)
        inters.append(h)
        if dropout:
            h = dropout_layer(dropout, name=f"dropout{s}")(h)
    for i, c in enumerate(top):
        h = _conv(h, c, 3 if i == 0 else 1, bn, f"top{i}")
    return keras.Model(x, [h, *inters, *sws, *refs], name=name)


def _convlarge_decoder(encoder, stages, top, bn, out_channels, switches, name):
    L = len(stages)
    h_in = keras.Input(encoder.outputs[0].shape[1:], name="h")
    inputs = [h_in]
    sws, refs = [], []
    if switches:
        sws = [keras.Input(t.shape[1:], dtype="int64", name=f"switches{s}")
               for s, t in enumerate(encoder.outputs[1 + L:1 + 2 * L])]
        refs = [keras.Input(t.shape[1:], name=f"reference{s}")
                for s, t in enumerate(encoder.outputs[1 + 2 * L:1 + 3 * L])]
        inputs += sws + refs
    h = h_in
    for i, c in enumerate(reversed(list(top[:-1]))):
        h = _conv(h, c, 1, bn, f"detop{i}")
    h = _conv(h, stages[-1][0], 3, bn, f"deconv{L - 1}_in")
    hats = [None] * L
    hats[L - 1] = h
    for s in reversed(range(L)):
        c, n = stages[s]
        if switches:
            h = MaxUnpooling(2, mode="switches", name=f"unpool{s}")([h, sws[s], refs[s]])
        else:
            h = keras.layers.UpSampling2D(2, name=f"upsample{s}")(h)
        for j in range(n - 1):
            h = _conv(h, c, 3, bn, f"deconv{s}_{j}")
        if s > 0:
            h = _conv(h, stages[s - 1][0], 3, bn, f"deconv{s}_out")
            hats[s - 1] = h
        else:
            h = keras.layers.Conv2D(out_channels, 3, padding="same", name="x_hat")(h)
    return keras.Model(inputs, [h, *hats], name=name)


# === ResNet-style ===
def _resnet_encoder(input_shape, stem, stages, bn, dropout, input_noise, name):
    x = keras.Input(input_shape, name="x")
    h = noise_layer(input_noise, name="input_noise")(x) if input_noise else x
    h = _conv(h, stem, 3, bn, "stem")
    inters = []
    for s, (c, n) in enumerate(stages):
        for j in range(n):
            h = _res_block(h, c, 2 if j == 0 else 1, bn, f"res{s}_{j}")
        inters.append(h)
    if dropout:
        h = dropout_layer(dropout, name="dropout")(h)
    return keras.Model(x, [h, *inters], name=name)


def _resnet_decoder(encoder, stem, stages, bn, out_channels, name):
    L = len(stages)
    h_in = keras.Input(encoder.outputs[0].shape[1:], name="h")
    h = h_in
    hats = [None] * L
    for s in reversed(range(L)):
        c, n = stages[s]
        for j in range(n):
            h = _res_block(h, c, 1, bn, f"deres{s}_{j}")
        hats[s] = h
        h = _conv(h, stages[s - 1][0] if s > 0 else stem, 3, bn, f"up{s}", transpose=True, strides=2)
    h = keras.layers.Conv2D(out_channels, 3, padding="same", name="x_hat")(h)
    return keras.Model(h_in, [h, *hats], name=name)


def _classifier(h_shape, num_classes, name="classifier"):
    h = keras.Input(h_shape, name="h")
    z = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(h, keras.layers.Dense(int(num_classes), name="logits")(z), name=name)


def build_hybrid_branches(
    arch: str,
    input_shape,
    num_classes: int,
    stages: Sequence = ((32, 2), (64, 2)),
    top: Sequence[int] = (128,),
    stem: int = 16,
    batch_norm: bool = True,
    dropout: float = 0.0,
    input_noise: float = 0.0,
    unpool_u: str = "switches",
) -> dict[str, keras.Model]:
    """Build ``encoder_c, classifier, decoder_c, encoder_u, decoder_u`` (see the module docstring).

    Args:
        arch: ``"convlarge"`` or ``"resnet"``.
        input_shape: ``(H, W, C)``; H and W must be divisible by ``2**len(stages)``.
        num_classes: classifier outputs.
        stages: ``[[filters, n_convs_or_blocks], ...]``, one pooling/downsampling per stage.
        top: ConvLarge only: channels of the convolutions after the last pool (3×3 then 1×1).
        stem: ResNet only: channels of the stem convolution.
        batch_norm: batch normalization after each convolution.
        dropout: dropout after each pooling stage of ``E_c`` (ConvLarge) / before ``C`` (ResNet).
        input_noise: std of Gaussian input noise in both encoders (ConvLarge uses 0.15).
        unpool_u: ConvLarge only: ``"switches"`` (paper text) or ``"upsample"`` in ``D_u``.

    Raises:
        ConfigError: unknown ``arch``/``unpool_u``, bad ``stages``, or an input too small.
    """
    if arch not in ARCHS:
        raise ConfigError(f"hybrid arch must be one of {ARCHS}, got {arch!r}")
    if unpool_u not in UNPOOL_MODES:
        raise ConfigError(f"unpool_u must be one of {UNPOOL_MODES}, got {unpool_u!r}")
    stages = _check_stages(stages)
    top = [int(c) for c in top] or [stages[-1][0]]
    input_shape = tuple(int(d) for d in input_shape)
    factor = 2 ** len(stages)
    if len(input_shape) != 3 or input_shape[0] % factor or input_shape[1] % factor:
        raise ConfigError(f"input shape {input_shape} must be (H, W, C) with H, W divisible by {factor} "
                          f"for {len(stages)} pooling stages")
    channels = input_shape[-1]
    if arch == "convlarge":
        enc_c = _convlarge_encoder(input_shape, stages, top, batch_norm, dropout, input_noise, False, "encoder_c")
        dec_c = _convlarge_decoder(enc_c, stages, top, batch_norm, channels, False, "decoder_c")
        sw = unpool_u == "switches"
        enc_u = _convlarge_encoder(input_shape, stages, top, batch_norm, 0.0, input_noise, sw, "encoder_u")
        dec_u = _convlarge_decoder(enc_u, stages, top, batch_norm, channels, sw, "decoder_u")
    else:
        enc_c = _resnet_encoder(input_shape, int(stem), stages, batch_norm, dropout, input_noise, "encoder_c")
        dec_c = _resnet_decoder(enc_c, int(stem), stages, batch_norm, channels, "decoder_c")
        enc_u = _resnet_encoder(input_shape, int(stem), stages, batch_norm, 0.0, input_noise, "encoder_u")
        dec_u = _resnet_decoder(enc_u, int(stem), stages, batch_norm, channels, "decoder_u")
    clf = _classifier(enc_c.outputs[0].shape[1:], num_classes)
    return {"encoder_c": enc_c, "classifier": clf, "decoder_c": dec_c, "encoder_u": enc_u, "decoder_u": dec_u}


def compose_classifier(encoder_c: keras.Model, classifier: keras.Model, name: str = "hybrid_classifier") -> keras.Model:
    """``x -> C(E_c(x)[0])`` as one functional model sharing the given layers."""
    x = keras.Input(encoder_c.inputs[0].shape[1:], name="x")
    return keras.Model(x, classifier(encoder_c(x)[0]), name=name)


def _register(arch):
    def builder(input_shape, num_classes, name=f"hybrid_{arch}", **kwargs):
        kwargs.pop("unpool_u", None)
        parts = build_hybrid_branches(arch, input_shape, num_classes, **kwargs)
        return compose_classifier(parts["encoder_c"], parts["classifier"], name=name)

    builder.__name__ = f"hybrid_{arch}"
    builder.__doc__ = f"``C(E_c(x))`` of :func:`build_hybrid_branches` with ``arch={arch!r}``."
    return register_backbone(f"hybrid_{arch}")(builder)


hybrid_convlarge = _register("convlarge")
hybrid_resnet = _register("resnet")
