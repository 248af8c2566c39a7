"""Training helpers shared by all methods: seeding, optimizers, callbacks and the fit loop."""

from ssl_pipelines.training.budget import CpuTimeBudget
from ssl_pipelines.training.callbacks import MlflowMetricsLogger, NonFiniteLossError, StopOnNonFiniteLoss
from ssl_pipelines.training.checkpoint import TrainingCheckpoint
from ssl_pipelines.training.ema import EMACallback, EMATeacher, clone_for_ema, ema_decay, update_ema
from ssl_pipelines.training.fit import check_positive_int, fit_model
from ssl_pipelines.training.lr_schedule import LinearLrDecay, budget_decay_factor, linear_decay_factor
from ssl_pipelines.training.optimizers import build_optimizer
from ssl_pipelines.training.precision import PRECISIONS, apply_precision, current_precision, resolve_precision
from ssl_pipelines.training.seeding import set_global_seed

__all__ = [
    "CpuTimeBudget",
    "EMACallback",
    "EMATeacher",
    "LinearLrDecay",
    "MlflowMetricsLogger",
    "PRECISIONS",
    "NonFiniteLossError",
    "StopOnNonFiniteLoss",
    "TrainingCheckpoint",
    "apply_precision",
    "budget_decay_factor",
    "build_optimizer",
    "check_positive_int",
    "clone_for_ema",
    "current_precision",
    "ema_decay",
    "fit_model",
    "linear_decay_factor",
    "resolve_precision",
    "set_global_seed",
    "update_ema",
]
