"""Sections of the staged SAE/SWWAE pipeline (Zhang, Lee & Lee 2016; METHODS.md §3.3):
``model``, ``pretrain`` (Step 1), ``decoder_layerwise`` / ``decoder_chained`` (Steps 2-3),
``finetune`` with its ``loss`` (Step 4), ``reconstruction_plot`` and ``dense_evaluation``."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.evaluation_dense import AVERAGES, check_scales, min_scale
from ssl_pipelines.methods.swwae import REDUCTIONS, VARIANTS, decoder_pretraining_kwargs
from ssl_pipelines.models.vgg import UNPOOLING_MODES
from ssl_pipelines.params.reader import Section
from ssl_pipelines.params.train import TrainConfig, parse_train

MODEL_KEYS = frozenset({"backbone_kwargs", "unpooling", "variant", "decoder_init_stddev", "fixed_position"})
PRETRAIN_KEYS = frozenset({"init", "weights_path"})
LOSS_KEYS = frozenset({"reduction", "classification_weight", "weights", "stop_gradient_targets",
                       "reconstruct_unlabeled"})
DENSE_KEYS = frozenset({"enabled", "scales", "flip", "average", "batch_size"})
INITS = ("train", "imagenet")
# ``model.unpooling: none`` is the paper's plain VGGNet row: no decoders, Steps 2-3 skipped, Step 4
# trains the classifier further with cross-entropy only for the same budget (the baseline arm)
NO_DECODERS = "none"
VGG_TARGETS = ("image", "pool1", "pool2", "pool3", "pool4")  # every reconstruction target VGG16 can have
MAX_LEVELS = len(VGG_TARGETS)


@dataclasses.dataclass(frozen=True)
class SWWAEModelParams:
    backbone_kwargs: dict
    unpooling: str = "swwae"
    variant: str = "all"
    decoder_init_stddev: float = 0.001
    fixed_position: tuple[int, int] = (1, 1)


def parse_model(params: dict | None) -> SWWAEModelParams:
    s = Section("model", params, MODEL_KEYS)
    pos = s.ints("fixed_position", [1, 1], minimum=0, min_length=2)
    return SWWAEModelParams(backbone_kwargs=s.mapping("backbone_kwargs"),
                            unpooling=s.choice("unpooling", "swwae", [*sorted(UNPOOLING_MODES), NO_DECODERS]),
                            variant=s.choice("variant", "all", list(VARIANTS)),
                            decoder_init_stddev=s.number("decoder_init_stddev", 0.001, low_open=True),
                            fixed_position=tuple(pos[:2]))


def parse_pretrain(params: dict | None, seed) -> tuple[TrainConfig, str, str | None]:
    """Step 1: ``(train config, init, weights_path)``; ``init: imagenet`` needs a local .h5 file."""
    train, s = parse_train(params, seed, "pretrain", defaults={"batch_size": 32}, extra_keys=PRETRAIN_KEYS)
    init = s.choice("init", "train", INITS)
    path = s.text("weights_path")
    if init == "imagenet" and not path:
        raise ConfigError("pretrain.init: imagenet needs pretrain.weights_path (a local Keras VGG16 .h5 file)")
    return train, init, path


def parse_decoder_stage(params: dict | None, seed, section: str) -> TrainConfig:
    """Steps 2-3: the train config; its ``extra["loss"]`` is the decoder pre-training loss
    (:func:`~ssl_pipelines.methods.swwae.decoder_pretraining_kwargs`, checked here)."""
    train, s = parse_train(params, seed, section, defaults={"batch_size": 32}, extra_keys={"loss"})
    decoder_pretraining_kwargs(1, s.get("loss"))
    return train


def parse_finetune(params: dict | None, seed, levels: int) -> tuple[TrainConfig, dict]:
    """Step 4: the train config and :class:`~ssl_pipelines.methods.SWWAEModel` loss arguments for
    a network with ``levels`` decoder levels."""
    train, s = parse_train(params, seed, "finetune", defaults={"batch_size": 32}, extra_keys={"loss"})
    return train, parse_loss(s.get("loss"), levels)


def parse_loss(params: dict | None, levels: int) -> dict:
    s = Section("finetune.loss", params, LOSS_KEYS)
    allowed = {"image", *[f"pool{level}" for level in range(1, levels)]}
    w = Section("finetune.loss.weights", s.get("weights", {"image": 1.0}), VGG_TARGETS)
    weights = {k: w.number(k, 0.0) for k in w.values}
    missing = sorted(k for k in set(weights) - allowed if weights[k])
    if missing:
        raise ConfigError(f"finetune.loss.weights {missing} are non-zero but a {levels}-block VGG16 only has "
                          f"targets {sorted(allowed)}; set them to 0 or use more blocks")
    return {"reduction": s.choice("reduction", "mean", list(REDUCTIONS)),
            "loss_weights": {k: v for k, v in weights.items() if k in allowed},
            "classification_weight": s.number("classification_weight", 1.0),
            "stop_gradient_targets": s.flag("stop_gradient_targets", False),
            "reconstruct_unlabeled": s.flag("reconstruct_unlabeled", True)}


def parse_dense(params: dict | None, input_shape) -> dict:
    """``dense_evaluation`` (METHODS.md §3.4 "convolution") for a network trained on
    ``input_shape`` (None: the scales are checked once the input shape is known):
    ``{enabled, scales, flip, average, batch_size}``."""
    s = Section("dense_evaluation", params, DENSE_KEYS)
    enabled = s.flag("enabled", False)
    out = {"enabled": enabled, "average": s.choice("average", "softmax", list(AVERAGES)),
           "batch_size": s.int("batch_size", 64), "flip": s.flag("flip", True)}
    if not enabled:
        out["scales"] = []
    elif input_shape is None:
        out["scales"] = s.ints("scales", [], min_length=1) if s.has("scales") else []
    else:
        out["scales"] = list(check_scales(s.get("scales") or [min_scale(input_shape)], input_shape))
    return out


def parse_plot(params: dict | None) -> int:
    return Section("reconstruction_plot", params, {"num_images"}).int("num_images", 8)
