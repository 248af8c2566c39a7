"""Nodes of the R2-D2 pipeline (METHODS.md §4.3): three training stages, per-stage evaluation.

1. ``train_supervised_stage``: cross-entropy on the labeled images only.
2. ``train_d2_stage``: Deep Decipher started by a reprediction (eval mode, no augmentation,
   logits stored), with further repredictions at the end of the epochs in ``repredict_at`` and a
   piecewise-constant learning rate ``lr_schedule``. The poster's ablation (repeat the 2nd stage /
   reprediction / reduce LR) is a choice of ``epochs``, ``repredict_at`` and ``lr_schedule``.
3. ``finetune_on_pseudo_labels``: repredict, take the argmax of every pseudo-label, train with
   cross-entropy on all training images (true labels on the labeled ones).

Pseudo-label accuracy on the unlabeled images (``SSLSplit.y_unlabeled``, diagnostics only, never
trained on) and the mean max probability of the pseudo-labels are returned as metric curves.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import numpy as np

from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.evaluation import classification_report, predict_logits, scalar_metrics
from ssl_pipelines.methods import R2D2, SupervisedClassifier
from ssl_pipelines.pipelines.training_nodes import TrainConfig, build_backbone_from_params, prepare_training

logger = logging.getLogger(__name__)

D2_KEYS = {"alpha", "beta", "label_lr", "label_lr_reference_batch_size", "labeled_logit_scale",
           "repredict_at", "lr_schedule", "repredict_batch_size"}
FINETUNE_KEYS = {"repredict", "repredict_batch_size"}


# === Parameter checks (all stages are checked before stage 1 trains) ===
def _number(name: str, value: Any, minimum: float = 0.0, strict: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= minimum if strict else value < minimum):
        raise ConfigError(f"{name} must be a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def parse_d2_params(d2_params: dict, seed: int) -> tuple[TrainConfig, dict]:
    """Validate the ``d2:`` section. Returns the train config and the resolved D2 options."""
    train = prepare_training(d2_params, seed, defaults={"batch_labeled": 16, "batch_unlabeled": 48},
                             extra_keys=D2_KEYS)
    ex = train.extra
    ref = ex.get("label_lr_reference_batch_size", 512)
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int) or ref < 1):
        raise ConfigError(f"d2.label_lr_reference_batch_size must be a positive integer or null, got {ref!r}")
    opts = {
        "alpha": _number("d2.alpha", ex.get("alpha", 0.1)),
        "beta": _number("d2.beta", ex.get("beta", 0.03), strict=False),
        "label_lr": _number("d2.label_lr", ex.get("label_lr", 4000.0)),
        "label_lr_reference_batch_size": ref,
        "labeled_logit_scale": _number("d2.labeled_logit_scale", ex.get("labeled_logit_scale", 10.0)),
        "repredict_batch_size": int(_number("d2.repredict_batch_size", ex.get("repredict_batch_size", 256))),
    }
    at = ex.get("repredict_at") or []
    if not isinstance(at, (list, tuple)) or any(isinstance(e, bool) or not isinstance(e, int) for e in at):
        raise ConfigError(f"d2.repredict_at must be a list of epoch numbers, got {at!r}")
    bad = [e for e in at if not 0 < e < train.epochs]
    if bad or len(set(at)) != len(at):
        raise ConfigError(f"d2.repredict_at must hold distinct epochs in 1..{train.epochs - 1} (the end of "
                          f"those epochs; the initial reprediction is always done), got {at!r}")
    opts["repredict_at"] = sorted(at)
    if train.lr_decay_start is not None:
        raise ConfigError(f"d2.lr_decay_start is not used by R2-D2's stage 2 (its learning rate follows "
                          f"d2.lr_schedule); remove it, got {train.lr_decay_start!r}")
    schedule = ex.get("lr_schedule") or []
    parsed = []
    for item in schedule if isinstance(schedule, (list, tuple)) else [schedule]:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or isinstance(item[0], bool)
                or not isinstance(item[0], int) or not 0 < item[0] < train.epochs):
            raise ConfigError(f"d2.lr_schedule must be a list of [epoch, learning_rate] pairs with epoch in "
                              f"1..{train.epochs - 1}, got {schedule!r}")
        parsed.append((int(item[0]), _number("d2.lr_schedule learning_rate", item[1])))
    if [e for e, _ in parsed] != sorted({e for e, _ in parsed}):
        raise ConfigError(f"d2.lr_schedule epochs must be increasing, got {schedule!r}")
    opts["lr_schedule"] = parsed
    if train.batch_unlabeled is None or train.batch_labeled is None:
        raise ConfigError("d2 needs batch_labeled and batch_unlabeled")
    return train, opts


def parse_finetune_params(params: dict, seed: int) -> tuple[TrainConfig, dict]:
    """Validate the ``finetune:`` section."""
    train = prepare_training(params, seed, defaults={"batch_size": 64}, extra_keys=FINETUNE_KEYS)
    repredict = train.extra.get("repredict", True)
    if not isinstance(repredict, bool):
        raise ConfigError(f"finetune.repredict must be true or false, got {repredict!r}")
    rb = int(_number("finetune.repredict_batch_size", train.extra.get("repredict_batch_size", 256)))
    return train, {"repredict": repredict, "repredict_batch_size": rb}


# === Diagnostics ===
def pseudo_label_stats(logits: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
    """Accuracy of ``argmax(logits)`` against ``y_true`` (rows with label -1 are skipped) and the
    mean max probability of ``softmax(logits)`` over all rows."""
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    known = np.asarray(y_true) >= 0
    acc = float((p.argmax(axis=1)[known] == np.asarray(y_true)[known]).mean()) if known.any() else float("nan")
    return {"accuracy": acc, "mean_max_prob": float(p.max(axis=1).mean())}


class D2Schedule(keras.callbacks.Callback):
    """Stage 2's epoch loop: the learning rate of ``lr_schedule`` at every epoch start; at every
    epoch end the pseudo-labels' accuracy and mean max probability (step = completed D2 epochs),
    then the reprediction if the epoch is in ``repredict_at``. Works on absolute epoch numbers,
    so a resumed ``fit`` keeps the schedule. ``curves`` (what ``record``/``repredict`` fill) travels
    with the training checkpoint, so a resumed or restored stage reports the curves it logged."""

    def __init__(self, base_lr: float, lr_schedule: list[tuple[int, float]], repredict_at: list[int],
                 record, repredict, curves: dict | None = None):
        super().__init__()
        self._base_lr, self._schedule, self._at = float(base_lr), list(lr_schedule), set(repredict_at)
        self._record, self._repredict = record, repredict
        self._curves = curves if curves is not None else {}

    def checkpoint_state(self) -> dict:
        return self._curves

    def restore_checkpoint_state(self, state: dict) -> None:
        self._curves.clear()
        self._curves.update(state)

    def lr_at(self, epoch: int) -> float:
        lr = self._base_lr
        for start, value in self._schedule:
            if epoch >= start:
                lr = value
        return lr

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.lr_at(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)
        if epoch + 1 in self._at:
            self._repredict(epoch + 1)


def _curves_for_mlflow(curves: dict[str, list]) -> dict[str, list]:
    return {k: [p for p in v if math.isfinite(p["value"])] for k, v in curves.items() if v}


# === Stage 1 ===
def train_supervised_stage(split: SSLSplit, model_params: dict, supervised_params: dict, d2_params: dict,
                           finetune_params: dict, seed: int):
    """Stage 1: ``SupervisedClassifier(backbone)`` on the labeled images (METHODS.md §4.3 step 1).

    The ``d2`` and ``finetune`` sections are validated here too, so a bad value fails before
    anything trains. Returns the model and its history.
    """
    parse_d2_params(d2_params, seed)
    parse_finetune_params(finetune_params, seed)
    train = prepare_training(supervised_params, seed, defaults={"batch_size": 32})
    backbone = build_backbone_from_params(model_params, split)
    model = SupervisedClassifier(backbone, name="r2d2_supervised")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    batch = min(train.batch_size, len(split.x_labeled))
    stream = ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=batch, seed=train.seed, augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(len(split.x_labeled), batch)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="supervised")
    return model, history


# === Stage 2 ===
def train_d2_stage(supervised_model: keras.Model, split: SSLSplit, d2_params: dict, seed: int):
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
    train, opts = parse_d2_params(d2_params, seed)
    n_l, n_u = len(split.x_labeled), len(split.x_unlabeled)
    if n_u == 0:
        raise ConfigError("R2-D2 stage 2 needs unlabeled images, the split has none")
    model = R2D2(supervised_model.backbone, num_examples=n_l + n_u, num_labeled=n_l, alpha=opts["alpha"],
                 beta=opts["beta"], label_lr=opts["label_lr"],
                 label_lr_reference_batch_size=opts["label_lr_reference_batch_size"],
                 labeled_logit_scale=opts["labeled_logit_scale"], name="r2d2")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    base_lr = float(train.optimizer_params.get("learning_rate", 1e-3))
    b_l, b_u = int(train.batch_labeled), int(train.batch_unlabeled)
    logger.info("D2: batch %d (%d labeled), pseudo-label step %.4g per example (lambda %.4g at B_ref %s)",
                b_l + b_u, b_l, float(model.effective_label_lr(b_l + b_u)) * opts["alpha"] / (b_l + b_u),
                opts["label_lr"], opts["label_lr_reference_batch_size"])

    curves: dict[str, list] = {"accuracy": [], "mean_max_prob": [], "prediction_accuracy": [],
                               "prediction_mean_max_prob": []}

    def repredict(step: int) -> None:
        logits = model.repredict(split.x_unlabeled, batch_size=opts["repredict_batch_size"])
        stats = pseudo_label_stats(logits, split.y_unlabeled)
        for k, v in stats.items():
            curves[f"prediction_{k}"].append({"value": v, "step": step})
            if step == 0:
                curves[k].append({"value": v, "step": 0})
        logger.info("reprediction after %d D2 epochs: accuracy %.4f, mean max prob %.4f", step,
                    stats["accuracy"], stats["mean_max_prob"])

    def record(step: int) -> None:
        table = np.asarray(model.pseudo_labels.table.numpy())[n_l:]
        for k, v in pseudo_label_stats(table, split.y_unlabeled).items():
            curves[k].append({"value": v, "step": step})

    model.pseudo_labels.set_labeled(split.y_labeled)
    repredict(0)
    stream = ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=b_l,
                        batch_unlabeled=b_u, seed=train.seed, with_indices=True, augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(n_u, b_u)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    schedule = D2Schedule(base_lr, opts["lr_schedule"], opts["repredict_at"], record, repredict, curves)
    history = train.fit(model, stream, steps, val, stage="d2", callbacks=[schedule])
    history["learning_rate"] = [schedule.lr_at(e) for e in range(train.epochs)]
    return model, history, _curves_for_mlflow(curves)


# === Stage 3 ===
def finetune_on_pseudo_labels(d2_model: R2D2, split: SSLSplit, finetune_params: dict, seed: int):
    """Stage 3: cross-entropy on all training images with hard pseudo-labels (METHODS.md §4.3 step 3).

    Repredicts with the final stage-2 network (``repredict: true``, the reference), takes the
    argmax of every unlabeled row and fine-tunes the stage-2 backbone. Returns the model, its
    history and the hard labels' accuracy / mean max probability on the unlabeled images.
    """
    train, opts = parse_finetune_params(finetune_params, seed)
    if opts["repredict"]:
        d2_model.repredict(split.x_unlabeled, batch_size=opts["repredict_batch_size"])
    table = np.asarray(d2_model.pseudo_labels.table.numpy())
    n_l = d2_model.num_labeled
    stats = pseudo_label_stats(table[n_l:], split.y_unlabeled)
    logger.info("stage 3 hard pseudo-labels: accuracy %.4f on %d unlabeled images", stats["accuracy"], len(table) - n_l)
    x_all = np.concatenate([split.x_labeled, split.x_unlabeled])
    y_all = np.concatenate([np.asarray(split.y_labeled), table[n_l:].argmax(axis=1)]).astype(np.int64)
    model = SupervisedClassifier(d2_model.backbone, name="r2d2_finetune")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    batch = min(train.batch_size, len(x_all))
    stream = ssl_stream(x_all, y_all, batch_labeled=batch, seed=train.seed, augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(len(x_all), batch)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="finetune")
    metrics = {f"hard_label_{k}": [{"value": v, "step": 0}] for k, v in stats.items() if math.isfinite(v)}
    return model, history, metrics


# === Evaluation of every stage ===
def evaluate_stages(supervised_model, d2_model, trained_model, split: SSLSplit, eval_params: dict | None = None):
    """Test error of the model after each stage (the benchmark's stage 1 / 2 / 3 comparison).

    Returns ``stage_test_metrics`` (``<stage>_error``, ``<stage>_accuracy``; logged as
    ``stage_test.<name>``) and a JSON report with the full per-stage reports.
    """
    batch_size = int(dict(eval_params or {}).get("batch_size", 256))
    report, metrics = {}, {}
    for stage, model in (("supervised", supervised_model), ("d2", d2_model), ("finetune", trained_model)):
        rep = classification_report(predict_logits(model, split.x_test, batch_size), split.y_test, split.num_classes, ())
        report[stage] = scalar_metrics(rep)
        metrics[f"{stage}_error"] = {"value": rep["error"], "step": 0}
        metrics[f"{stage}_accuracy"] = {"value": rep["accuracy"], "step": 0}
        logger.info("%s stage: test error %.2f%%", stage, rep["error"])
    return metrics, report


def combine_histories(supervised: dict, d2: dict, finetune: dict) -> dict:
    """``{"stages": {"supervised": ..., "d2": ..., "finetune": ...}}`` for the learning-curve plot."""
    return {"stages": {"supervised": supervised, "d2": d2, "finetune": finetune}}
