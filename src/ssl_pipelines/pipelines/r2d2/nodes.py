"""Nodes of the R2-D2 pipeline (METHODS.md §4.3): three training stages, per-stage evaluation.

1. ``train_supervised_stage``: cross-entropy on the labeled images only.
2. ``train_d2_stage``: Deep Decipher started by a reprediction (eval mode, no augmentation,
   logits stored), with further repredictions at the end of the epochs in ``repredict_at`` and a
   piecewise-constant learning rate ``lr_schedule``
   (:class:`~ssl_pipelines.methods.r2d2.RepredictionSchedule`). The poster's ablation (repeat
   the 2nd stage / reprediction / reduce LR) is a choice of ``epochs``, ``repredict_at`` and
   ``lr_schedule``.
3. ``finetune_on_pseudo_labels``: repredict, take the argmax of every pseudo-label, train with
   cross-entropy on all training images (true labels on the labeled ones).

Pseudo-label accuracy on the unlabeled images (their hidden labels, diagnostics only, never
trained on) and the mean max probability of the pseudo-labels are returned as metric curves.
"""

from __future__ import annotations

import logging
import math

import keras
import numpy as np

from ssl_pipelines.data import ConfigError, split_access
from ssl_pipelines.evaluation import classification_report, predict_part, pseudo_label_stats, scalar_metrics
from ssl_pipelines.methods import R2D2, SupervisedClassifier
from ssl_pipelines.methods.r2d2 import RepredictionSchedule
from ssl_pipelines.params import parse_backbone, parse_evaluation
from ssl_pipelines.params.r2d2 import parse_d2, parse_finetune, parse_supervised_stage
from ssl_pipelines.pipelines.common_training import build_backbone_for, start_stage, train_stage

logger = logging.getLogger(__name__)


def _unlabeled_batches(split, batch_size: int):
    return split_access.evaluation_stream(split, "unlabeled", batch_size, with_labels=False)


def _finite(curves: dict[str, list]) -> dict[str, list]:
    return {k: [p for p in v if math.isfinite(p["value"])] for k, v in curves.items() if v}


# === Stage 1 ===
def train_supervised_stage(split, model_params: dict, supervised_params: dict, seed: int,
                           eval_params: dict | None = None):
    """Stage 1: ``SupervisedClassifier(backbone)`` on the labeled images (METHODS.md §4.3 step 1).
    Returns the model and its history. Every stage logs its own learning curve with
    ``evaluation.curve_every`` (``supervised.test_accuracy``, ``d2.test_accuracy``,
    ``finetune.test_accuracy``)."""
    train = start_stage(parse_supervised_stage(supervised_params, seed))
    model = SupervisedClassifier(build_backbone_for(split, parse_backbone(model_params)[0]), name="r2d2_supervised")
    return model, train_stage(model, split, train, stage="supervised", unlabeled=False,
                              evaluation=parse_evaluation(eval_params))


# === Stage 2 ===
def train_d2_stage(supervised_model: keras.Model, split, d2_params: dict, seed: int,
                   eval_params: dict | None = None):
    """Stage 2: D2 training with repetitive reprediction (METHODS.md §4.2-4.3).

    Starts from the stage-1 backbone, writes ``10 * onehot(y)`` into the labeled rows and the
    network's eval-mode logits into the unlabeled rows (initial reprediction), then trains for
    ``epochs`` epochs (one epoch = one pass over the unlabeled images by default), repredicting at
    the end of each epoch in ``repredict_at`` and switching the learning rate at the epochs of
    ``lr_schedule``.

    Returns:
        the :class:`~ssl_pipelines.methods.R2D2` model (its pseudo-label table is saved with it),
        its history, and pseudo-label metric curves (``accuracy``, ``mean_max_prob`` of the
        table after every epoch; ``prediction_accuracy``, ``prediction_mean_max_prob`` of the
        network at every reprediction; step = completed D2 epochs).
    """
    train, opts = parse_d2(d2_params, seed)
    start_stage(train)
    n_l, n_u = split_access.part_size(split, "labeled"), split_access.part_size(split, "unlabeled")
    if n_u == 0:
        raise ConfigError("R2-D2 stage 2 needs unlabeled images, the split has none")
    y_unlabeled = split_access.part_labels(split, "unlabeled")
    model = R2D2(supervised_model.backbone, num_examples=n_l + n_u, num_labeled=n_l, name="r2d2", **opts.model_kwargs)
    b = train.batch_labeled + train.batch_unlabeled
    logger.info("D2: batch %d (%d labeled), pseudo-label step %.4g per example (lambda %.4g at B_ref %s)",
                b, train.batch_labeled, float(model.effective_label_lr(b)) * opts.alpha / b, opts.label_lr,
                opts.label_lr_reference_batch_size)
    curves: dict[str, list] = {"accuracy": [], "mean_max_prob": [], "prediction_accuracy": [],
                               "prediction_mean_max_prob": []}

    def repredict(step: int) -> None:
        logits = model.repredict(_unlabeled_batches(split, opts.repredict_batch_size))
        stats = pseudo_label_stats(logits, y_unlabeled)
        for k, v in stats.items():
            curves[f"prediction_{k}"].append({"value": v, "step": step})
            if step == 0:
                curves[k].append({"value": v, "step": 0})
        logger.info("reprediction after %d D2 epochs: accuracy %.4f, mean max prob %.4f", step,
                    stats["accuracy"], stats["mean_max_prob"])

    def record(step: int) -> None:
        table = np.asarray(model.pseudo_labels.table.numpy())[n_l:]
        for k, v in pseudo_label_stats(table, y_unlabeled).items():
            curves[k].append({"value": v, "step": step})

    model.pseudo_labels.set_labeled(split.y_labeled)
    repredict(0)
    schedule = RepredictionSchedule(train.learning_rate, opts.lr_schedule, opts.repredict_at, record, repredict,
                                    curves)
    history = train_stage(model, split, train, stage="d2", with_indices=True, callbacks=[schedule],
                          evaluation=parse_evaluation(eval_params))
    history["learning_rate"] = [schedule.lr_at(e) for e in range(train.epochs)]
    return model, history, _finite(curves)


# === Stage 3 ===
def finetune_on_pseudo_labels(d2_model: R2D2, split, finetune_params: dict, seed: int,
                              eval_params: dict | None = None):
    """Stage 3: cross-entropy on all training images with hard pseudo-labels (METHODS.md §4.3 step 3).

    Repredicts with the final stage-2 network (``repredict: true``, the reference), takes the
    argmax of every unlabeled row and fine-tunes the stage-2 backbone. Returns the model, its
    history and the hard labels' accuracy / mean max probability on the unlabeled images.
    """
    train, opts = parse_finetune(finetune_params, seed)
    start_stage(train)
    if opts.repredict:
        d2_model.repredict(_unlabeled_batches(split, opts.repredict_batch_size))
    table = np.asarray(d2_model.pseudo_labels.table.numpy())
    n_l = d2_model.num_labeled
    stats = pseudo_label_stats(table[n_l:], split_access.part_labels(split, "unlabeled"))
    logger.info("stage 3 hard pseudo-labels: accuracy %.4f on %d unlabeled images", stats["accuracy"], len(table) - n_l)
    pseudo = split_access.relabeled(split, [("labeled", None), ("unlabeled", table[n_l:].argmax(axis=1))])
    model = SupervisedClassifier(d2_model.backbone, name="r2d2_finetune")
    history = train_stage(model, pseudo, train, stage="finetune", unlabeled=False,
                          evaluation=parse_evaluation(eval_params))
    metrics = {f"hard_label_{k}": [{"value": v, "step": 0}] for k, v in stats.items() if math.isfinite(v)}
    return model, history, metrics


# === Evaluation of every stage ===
def evaluate_stages(supervised_model, d2_model, trained_model, split, eval_params: dict | None = None):
    """Test error of the model after each stage (the benchmark's stage 1 / 2 / 3 comparison).

    On ``evaluation.test_subset`` when set, like the final evaluation. Returns
    ``stage_test_metrics`` (``<stage>_error``, ``<stage>_accuracy``; logged as
    ``stage_test.<name>``) and a JSON report with the full per-stage reports.
    """
    ev = parse_evaluation(eval_params)
    test = split_access.test_subset(split, ev.test_subset, ev.test_subset_seed)  # as evaluate_classifier
    report, metrics = {}, {}
    for stage, model in (("supervised", supervised_model), ("d2", d2_model), ("finetune", trained_model)):
        rep = classification_report(predict_part(model, test, "test", ev.batch_size),
                                    split_access.part_labels(test, "test"), split.num_classes, ())
        report[stage] = scalar_metrics(rep)
        metrics[f"{stage}_error"] = {"value": rep["error"], "step": 0}
        metrics[f"{stage}_accuracy"] = {"value": rep["accuracy"], "step": 0}
        logger.info("%s stage: test error %.2f%%", stage, rep["error"])
    return metrics, report


def combine_histories(supervised: dict, d2: dict, finetune: dict) -> dict:
    """``{"stages": {"supervised": ..., "d2": ..., "finetune": ...}}`` for the learning-curve plot."""
    return {"stages": {"supervised": supervised, "d2": d2, "finetune": finetune}}
