"""Nodes of the staged SAE/SWWAE training (Zhang, Lee & Lee 2016; METHODS.md §3.3).

Step 1 ``pretrain_classifier``: the VGG16 classifier, from ImageNet weights (local file) or
trained with cross-entropy on the labeled split. Step 2 ``train_layerwise_decoders``: one shallow
decoder per level, encoder frozen, every reconstruction weight 1. Step 3 ``train_chained_decoder``
(``-first`` / ``-all`` only): the chained decoder initialised from Step 2, encoder still frozen.
Step 4 ``finetune_swwae``: the whole network on classification + weighted reconstruction.
``model.unpooling: none`` is the paper's plain VGGNet row: Steps 2-3 are skipped and Step 4 trains
the Step-1 classifier further with cross-entropy only, for the same budget.
Pure functions: parameters and arrays in, models/histories/metrics/figures out.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from ssl_pipelines import plots
from ssl_pipelines.data import split_access
from ssl_pipelines.data.split_access import part_size
from ssl_pipelines.evaluation import classification_report, predict_part, scalar_metrics
from ssl_pipelines.evaluation_dense import convolutionalize, dense_predict
from ssl_pipelines.methods import SupervisedClassifier, SWWAEModel
from ssl_pipelines.methods.swwae import decoder_pretraining_kwargs
from ssl_pipelines.models import build_backbone, build_vgg16_decoders, load_vgg16_weights
from ssl_pipelines.params import parse_evaluation
from ssl_pipelines.params.swwae import (
    MAX_LEVELS,
    NO_DECODERS,
    parse_decoder_stage,
    parse_dense,
    parse_finetune,
    parse_model,
    parse_plot,
    parse_pretrain,
)
from ssl_pipelines.pipelines.common_training import start_stage, train_stage

logger = logging.getLogger(__name__)


def _stream_kwargs(split, train, reconstruct_unlabeled: bool = True) -> dict:
    """Steps 2-4 train on labeled + unlabeled batches (one pass over both per epoch), or on
    labeled batches only when there is nothing unlabeled to reconstruct."""
    use_u = bool(train.batch_unlabeled) and reconstruct_unlabeled and part_size(split, "unlabeled") > 0
    return {"unlabeled": use_u, "epoch_over": "all" if use_u else "labeled"}


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.weights]


def _max_abs_change(before: list[np.ndarray], model) -> float:
    return float(max((np.max(np.abs(a - np.asarray(w))) for a, w in zip(before, model.weights)), default=0.0))


def _errors(model, split, batch_size: int = 256) -> dict[str, float]:
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
def pretrain_classifier(split, model_params: dict, pretrain_params: dict, seed: int,
                        dense_params: dict | None = None, eval_params: dict | None = None):
    """Step 1: the VGG16 classifier (METHODS.md §3.3), from ImageNet weights or trained on labels.

    ``dense_params`` (the ``dense_evaluation`` section) is checked here against the input shape,
    so a bad scale fails before any stage trains; ``eval_params`` (``evaluation``) gives the
    stage's learning curve (``pretrain.test_accuracy`` with ``curve_every``).

    Returns:
        the backbone (inputs -> logits), its history and its train/validation/test errors
        (the baseline the fine-tuned model is compared with).
    """
    p = parse_model(model_params)
    parse_dense(dense_params, split.input_shape)
    train, init, weights_path = parse_pretrain(pretrain_params, seed)
    start_stage(train)
    backbone = build_backbone("vgg16", split.input_shape, split.num_classes, **p.backbone_kwargs)
    logger.info("vgg16 backbone: %s parameters", f"{backbone.count_params():,}")
    history: dict = {}
    if init == "imagenet":
        history["loaded_layers"] = [float(len(load_vgg16_weights(backbone, str(weights_path))))]
    else:
        model = SupervisedClassifier(backbone, name="swwae_pretrain")
        history = train_stage(model, split, train, stage="pretrain", unlabeled=False,
                              evaluation=parse_evaluation(eval_params))
    metrics = {k: {"value": v, "step": 0} for k, v in _errors(backbone, split).items()}
    return backbone, history, metrics


# === Steps 2-3 (encoder frozen) ===
def _train_frozen(backbone, decoders, split, variant, stage_params, seed, stage: str):
    train = start_stage(parse_decoder_stage(stage_params, seed, stage))
    loss = decoder_pretraining_kwargs(len(decoders), train.extra.get("loss"))
    flags = [layer.trainable for layer in backbone.layers]
    backbone.trainable = False
    model = SWWAEModel(backbone, decoders, variant=variant, name=f"swwae_{stage}", **loss)
    before = _weights(backbone)
    history = train_stage(model, split, train, stage=stage, **_stream_kwargs(split, train), validate=False)
    history["frozen_encoder_max_abs_change"] = [_max_abs_change(before, backbone)]
    backbone.trainable = True
    for layer, flag in zip(backbone.layers, flags):  # e.g. the frozen caffe_preprocess stays frozen
        layer.trainable = flag
    return history


def train_layerwise_decoders(backbone, split, model_params: dict, stage_params: dict, seed: int):
    """Step 2: layerwise decoders from random init, encoder frozen (METHODS.md §3.3).

    Returns:
        ``[D_1, ..., D_L]`` and the stage history (with ``frozen_encoder_max_abs_change``).
    """
    p = parse_model(model_params)
    if p.unpooling == NO_DECODERS:
        return [], {"skipped": [1.0]}
    decoders = build_vgg16_decoders(backbone, p.unpooling, init_stddev=p.decoder_init_stddev,
                                    fixed_position=p.fixed_position)
    history = _train_frozen(backbone, decoders, split, "layerwise", stage_params, seed, "decoder_layerwise")
    return decoders, history


def train_chained_decoder(backbone, decoders, split, model_params: dict, stage_params: dict, seed: int):
    """Step 3 (``-first`` / ``-all``): the chained decoder initialised from Step 2, encoder frozen.
    ``-layerwise`` goes straight to Step 4 (the decoders are returned unchanged)."""
    p = parse_model(model_params)
    if p.variant == "layerwise" or p.unpooling == NO_DECODERS:
        return decoders, {"skipped": [1.0]}
    return decoders, _train_frozen(backbone, decoders, split, p.variant, stage_params, seed, "decoder_chained")


# === Step 4 ===
def finetune_swwae(backbone, decoders, split, model_params: dict, finetune_params: dict, seed: int,
                   pretrain_history: dict, layerwise_history: dict, chained_history: dict,
                   eval_params: dict | None = None):
    """Step 4: joint fine-tuning on classification + weighted reconstruction (METHODS.md §3.2-3.3).
    ``eval_params`` (``evaluation``): its learning curve (``finetune.test_accuracy``; Steps 2-3
    train decoders only, the classifier does not change there).

    Returns:
        the trained :class:`SWWAEModel`, the multi-stage history ``{"stages": {...}}`` and
        train/validation/test errors after fine-tuning.
    """
    p = parse_model(model_params)
    if p.unpooling == NO_DECODERS:  # the VGGNet baseline: cross-entropy on the labeled images only
        train, _ = parse_finetune(finetune_params, seed, MAX_LEVELS)
        start_stage(train)
        logger.info("model.unpooling: none: Step 4 trains the classifier with cross-entropy only "
                    "(finetune.loss.weights unused)")
        model = SupervisedClassifier(backbone, name="swwae_vgg")
        history = train_stage(model, split, train, stage="finetune", unlabeled=False, epoch_over="labeled",
                              evaluation=parse_evaluation(eval_params))
    else:
        train, loss = parse_finetune(finetune_params, seed, len(decoders))
        start_stage(train)
        model = SWWAEModel(backbone, decoders, variant=p.variant, name="swwae_vgg", **loss)
        history = train_stage(model, split, train, stage="finetune",
                              **_stream_kwargs(split, train, loss["reconstruct_unlabeled"]),
                              evaluation=parse_evaluation(eval_params))
        logger.info("swwae_vgg parameters: %s", model.count_params_by_part())
    stages = {"pretrain": pretrain_history, "decoder_layerwise": layerwise_history,
              "decoder_chained": chained_history, "finetune": history}
    metrics = {k: {"value": v, "step": 0} for k, v in _errors(model, split).items()}
    return model, {"stages": stages}, metrics


def plot_reconstructions(model: SWWAEModel, split, plot_params: dict | None = None) -> Figure:
    """Test images beside their reconstructions from every decoder level (the paper's figure):
    row ``pool<l>`` chains ``D_l .. D_1`` from the encoder's ``pool_l``."""
    x = split_access.first_images(split, "test", parse_plot(plot_params))
    rows = {"input": x}
    if not isinstance(model, SWWAEModel):  # model.unpooling: none has no decoders
        return plots.image_grid_figure(rows, title="no decoders (model.unpooling: none): test images")
    for level in range(1, model.levels + 1):
        rows[f"from pool{level}"] = np.clip(np.asarray(model.reconstruct_image_from_level(x, level)), 0.0, 1.0) \
            if x.min() >= 0 else np.asarray(model.reconstruct_image_from_level(x, level))
    return plots.image_grid_figure(rows, title=f"{model.variant} decoder reconstructions")


# === Evaluation ===
def evaluate_dense(model, split, dense_params: dict | None, eval_params: dict | None):
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
    p = parse_dense(dense_params, split.input_shape)
    if not p["enabled"]:
        return {}, {"enabled": False}
    top_k = parse_evaluation(eval_params).top_k
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
