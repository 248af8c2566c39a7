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
from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.evaluation import classification_report, predict_logits
from ssl_pipelines.methods import SupervisedClassifier, SWWAEModel
from ssl_pipelines.methods.swwae import REDUCTIONS, VARIANTS
from ssl_pipelines.models import build_backbone, build_vgg16_decoders, load_vgg16_weights
from ssl_pipelines.models.vgg import UNPOOLING_MODES
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

MODEL_KEYS = {"backbone_kwargs", "unpooling", "variant", "decoder_init_stddev", "fixed_position"}
PRETRAIN_EXTRA = {"init", "weights_path"}
LOSS_KEYS = {"reduction", "classification_weight", "weights", "stop_gradient_targets", "reconstruct_unlabeled"}
INITS = ("train", "imagenet")


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


def _ssl_stream(split: SSLSplit, train, reconstruct_unlabeled: bool = True):
    bl = train.batch_labeled or train.batch_size
    bu = (train.batch_unlabeled or 0) if reconstruct_unlabeled and len(split.x_unlabeled) else 0
    stream = ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled if bu else None,
                        batch_labeled=bl, batch_unlabeled=bu, seed=train.seed, augment=train.augment)
    n = len(split.x_labeled) + (len(split.x_unlabeled) if bu else 0)
    steps = train.steps_per_epoch or steps_per_epoch(n, bl + bu)
    return stream, steps


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def _max_abs_change(before: list[np.ndarray], model) -> float:
    return float(max((np.max(np.abs(a - np.asarray(w))) for a, w in zip(before, model.weights)), default=0.0))


def _errors(model, split: SSLSplit, batch_size: int = 256) -> dict[str, float]:
    """Top-1 error (%) on the labeled training images, validation and test (regularization evidence)."""
    out = {}
    for name, x, y in (("train", split.x_labeled, split.y_labeled), ("validation", split.x_val, split.y_val),
                       ("test", split.x_test, split.y_test)):
        if len(x):
            out[f"{name}_error"] = classification_report(predict_logits(model, x, batch_size), y,
                                                         split.num_classes, ())["error"]
    if "validation_error" in out:
        out["generalization_gap"] = out["validation_error"] - out["train_error"]
    return out


# === Step 1 ===
def pretrain_classifier(split: SSLSplit, model_params: dict, pretrain_params: dict, seed: int):
    """Step 1: the VGG16 classifier (METHODS.md §3.3), from ImageNet weights or trained on labels.

    Returns:
        the backbone (inputs -> logits), its history and its train/validation/test errors
        (the baseline the fine-tuned model is compared with).
    """
    p = check_model_params(model_params)
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
        stream = ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=train.batch_size, seed=train.seed,
                            augment=train.augment)
        steps = train.steps_per_epoch or steps_per_epoch(len(split.x_labeled), train.batch_size)
        val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
        history = train.fit(model, stream, steps, val, stage="pretrain")
    metrics = {k: {"value": v, "step": 0} for k, v in _errors(backbone, split).items()}
    return backbone, history, metrics


# === Steps 2-3 (encoder frozen) ===
def _train_frozen(backbone, decoders, split, variant, stage_params, seed, stage: str):
    train = prepare_training(stage_params, seed, defaults={"batch_size": 32})
    levels = len(decoders)
    weights = {"image": 1.0, **{f"pool{l}": 1.0 for l in range(1, levels)}}  # all 1 in pre-training (§3.2)
    flags = [layer.trainable for layer in backbone.layers]
    backbone.trainable = False
    model = SWWAEModel(backbone, decoders, variant=variant, loss_weights=weights, classification_weight=0.0,
                       reduction="mean", name=f"swwae_{stage}")
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
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="finetune")
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
    x = np.asarray(split.x_test[:n], np.float32)
    rows = {"input": x}
    for level in range(1, model.levels + 1):
        rows[f"from pool{level}"] = np.clip(np.asarray(model.reconstruct_image_from_level(x, level)), 0.0, 1.0) \
            if x.min() >= 0 else np.asarray(model.reconstruct_image_from_level(x, level))
    return plots.image_grid_figure(rows, title=f"{model.variant} decoder reconstructions")
