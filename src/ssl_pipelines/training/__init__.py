"""Training helpers shared by all methods: seeding, optimizers, callbacks and the fit loop."""

from ssl_pipelines.training.callbacks import MlflowMetricsLogger, NonFiniteLossError, StopOnNonFiniteLoss
from ssl_pipelines.training.checkpoint import TrainingCheckpoint
from ssl_pipelines.training.fit import check_positive_int, fit_model
from ssl_pipelines.training.optimizers import build_optimizer
from ssl_pipelines.training.seeding import set_global_seed

__all__ = [
    "MlflowMetricsLogger", "NonFiniteLossError", "StopOnNonFiniteLoss", "build_optimizer",
    "check_positive_int", "fit_model", "set_global_seed", "TrainingCheckpoint",
]

from ssl_pipelines.training.ema import EMACallback, EMATeacher, clone_for_ema, ema_decay, update_ema  # noqa: E402

__all__ += ["EMACallback", "EMATeacher", "clone_for_ema", "ema_decay", "update_ema"]
from ssl_pipelines.training.lr_schedule import LinearLrDecay, linear_decay_factor  # noqa: E402

__all__ += ["LinearLrDecay", "linear_decay_factor"]
