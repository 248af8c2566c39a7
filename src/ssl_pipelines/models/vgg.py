"""VGG16 (model D) with switch-recording max pooling, its classifier head, and mirrored decoders.

METHODS.md §3.1 (Zhang, Lee & Lee, ICML 2016): the encoder is VGG-16 up to ``pool5``; the
classifier is fc6-fc7-fc8 with dropout 0.5 after fc6 and fc7; each decoder macro-layer unpools
2x2 and applies 3x3 transposed convolutions mirroring the convs of its encoder block, ReLU after
each except the very last one (which outputs the image channels), weights ~ N(0, 0.001^2), zero
biases.

Layer names follow ``keras.applications.VGG16`` (``block<b>_conv<c>``, ``block<b>_pool``,
``fc1``, ``fc2``, ``predictions``) so ImageNet weights can be copied by name
(:func:`load_vgg16_weights`).
"""

from __future__ import annotations

import logging
import re

import keras

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.layers import MaxPoolingWithSwitches, MaxUnpooling
from ssl_pipelines.models.registry import register_backbone
from ssl_pipelines.models.regularization import dropout as dropout_layer

logger = logging.getLogger(__name__)

#: (filters, convs) per block of VGG16 (Simonyan & Zisserman 2015, configuration D).
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
UNPOOLING_MODES = {"swwae": "switches", "sae": "fixed"}


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


@register_backbone("vgg16")
def vgg16(
    input_shape,
    num_classes: int,
    width: float = 1.0,
    blocks: int = 5,
    fc_units: int = 4096,
    dropout: float = 0.5,
    kernel_initializer: str = "he_normal",
    preprocessing: str | None = None,
    name: str = "vgg16",
) -> keras.Model:
    """VGG16 classifier (inputs -> logits) whose max pools also return their switches.

    Args:
        input_shape: ``(H, W, C)``; ``H`` and ``W`` must be divisible by ``2 ** blocks``
            (e.g. 32x32 or 224x224 with 5 blocks).
        num_classes: classes of the ``predictions`` (fc8) layer (logits, no softmax).
        width: channel multiplier of every conv (1.0 = the paper's VGG16; 0.125 -> 8..64).
        blocks: number of conv blocks used (1-5; the paper uses all 5).
        fc_units: units of fc6 / fc7 (4096 in the paper).
        dropout: dropout after fc6 and fc7 (0.5 in the paper).
        kernel_initializer: of every conv / dense layer. ``he_normal`` (default) lets the plain
            16-layer net train from scratch on small data; the original VGG was trained by
            stage-wise initialization instead, and ImageNet weights overwrite it anyway.
        preprocessing: ``None`` (inputs used as given) or ``"caffe"``: inputs in [0, 1] RGB are
            mapped inside the model to the Caffe/ImageNet-VGG convention (0-255, BGR, ImageNet
            channel means subtracted; = ``keras.applications.vgg16.preprocess_input(255 x)``) by a
            frozen 1x1 conv ``caffe_preprocess``. Needed for ImageNet weights, and it puts the
            activations on the scale the paper's loss weights (1e-10, 1e-12) were chosen for.

    The pooling layers are :class:`~ssl_pipelines.layers.MaxPoolingWithSwitches`; as a plain
    classifier this is exactly VGG16 (the switches are simply unused), so the ``supervised``
    pipeline can use ``backbone: vgg16`` too.
    """
    # === Checks ===
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 1 <= blocks <= len(VGG16_BLOCKS):
        raise ConfigError(f"vgg16 blocks must be an integer in 1..5, got {blocks!r}")
    if not isinstance(width, (int, float)) or width <= 0:
        raise ConfigError(f"vgg16 width must be a positive number, got {width!r}")
    if isinstance(fc_units, bool) or not isinstance(fc_units, int) or fc_units < 1:
        raise ConfigError(f"vgg16 fc_units must be a positive integer, got {fc_units!r}")
    if not 0 <= float(dropout) < 1:
        raise ConfigError(f"vgg16 dropout must be in [0, 1), got {dropout!r}")
    h, w = int(input_shape[0]), int(input_shape[1])
    factor = 2 ** blocks
    if h % factor or w % factor:
        raise ConfigError(
            f"vgg16 with {blocks} blocks needs input height/width divisible by {factor}, got {h}x{w}; "
            f"resize the data (data.resize) or use fewer blocks")

    # === Encoder ===
    inputs = keras.Input(tuple(input_shape), name="x")
    x = inputs
    if preprocessing == "caffe":
        x = _caffe_preprocess(int(input_shape[-1]))(x)
    elif preprocessing is not None:
        raise ConfigError(f"vgg16 preprocessing must be null or 'caffe', got {preprocessing!r}")
    for b, (filters, convs) in enumerate(VGG16_BLOCKS[:blocks], start=1):
        for c in range(1, convs + 1):
            x = keras.layers.Conv2D(_scaled(filters, width), 3, padding="same", activation="relu",
                                    kernel_initializer=kernel_initializer, name=f"block{b}_conv{c}")(x)
        x, _ = MaxPoolingWithSwitches(2, name=f"block{b}_pool")(x)

    # === Classifier head (fc6, fc7, fc8) ===
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(int(fc_units), activation="relu", kernel_initializer=kernel_initializer, name="fc1")(x)
    if dropout:
        x = dropout_layer(float(dropout), name="fc1_dropout")(x)
    x = keras.layers.Dense(int(fc_units), activation="relu", kernel_initializer=kernel_initializer, name="fc2")(x)
    if dropout:
        x = dropout_layer(float(dropout), name="fc2_dropout")(x)
    logits = keras.layers.Dense(int(num_classes), name="predictions")(x)
    return keras.Model(inputs, logits, name=name)


#: ImageNet channel means in BGR order (the Caffe VGG16 convention, keras.applications "caffe" mode).
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)


def _caffe_preprocess(channels: int) -> keras.layers.Layer:
    """Frozen 1x1 conv: [0, 1] RGB -> 255 * BGR - ImageNet mean (exact, serializable, no new class)."""
    if channels != 3:
        raise ConfigError(f"vgg16 preprocessing 'caffe' needs 3-channel RGB inputs, got {channels} channels")
    kernel = [[[[0.0, 0.0, 255.0], [0.0, 255.0, 0.0], [255.0, 0.0, 0.0]]]]  # (1, 1, in RGB, out BGR)
    return keras.layers.Conv2D(
        3, 1, trainable=False, name="caffe_preprocess",
        kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant([-m for m in IMAGENET_BGR_MEAN]))


def vgg16_levels(backbone: keras.Model) -> list[dict]:
    """Per pooling level ``l = 1..L`` of a :func:`vgg16` backbone: layer names and shapes.

    Returns a list of ``{"pool": name, "last_conv": name, "convs": n, "channels": c,
    "pre_shape": (H, W, c), "pool_shape": (H/2, W/2, c)}``.
    """
    levels = []
    b = 1
    names = {layer.name for layer in backbone.layers}
    while f"block{b}_pool" in names:
        convs = sorted(int(n.split("conv")[1]) for n in names if n.startswith(f"block{b}_conv"))
        last = backbone.get_layer(f"block{b}_conv{convs[-1]}")
        pre_shape = tuple(last.output.shape[1:])
        pool_shape = tuple(backbone.get_layer(f"block{b}_pool").output[0].shape[1:])
        levels.append({"pool": f"block{b}_pool", "last_conv": last.name, "convs": len(convs),
                       "channels": int(pre_shape[-1]), "pre_shape": pre_shape, "pool_shape": pool_shape})
        b += 1
    if not levels:
        raise ConfigError(f"backbone {backbone.name!r} has no block<b>_pool layers (not a vgg16 backbone)")
    return levels


def vgg16_feature_model(backbone: keras.Model) -> keras.Model:
    """A model sharing the backbone's layers: ``x -> [logits, pool_1..L, switches_1..L, pre_1..L]``.

    ``pre_l`` is the last conv output of block ``l`` (the tensor ``pool_l`` was pooled from; its
    shape sizes the unpooled output).
    """
    levels = vgg16_levels(backbone)
    pools = [backbone.get_layer(lv["pool"]).output[0] for lv in levels]
    switches = [backbone.get_layer(lv["pool"]).output[1] for lv in levels]
    pres = [backbone.get_layer(lv["last_conv"]).output for lv in levels]
    return keras.Model(backbone.input, [backbone.outputs[0], *pools, *switches, *pres],
                       name=f"{backbone.name}_features")


def build_vgg16_decoders(
    backbone: keras.Model,
    unpooling: str = "swwae",
    init_stddev: float = 0.001,
    fixed_position=(1, 1),
    name: str = "dec",
) -> list[keras.Model]:
    """Mirrored decoder macro-layers ``D_1..D_L`` for a :func:`vgg16` backbone (METHODS.md §3.1).

    ``D_l`` maps level-``l`` pooled features to the level below: ``pool_{l-1}`` (or the image for
    ``l = 1``). It unpools 2x2 (``unpooling="swwae"``: by the encoder's switches;
    ``"sae"``: at ``fixed_position``), then applies one 3x3 ``Conv2DTranspose`` per conv of encoder
    block ``l`` in reverse (channels ``c_l, ..., c_l, c_{l-1}``), ReLU after each except the last
    conv of ``D_1`` (linear image output). Weights ~ N(0, ``init_stddev``^2), zero biases.

    Each ``D_l`` is a functional model with inputs ``[h, switches, reference]`` (swwae) or
    ``[h, reference]`` (sae), ``reference`` being the pre-pool tensor ``pre_l`` (only its shape is
    used). Chaining them (``-first`` / ``-all``) or feeding each the encoder's own ``pool_l``
    (``-layerwise``) is up to the caller (:class:`ssl_pipelines.methods.SWWAEModel`).

    Returns:
        ``[D_1, ..., D_L]`` (index 0 reconstructs the image).
    """
    if unpooling not in UNPOOLING_MODES:
        raise ConfigError(f"unpooling must be one of {sorted(UNPOOLING_MODES)}, got {unpooling!r}")
    if not isinstance(init_stddev, (int, float)) or init_stddev <= 0:
        raise ConfigError(f"decoder init_stddev must be a positive number, got {init_stddev!r}")
    mode = UNPOOLING_MODES[unpooling]
    levels = vgg16_levels(backbone)
    image_channels = int(backbone.inputs[0].shape[-1])
    decoders = []
    for l, lv in enumerate(levels, start=1):
        out_channels = image_channels if l == 1 else levels[l - 2]["channels"]
        h_in = keras.Input(lv["pool_shape"], name=f"{name}{l}_h")
        ref = keras.Input(lv["pre_shape"], name=f"{name}{l}_reference")
        if mode == "switches":
            sw = keras.Input(lv["pool_shape"], dtype="int64", name=f"{name}{l}_switches")
            inputs = [h_in, sw, ref]
            h = MaxUnpooling(2, mode="switches", name=f"{name}_block{l}_unpool")([h_in, sw, ref])
        else:
            inputs = [h_in, ref]
            h = MaxUnpooling(2, mode="fixed", fixed_position=fixed_position,
                             name=f"{name}_block{l}_unpool")([h_in, ref])
        for c in range(lv["convs"], 0, -1):
            last = c == 1
            filters = out_channels if last else lv["channels"]
            activation = None if (last and l == 1) else "relu"
            h = keras.layers.Conv2DTranspose(
                filters, 3, padding="same", activation=activation,
                kernel_initializer=keras.initializers.RandomNormal(0.0, float(init_stddev)),
                bias_initializer="zeros", name=f"{name}_block{l}_conv{c}")(h)
        decoders.append(keras.Model(inputs, h, name=f"{name}{l}_{unpooling}"))
    return decoders


def _weights_file_has_top(path: str) -> bool | None:
    """Whether a VGG16 weights file holds the fully connected top, from its layer names: the
    legacy ``layer_names`` attribute (``fc1``, as in the keras-applications downloads) or the
    groups of a Keras 3 ``.weights.h5`` file (``layers/dense``: that format names layers by
    class); None if the file cannot be read as HDF5."""
    import h5py

    names: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            f.visit(names.append)
            names += [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs.get("layer_names", [])]
    except OSError:
        return None
    return any(part == "fc1" or re.fullmatch(r"dense(_\d+)?", part) for n in names for part in n.split("/"))


def load_vgg16_weights(backbone: keras.Model, path: str) -> list[str]:
    """Copy weights by layer name from a ``keras.applications.VGG16`` weights file (local path,
    e.g. ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` with the top, or the ``_notop`` file)
    into a :func:`vgg16` backbone.

    The file is read into a reference ``keras.applications.VGG16`` (with the top at 224x224x3,
    else without it); layers whose shapes differ (``predictions`` for another class count, ``fc1``
    at another input size, any layer at ``width != 1``) are skipped and logged. Returns the names
    of the layers loaded.
    """
    import os

    if not os.path.exists(path):
        raise ConfigError(f"cannot load VGG16 weights from {path!r}: no such file")
    errors = []
    ref = None
    layouts = [(True, None), (False, tuple(backbone.inputs[0].shape[1:]))]
    has_top = _weights_file_has_top(path)
    if has_top is not None:  # read only the file's own layout: a failed try warns from inside Keras
        layouts = [layouts[0] if has_top else layouts[1]]
    for include_top, shape in layouts:
        try:
            ref = keras.applications.VGG16(weights=None, include_top=include_top, input_shape=shape)
            ref.load_weights(path)
            break
        except Exception as exc:  # noqa: BLE001 - try the other layout, report both below
            errors.append(f"include_top={include_top}: {exc}")
            ref = None
    if ref is None:
        raise ConfigError(f"cannot load VGG16 weights from {path!r}: " + "; ".join(errors))
    loaded = []
    for layer in ref.layers:
        src = layer.get_weights()
        if not src:
            continue
        try:
            target = backbone.get_layer(layer.name)
        except ValueError:
            continue
        if [w.shape for w in src] == [tuple(v.shape) for v in target.weights]:
            target.set_weights(src)
            loaded.append(layer.name)
        else:
            logger.warning("VGG16 weights: skipped %s (shape mismatch)", layer.name)
    if not loaded:
        raise ConfigError(f"no layer of {path!r} matches the backbone (width must be 1.0 for ImageNet weights)")
    logger.info("VGG16 weights from %s: loaded %d layers", path, len(loaded))
    return loaded
