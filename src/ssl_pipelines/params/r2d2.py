"""Sections of the R2-D2 pipeline (Wang & Wu 2020, METHODS.md §4.3): ``supervised`` (stage 1),
``d2`` (stage 2) and ``finetune`` (stage 3), each a ``train:``-style section plus its own keys."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.params.train import TrainConfig, parse_train

D2_KEYS = frozenset({"alpha", "beta", "label_lr", "label_lr_reference_batch_size", "labeled_logit_scale",
                     "repredict_at", "lr_schedule", "repredict_batch_size"})
FINETUNE_KEYS = frozenset({"repredict", "repredict_batch_size"})


@dataclasses.dataclass(frozen=True)
class D2Params:
    """Stage 2: the R2D2 model's arguments, the reprediction epochs and the piecewise-constant
    learning rate ``lr_schedule`` (``[(epoch, lr), ...]``)."""

    alpha: float
    beta: float
    label_lr: float
    label_lr_reference_batch_size: int | None
    labeled_logit_scale: float
    repredict_at: list[int]
    lr_schedule: list[tuple[int, float]]
    repredict_batch_size: int

    @property
    def model_kwargs(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "label_lr": self.label_lr,
                "label_lr_reference_batch_size": self.label_lr_reference_batch_size,
                "labeled_logit_scale": self.labeled_logit_scale}


def parse_supervised_stage(params: dict | None, seed) -> TrainConfig:
    return parse_train(params, seed, "supervised", defaults={"batch_size": 32})[0]


def parse_d2(params: dict | None, seed) -> tuple[TrainConfig, D2Params]:
    train, s = parse_train(params, seed, "d2", defaults={"batch_labeled": 16, "batch_unlabeled": 48},
                           extra_keys=D2_KEYS)
    if train.lr_decay_start is not None:
        raise s.fail("lr_decay_start", "null: R2-D2's stage 2 learning rate follows d2.lr_schedule")
    if not train.batch_unlabeled:
        raise s.fail("batch_unlabeled", "a positive integer (stage 2 trains on unlabeled images)")
    at = s.ints("repredict_at", [], minimum=0)
    if any(not 0 < e < train.epochs for e in at) or len(set(at)) != len(at):
        raise s.fail("repredict_at", f"distinct epochs in 1..{train.epochs - 1} (the end of those epochs; the "
                                     f"initial reprediction is always done)")
    schedule = s.get("lr_schedule", [])
    items = schedule if isinstance(schedule, (list, tuple)) else [schedule]
    parsed = []
    for item in items:
        ok = (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], int)
              and not isinstance(item[0], bool) and 0 < item[0] < train.epochs)
        if not ok:
            raise s.fail("lr_schedule", f"a list of [epoch, learning_rate] pairs with epoch in 1..{train.epochs - 1}")
        lr = item[1]
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise s.fail("lr_schedule", "a list of [epoch, learning_rate] pairs with learning_rate a positive number")
        parsed.append((int(item[0]), float(lr)))
    if [e for e, _ in parsed] != sorted({e for e, _ in parsed}):
        raise s.fail("lr_schedule", "pairs with increasing epochs")
    ref = None if s.is_null("label_lr_reference_batch_size") else s.int("label_lr_reference_batch_size", 512)
    d2 = D2Params(alpha=s.number("alpha", 0.1, low_open=True), beta=s.number("beta", 0.03),
                  label_lr=s.number("label_lr", 4000.0, low_open=True), label_lr_reference_batch_size=ref,
                  labeled_logit_scale=s.number("labeled_logit_scale", 10.0, low_open=True),
                  repredict_at=sorted(at), lr_schedule=parsed,
                  repredict_batch_size=s.int("repredict_batch_size", 256))
    return train, d2


@dataclasses.dataclass(frozen=True)
class FinetuneParams:
    repredict: bool = True  # repredict with the final stage-2 network first (the reference)
    repredict_batch_size: int = 256


def parse_finetune(params: dict | None, seed) -> tuple[TrainConfig, FinetuneParams]:
    train, s = parse_train(params, seed, "finetune", defaults={"batch_size": 64}, extra_keys=FINETUNE_KEYS)
    return train, FinetuneParams(s.flag("repredict", True), s.int("repredict_batch_size", 256))
