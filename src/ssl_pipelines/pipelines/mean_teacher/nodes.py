"""Nodes: train a Mean Teacher model; evaluate its raw (student) classifier.

The shared ``evaluate_classifier`` node evaluates ``model.call``, i.e. the EMA teacher (the
test-time classifier of Mean Teacher and HybridNet); :func:`evaluate_student` adds the raw
classifier's metrics, logged as ``student.<metric>``.
"""

from __future__ import annotations

import logging
import numbers

from ssl_pipelines.data import ConfigError, SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.evaluation import classification_report, predict_logits, scalar_metrics
from ssl_pipelines.methods import MeanTeacher
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.training_nodes import build_backbone_from_params, prepare_training

logger = logging.getLogger(__name__)

MT_LOSS_KEYS = {"lambda_stab", "stab_rampup_epochs", "ema_decay"}  # HybridNet's stability keys
AUGMENT_KEYS = {"max_shift", "flip"}


def check_number(name: str, value, low: float = 0.0, high: float | None = None, high_open: bool = False) -> float:
    """A real number in ``[low, high]`` (``[low, high)`` with ``high_open``), else ConfigError."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bound = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ConfigError(f"{name} must be a number >= {low}{bound}, got {value!r}")
    return float(value)


def resolve_augment(augment: dict | None) -> tuple[int, bool]:
    """``train.augment: {max_shift, flip}`` -> (shift, flip) for the in-model two views."""
    params = check_keys("train.augment", augment, AUGMENT_KEYS)
    shift = params.get("max_shift", 0) or 0
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise ConfigError(f"train.augment.max_shift must be an integer >= 0, got {shift!r}")
    flip = params.get("flip", False)
    if not isinstance(flip, bool):
        raise ConfigError(f"train.augment.flip must be true or false, got {flip!r}")
    return shift, flip


def ssl_batches(split: SSLSplit, train) -> tuple:
    """The (labeled, unlabeled) stream without augmentation (the models draw two views
    themselves) and the number of steps per epoch (default: one pass over the unlabeled data)."""
    b_l = train.batch_labeled or 20
    b_u = train.batch_unlabeled if train.batch_unlabeled is not None else 80
    stream = ssl_stream(split.x_labeled, split.y_labeled, split.x_unlabeled, batch_labeled=b_l,
                        batch_unlabeled=b_u, seed=train.seed)
    steps = train.steps_per_epoch or steps_per_epoch(len(split.x_unlabeled), b_u)
    return stream, steps


def train_mean_teacher(split: SSLSplit, model_params: dict, loss_params: dict, train_params: dict, seed: int):
    """Train ``MeanTeacher(backbone)``: CE on labeled + λ_s·ramp-up·softmax-MSE to the EMA teacher.

    ``loss``: ``lambda_stab`` (λ_s), ``stab_rampup_epochs``, ``ema_decay`` (in [0, 1)): the key
    names of HybridNet's stability term (``hybridnet.loss``).
    """
    loss = check_keys("loss", loss_params, MT_LOSS_KEYS)
    weight = check_number("loss.lambda_stab", loss.get("lambda_stab", 100.0))
    rampup = check_number("loss.stab_rampup_epochs", loss.get("stab_rampup_epochs", 5))
    decay = check_number("loss.ema_decay", loss.get("ema_decay", 0.99), 0.0, 1.0, high_open=True)
    train = prepare_training(train_params, seed, defaults={"batch_labeled": 20, "batch_unlabeled": 80})
    shift, flip = resolve_augment(train.augment)
    backbone = build_backbone_from_params(model_params, split)
    stream, steps = ssl_batches(split, train)
    model = MeanTeacher(backbone, ema_decay=decay, stability_weight=weight,
                        stability_rampup_steps=int(round(rampup * steps)), augment_shift=shift,
                        augment_flip=flip, name="mean_teacher")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="mean_teacher")
    return model, history


def evaluate_student(model, split: SSLSplit, eval_params: dict | None = None) -> tuple[dict, dict]:
    """Test metrics of the raw (non-EMA) classifier ``model.backbone``: ``student_metrics``
    (logged as ``student.accuracy``, ``student.error``, ...) and a JSON report."""
    params = check_keys("evaluation", eval_params, {"batch_size", "top_k"})
    batch_size = int(params.get("batch_size", 256))
    top_k = tuple(params.get("top_k", (1, 5)))
    report = classification_report(predict_logits(model.backbone, split.x_test, batch_size), split.y_test,
                                   split.num_classes, top_k)
    logger.info("raw (student) classifier test accuracy: %.4f", report["accuracy"])
    return {k: {"value": v, "step": 0} for k, v in scalar_metrics(report).items()}, report
