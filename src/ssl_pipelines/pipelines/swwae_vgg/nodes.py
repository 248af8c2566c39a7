"""Nodes of the staged SAE/SWWAE training (Zhang, Lee & Lee 2016; METHODS.md §3.3).

Step 1 ``pretrain_classifier``: the VGG16 classifier, from ImageNet weights (local file) or
trained with cross-entropy on the labeled split. Step 2 ``train_layerwise_decoders``: one shallow
decoder per level, encoder frozen, every reconstruction weight 1. Step 3 ``train_chained_decoder``
(``-first`` / ``-all`` only): the chained decoder initialised from Step 2, encoder still frozen.
Step 4 ``finetune_swwae``: the whole network on classification + weighted reconstruction.
Pure functions: parameters and arrays in, models/histories/metrics/figures out.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import ConfigError, SSLSplit, split_access, steps_per_epoch
from ssl_pipelines.data.split_access import part_size
from ssl_pipelines.evaluation import classification_report, predict_part, scalar_metrics
from ssl_pipelines.evaluation_dense import AVERAGES, check_scales, convolutionalize, dense_predict, min_scale
from ssl_pipelines.methods import SupervisedClassifier, SWWAEModel
from ssl_pipelines.methods.swwae import REDUCTIONS, VARIANTS, decoder_pretraining_kwargs
from ssl_pipelines.models import build_backbone, build_vgg16_decoders, load_vgg16_weights
from ssl_pipelines.models.vgg import UNPOOLING_MODES
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

MODEL_KEYS = {"backbone_kwargs", "unpooling", "variant", "decoder_init_stddev", "fixed_position"}
PRETRAIN_EXTRA = {"init", "weights_path"}
LOSS_KEYS = {"reduction", "classification_weight", "weights", "stop_gradient_targets", "reconstruct_unlabeled"}
INITS = ("train", "imagenet")
DENSE_KEYS = {"enabled", "scales", "flip", "average", "batch_size"}


# === Parameters ===
def check_model_params(model_params: dict) -> dict:
    """Validate ``model:`` (raises :class:`ConfigError` naming the bad value)."""
    p = check_keys("model", model_params, MODEL_KEYS)
    if p.get("unpooling", "swwae") not in UNPOOLING_MODES:
        raise ConfigError(f"model.unpooling must be one of {sorted(UNPOOLING_MODES)}, got {p.get('unpooling')!r}")
    if p.get("variant", "all") not in VARIANTS:
        raise ConfigError(f"model.variant must be one of {list(VARIANTS)}, got {p.get('variant')!r}")
    return p


def check_loss_params(loss_params: dict | None, levels: int) -> dict:
    """Validate ``finetune.loss`` and return SWWAEModel keyword arguments."""
    p = check_keys("finetune.loss", loss_params, LOSS_KEYS)
    reduction = p.get("reduction", "mean")
    if reduction not in REDUCTIONS:
        raise ConfigError(f"finetune.loss.reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    allowed = {"image", *[f"pool{l}" for l in range(1, levels)]}
    vgg_keys = {"image", *[f"pool{l}" for l in range(1, 5)]}  # every target VGG16 can have
    weights = dict(p.get("weights") or {"image": 1.0})
    bad = sorted(set(weights) - vgg_keys)
    if bad:
        raise ConfigError(f"unknown finetune.loss.weights key(s) {bad}; expected a subset of {sorted(vgg_keys)}")
    for k, v in weights.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"finetune.loss.weights.{k} must be a non-negative number, got {v!r}")
    missing = sorted(k for k in set(weights) - allowed if weights[k])
    if missing:
        raise ConfigError(f"finetune.loss.weights {missing} are non-zero but a {levels}-block VGG16 only has "
                          f"targets {sorted(allowed)}; set them to 0 or use more blocks")
    weights = {k: v for k, v in weights.items() if k in allowed}
    cw = p.get("classification_weight", 1.0)
    if isinstance(cw, bool) or not isinstance(cw, (int, float)) or cw < 0:
        raise ConfigError(f"finetune.loss.classification_weight must be a non-negative number, got {cw!r}")
    return {"reduction": reduction, "loss_weights": {k: float(v) for k, v in weights.items()},
            "classification_weight": float(cw),
            "stop_gradient_targets": bool(p.get("stop_gradient_targets", False)),
            "reconstruct_unlabeled": bool(p.get("reconstruct_unlabeled", True))}


def check_dense_params(dense_params: dict | None, input_shape) -> dict:
    """Validate ``dense_evaluation`` (METHODS.md §3.4 "convolution") for a network trained on
    ``input_shape``; returns ``{enabled, scales, flip, average, batch_size}``."""
    p = check_keys("dense_evaluation", dense_params, DENSE_KEYS)
    enabled = p.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"dense_evaluation.enabled must be true or false, got {enabled!r}")
    average = p.get("average", "softmax")
    if average not in AVERAGES:
        raise ConfigError(f"dense_evaluation.average must be one of {list(AVERAGES)}, got {average!r}")
    batch_size = p.get("batch_size", 64)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"dense_evaluation.batch_size must be a positive integer, got {batch_size!r}")
    scales = check_scales(p.get("scales") or [min_scale(input_shape)], input_shape) if enabled else ()
    return {"enabled": enabled, "scales": list(scales), "flip": bool(p.get("flip", True)), "average": average,
            "batch_size": batch_size}


def _ssl_stream(split: SSLSplit, train, reconstruct_unlabeled: bool = True):
    """Training batches of an in-memory or a streaming split (``split_access``)."""
    bl = train.batch_labeled or train.batch_size
    bu = (train.batch_unlabeled or 0) if reconstruct_unlabeled and part_size(split, "unlabeled") else 0
    stream = split_access.training_stream(split, batch_labeled=bl, batch_unlabeled=bu, seed=train.seed,
                                          augment=train.augment)
    n = part_size(split, "labeled") + (part_size(split, "unlabeled") if bu else 0)
    steps = train.steps_per_epoch or steps_per_epoch(n, bl + bu)
    return stream, steps


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def _max_abs_change(before: list[np.ndarray], model) -> float:
    return float(max((np.max(np.abs(a - np.asarray(w))) for a, w in zip(before, model.weights)), default=0.0))


def _val_stream(split):
    return split_access.evaluation_stream(split, "validation") if part_size(split, "validation") else None


def _errors(model, split: SSLSplit, batch_size: int = 256) -> dict[str, float]:
    """Top-1 error (%) on the labeled training images, validation and test (regularization evidence;
    single centre crops for a streaming split)."""
    out = {}
    for name, part in (("train", "labeled"), ("validation", "validation"), ("test", "test")):
        if part_size(split, part):
            out[f"{name}_error"] = classification_report(predict_part(model, split, part, batch_size),
                                                         split_access.part_labels(split, part),
                                                         split.num_classes, ())["error"]
    if "validation_error" in out:
        out["generalization_gap"] = out["validation_error"] - out["train_error"]
    return out


# === Step 1 ===
def pretrain_classifier(split: SSLSplit, model_params: dict, pretrain_params: dict, seed: int,
                        dense_params: dict | None = None):
    """Step 1: the VGG16 classifier (METHODS.md §3.3), from ImageNet weights or trained on labels.

    ``dense_params`` (the ``dense_evaluation`` section) is only validated here, so a bad value
    fails before any stage trains.

    Returns:
        the backbone (inputs -> logits), its history and its train/validation/test errors
        (the baseline the fine-tuned model is compared with).
    """
    p = check_model_params(model_params)
    check_dense_params(dense_params, split.input_shape)
    train = prepare_training(pretrain_params, seed, defaults={"batch_size": 32}, extra_keys=PRETRAIN_EXTRA)
    init = train.extra.get("init", "train")
    if init not in INITS:
        raise ConfigError(f"pretrain.init must be one of {list(INITS)}, got {init!r}")
    backbone = build_backbone("vgg16", split.input_shape, split.num_classes, **dict(p.get("backbone_kwargs") or {}))
    logger.info("vgg16 backbone: %s parameters", f"{backbone.count_params():,}")
    history: dict = {}
    if init == "imagenet":
        path = train.extra.get("weights_path")
        if not path:
            raise ConfigError("pretrain.init: imagenet needs pretrain.weights_path (a local Keras VGG16 .h5 file)")
        history["loaded_layers"] = [float(len(load_vgg16_weights(backbone, str(path))))]
    else:
        model = SupervisedClassifier(backbone, name="swwae_pretrain")
        model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
        stream = split_access.training_stream(split, batch_labeled=train.batch_size, seed=train.seed,
                                              augment=train.augment)
        steps = train.steps_per_epoch or steps_per_epoch(part_size(split, "labeled"), train.batch_size)
        history = train.fit(model, stream, steps, _val_stream(split), stage="pretrain")
    metrics = {k: {"value": v, "step": 0} for k, v in _errors(backbone, split).items()}
    return backbone, history, metrics


# === Steps 2-3 (encoder frozen) ===
def _train_frozen(backbone, decoders, split, variant, stage_params, seed, stage: str):
    train = prepare_training(stage_params, seed, defaults={"batch_size": 32}, extra_keys={"loss"})
    loss = decoder_pretraining_kwargs(len(decoders), train.extra.get("loss"))
    flags = [layer.trainable for layer in backbone.layers]
    backbone.trainable = False
    model = SWWAEModel(backbone, decoders, variant=variant, name=f"swwae_{stage}", **loss)
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    stream, steps = _ssl_stream(split, train)
    before = _weights(backbone)
    history = train.fit(model, stream, steps, None, stage=stage)
    history["frozen_encoder_max_abs_change"] = [_max_abs_change(before, backbone)]
    backbone.trainable = True
    for layer, flag in zip(backbone.layers, flags):  # e.g. the frozen caffe_preprocess stays frozen
        layer.trainable = flag
    return history


def train_layerwise_decoders(backbone, split: SSLSplit, model_params: dict, stage_params: dict, seed: int):
    """Step 2: layerwise decoders from random init, encoder frozen (METHODS.md §3.3).

    Returns:
        ``[D_1, ..., D_L]`` and the stage history (with ``frozen_encoder_max_abs_change``).
    """
    p = check_model_params(model_params)
    decoders = build_vgg16_decoders(backbone, p.get("unpooling", "swwae"),
                                    init_stddev=float(p.get("decoder_init_stddev", 0.001)),
                                    fixed_position=tuple(p.get("fixed_position", (1, 1))))
    history = _train_frozen(backbone, decoders, split, "layerwise", stage_params, seed, "decoder_layerwise")
    return decoders, history


def train_chained_decoder(backbone, decoders, split: SSLSplit, model_params: dict, stage_params: dict, seed: int):
    """Step 3 (``-first`` / ``-all``): the chained decoder initialised from Step 2, encoder frozen.
    ``-layerwise`` goes straight to Step 4 (the decoders are returned unchanged)."""
    p = check_model_params(model_params)
    variant = p.get("variant", "all")
    if variant == "layerwise":
        return decoders, {"skipped": [1.0]}
    return decoders, _train_frozen(backbone, decoders, split, variant, stage_params, seed, "decoder_chained")


# === Step 4 ===
def finetune_swwae(backbone, decoders, split: SSLSplit, model_params: dict, finetune_params: dict, seed: int,
                   pretrain_history: dict, layerwise_history: dict, chained_history: dict):
    """Step 4: joint fine-tuning on classification + weighted reconstruction (METHODS.md §3.2-3.3).

    Returns:
        the trained :class:`SWWAEModel`, the multi-stage history ``{"stages": {...}}`` and
        train/validation/test errors after fine-tuning.
    """
    p = check_model_params(model_params)
    train = prepare_training(finetune_params, seed, defaults={"batch_size": 32}, extra_keys={"loss"})
    loss = check_loss_params(train.extra.get("loss"), len(decoders))
    model = SWWAEModel(backbone, decoders, variant=p.get("variant", "all"), name="swwae_vgg", **loss)
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    stream, steps = _ssl_stream(split, train, loss["reconstruct_unlabeled"])
    history = train.fit(model, stream, steps, _val_stream(split), stage="finetune")
    logger.info("swwae_vgg parameters: %s", model.count_params_by_part())
    stages = {"pretrain": pretrain_history, "decoder_layerwise": layerwise_history,
              "decoder_chained": chained_history, "finetune": history}
    metrics = {k: {"value": v, "step": 0} for k, v in _errors(model, split).items()}
    return model, {"stages": stages}, metrics


def plot_reconstructions(model: SWWAEModel, split: SSLSplit, plot_params: dict | None = None) -> Figure:
    """Test images beside their reconstructions from every decoder level (the paper's figure):
    row ``pool<l>`` chains ``D_l .. D_1`` from the encoder's ``pool_l``."""
    p = check_keys("reconstruction_plot", plot_params, {"num_images"})
    n = int(p.get("num_images", 8))
    x = split_access.first_images(split, "test", n)
    rows = {"input": x}
    for level in range(1, model.levels + 1):
        rows[f"from pool{level}"] = np.clip(np.asarray(model.reconstruct_image_from_level(x, level)), 0.0, 1.0) \
            if x.min() >= 0 else np.asarray(model.reconstruct_image_from_level(x, level))
    return plots.image_grid_figure(rows, title=f"{model.variant} decoder reconstructions")


# === Evaluation ===
def evaluate_dense(model, split: SSLSplit, dense_params: dict | None, eval_params: dict | None):
    """Fully-convolutional evaluation (METHODS.md §3.4-3.5, the "convolution" columns).

    The classifier's fc layers become convolutions (:func:`~ssl_pipelines.evaluation_dense.convolutionalize`),
    the whole image is rescaled to each shorter side ``Q`` in ``dense_evaluation.scales`` (and
    flipped, with ``flip``), the class posteriors are averaged over positions and views, and
    top-1 / top-k errors are computed on the test and validation parts. Single-crop metrics are
    the shared ``evaluate_classifier``'s ``test.*`` / ``validation.*``.

    Returns:
        metrics ``{"test.error", "test.top5_error", ..., "validation.error", ...}`` (logged with
        the ``dense.`` prefix; empty when ``enabled: false``) and a report (JSON artifact).
    """
    p = check_dense_params(dense_params, split.input_shape)
    if not p["enabled"]:
        return {}, {"enabled": False}
    top_k = tuple(check_keys("evaluation", eval_params, {"batch_size", "top_k"}).get("top_k", (1, 5)))
    backbone = getattr(model, "backbone", model)
    dense = convolutionalize(backbone)
    report: dict = dict(p)
    metrics: dict = {}
    for part in ("test", "validation"):
        if not part_size(split, part):
            continue
        batches = split_access.full_image_batches(split, part, p["batch_size"])
        scores = dense_predict(dense, batches, p["scales"], flip=p["flip"], average=p["average"])
        part_report = classification_report(scores, split_access.part_labels(split, part), split.num_classes, top_k)
        report[part] = part_report
        metrics.update({f"{part}.{k}": {"value": v, "step": 0} for k, v in scalar_metrics(part_report).items()})
        logger.info("dense evaluation (%s, scales %s, flip %s): top-1 error %.2f%%", part, p["scales"], p["flip"],
                    part_report["error"])
    return metrics, report
