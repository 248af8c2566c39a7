"""Sections of the EMA-teacher pipelines: Mean Teacher (``mean_teacher.loss``) and HybridNet
(``hybridnet.model`` / ``hybridnet.loss``), METHODS.md §1. Both use the same stability keys
(``lambda_stab``, ``stab_rampup_epochs``, ``ema_decay``) with the same defaults."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.params.reader import Section

STABILITY_KEYS = frozenset({"lambda_stab", "stab_rampup_epochs", "ema_decay"})
HYBRID_LOSS_KEYS = STABILITY_KEYS | {"lambda_cls", "lambda_rec", "lambda_inter", "balanced", "rec_rampup_epochs",
                                     "inter_rampup_epochs", "rampdown_epochs"}
HYBRID_MODEL_KEYS = frozenset({"arch", "stages", "top", "stem", "batch_norm", "dropout", "input_noise", "unpool_u"})
HYBRID_ARCHS = ("convlarge", "resnet")
FIGURE_KEYS = frozenset({"n_images"})
#: stream batches of both pipelines when ``train:`` sets none (HybridNet's ablations: 20 + 80)
EMA_TRAIN_DEFAULTS = {"batch_labeled": 20, "batch_unlabeled": 80}


def epochs_to_steps(epochs: float, steps_per_epoch: int) -> int:
    return int(round(float(epochs) * int(steps_per_epoch)))


@dataclasses.dataclass(frozen=True)
class StabilityParams:
    """``λ_s`` on the softmax MSE to the EMA teacher, its sigmoid ramp-up (epochs) and the
    largest EMA decay (HybridNet code: 100, 5 epochs, 0.97)."""

    lambda_stab: float = 100.0
    stab_rampup_epochs: float = 5.0
    ema_decay: float = 0.97

    def model_kwargs(self, steps_per_epoch: int, epochs: int) -> dict:
        return {"lambda_stab": self.lambda_stab, "ema_decay": self.ema_decay,
                "stab_rampup_steps": epochs_to_steps(self.stab_rampup_epochs, steps_per_epoch)}


def _stability(s: Section) -> dict:
    return {"lambda_stab": s.number("lambda_stab", 100.0), "stab_rampup_epochs": s.number("stab_rampup_epochs", 5.0),
            "ema_decay": s.number("ema_decay", 0.97, 0.0, 1.0, high_open=True)}


def parse_stability(params: dict | None, section: str = "loss") -> StabilityParams:
    return StabilityParams(**_stability(Section(section, params, STABILITY_KEYS)))


@dataclasses.dataclass(frozen=True)
class HybridLossParams(StabilityParams):
    """HybridNet's Eq. 2 weights and schedules. ``rampdown_epochs``: the reconstruction weights
    cosine-decay to 0 at this epoch (None: the last epoch, as the released code; 0: never)."""

    lambda_cls: float = 1.0
    lambda_rec: float = 1.0
    lambda_inter: float = 1.0
    balanced: bool = True
    rec_rampup_epochs: float = 5.0
    inter_rampup_epochs: float = 2.0
    rampdown_epochs: float | None = None

    def model_kwargs(self, steps_per_epoch: int, epochs: int) -> dict:
        down = epochs if self.rampdown_epochs is None else self.rampdown_epochs
        return {**super().model_kwargs(steps_per_epoch, epochs), "lambda_cls": self.lambda_cls,
                "lambda_rec": self.lambda_rec, "lambda_inter": self.lambda_inter, "balanced": self.balanced,
                "rec_rampup_steps": epochs_to_steps(self.rec_rampup_epochs, steps_per_epoch),
                "inter_rampup_steps": epochs_to_steps(self.inter_rampup_epochs, steps_per_epoch),
                "rampdown_steps": epochs_to_steps(down, steps_per_epoch)}


def parse_hybrid_loss(params: dict | None, section: str = "loss") -> HybridLossParams:
    s = Section(section, params, HYBRID_LOSS_KEYS)
    p = HybridLossParams(**_stability(s), lambda_cls=s.number("lambda_cls", 1.0), lambda_rec=s.number("lambda_rec", 1.0),
                         lambda_inter=s.number("lambda_inter", 1.0), balanced=s.flag("balanced", True),
                         rec_rampup_epochs=s.number("rec_rampup_epochs", 5.0),
                         inter_rampup_epochs=s.number("inter_rampup_epochs", 2.0),
                         rampdown_epochs=s.number("rampdown_epochs", None))
    if not any((p.lambda_cls, p.lambda_rec, p.lambda_inter, p.lambda_stab)):
        raise ConfigError(f"at least one of {section}.lambda_cls/lambda_rec/lambda_inter/lambda_stab must be > 0")
    return p


def parse_hybrid_model(params: dict | None, section: str = "model") -> tuple[str, dict]:
    """``(arch, kwargs of build_hybrid_branches)``; the builder checks the values' shapes."""
    s = Section(section, params, HYBRID_MODEL_KEYS)
    kwargs = {k: v for k, v in s.values.items() if k != "arch"}
    return s.choice("arch", "convlarge", HYBRID_ARCHS), kwargs


def parse_figures(params: dict | None, section: str = "figures") -> int:
    """Number of test images in the reconstruction figure."""
    return Section(section, params, FIGURE_KEYS).int("n_images", 10)
