"""``train:``-style sections (one per training stage): batches, epochs, optimizer, augmentation.

The same keys mean the same thing in every pipeline:

* ``epochs``; ``steps_per_epoch`` (null: one pass, over the unlabeled images for a
  semi-supervised stream, over the labeled ones for a labeled-only stream);
* ``batch_size`` for labeled-only stages, ``batch_labeled`` + ``batch_unlabeled`` for
  semi-supervised ones. A batch larger than the data it draws from is an error naming the key
  (:func:`ssl_pipelines.data.streams.ssl_stream`), never silently clamped;
* ``augment: {max_shift, flip}``: each training image is translated by up to ``max_shift``
  pixels and flipped horizontally (``flip``). Methods that compare two views of an image (Mean
  Teacher, HybridNet) draw both views with these settings inside ``train_step``; every other
  method gets augmented images from the stream;
* ``optimizer: {name, learning_rate, ...}`` (:func:`ssl_pipelines.training.build_optimizer`),
  ``lr_decay_start`` (null: constant learning rate; ``f``: constant for the first fraction
  ``f`` of the steps, then linear to 0, the released HybridNet code's schedule, METHODS.md §1.3;
  with a time budget below, the fraction of the budget or of the steps, whichever comes first);
* ``jit_compile`` (default off: XLA was 1.6-3.6x slower on a 2-core CPU), ``verbose``,
  ``deterministic`` (TF op determinism, switched on when the stage starts, not when checked);
* ``cpu_minutes`` (null: no budget): stop the stage at the first epoch boundary (``budget_check:
  epoch``, default) or step boundary (``step``) after this many minutes of process CPU time spent
  training (all threads; evaluation excluded), so other load on the machine does not change a
  result. ``epochs`` stays the upper bound; the CPU-minutes used and the stop reason (``epochs`` or
  ``cpu_budget``) are logged (:class:`~ssl_pipelines.training.CpuTimeBudget`);
* ``wall_minutes`` (null: no budget): the same on the wall clock (``time.perf_counter``), for
  "accuracy after N minutes" comparisons on an otherwise idle machine; at most one of the two;
* ``roofline`` (default off): after the stage, log its step's GFLOP (``<stage>.step_gflop``), the
  achieved GFLOP/s at its median step time, a matrix product's GFLOP/s in the run's precision on
  the same threads (``<stage>.gemm_peak_gflops``) and their ratio (``<stage>.roofline``)
  (:mod:`ssl_pipelines.training.flops`).

Every stage logs to MLflow, named after the stage (``train``, ``pretrain``, R2-D2's ``supervised``
/ ``d2`` / ``finetune``, ...): ``<stage>.images_per_second`` per epoch (step = epoch; the first
epoch includes tracing the step) and ``<stage>.step_ms`` (the median step time over the epochs
after the first); with a time budget, ``<stage>.cpu_minutes_used`` (``wall_minutes_used``),
``<stage>.epochs_completed``, ``<stage>.steps_completed`` and the tag ``<stage>.stop_reason``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ssl_pipelines.params.reader import Section, check_seed

TRAIN_KEYS = frozenset({"epochs", "steps_per_epoch", "batch_size", "batch_labeled", "batch_unlabeled", "optimizer",
                        "augment", "jit_compile", "verbose", "deterministic", "lr_decay_start",
                        "cpu_minutes", "wall_minutes", "budget_check", "roofline"})
AUGMENT_KEYS = frozenset({"max_shift", "flip"})
VERBOSE = ("auto", 0, 1, 2)
BUDGET_CHECKS = ("epoch", "step")


@dataclasses.dataclass(frozen=True)
class Augment:
    """Random translation (up to ``max_shift`` pixels) and horizontal flips of training images."""

    max_shift: int = 0
    flip: bool = False

    def __bool__(self) -> bool:
        return bool(self.max_shift or self.flip)

    def as_dict(self) -> dict | None:
        """``{max_shift, flip}`` for :func:`~ssl_pipelines.data.ssl_stream`, ``None`` when off."""
        return {"max_shift": self.max_shift, "flip": self.flip} if self else None


def parse_augment(section: Section) -> Augment:
    aug = section.section("augment", AUGMENT_KEYS)
    return Augment(max_shift=aug.int("max_shift", 0, minimum=0), flip=aug.flag("flip", False))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Resolved parameters of one training stage (section ``section``)."""

    section: str
    seed: int
    epochs: int
    steps_per_epoch: int | None
    batch_size: int
    batch_labeled: int | None
    batch_unlabeled: int | None
    optimizer_params: dict
    augment: Augment
    jit_compile: bool
    verbose: Any
    deterministic: bool
    lr_decay_start: float | None
    cpu_minutes: float | None = None
    budget_check: str = "epoch"
    wall_minutes: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    roofline: bool = False

    @property
    def optimizer(self):
        """A fresh optimizer built from the parameters (one per stage)."""
        from ssl_pipelines.training.optimizers import build_optimizer

        return build_optimizer(self.optimizer_params)

    @property
    def budget(self) -> tuple[str, float] | None:
        """``("cpu", minutes)``, ``("wall", minutes)`` or ``None`` (no time budget)."""
        if self.cpu_minutes is not None:
            return "cpu", self.cpu_minutes
        if self.wall_minutes is not None:
            return "wall", self.wall_minutes
        return None

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer_params.get("learning_rate", 1e-3))

    def key(self, name: str) -> str:
        """The full parameter name of key ``name`` of this stage (for messages)."""
        return f"{self.section}.{name}"


def parse_train(params: dict | None, seed: Any, section: str = "train", defaults: dict | None = None,
                extra_keys: frozenset[str] | set[str] = frozenset()) -> tuple[TrainConfig, Section]:
    """Check a ``train:``-style section; returns the :class:`TrainConfig` and the section reader
    (for the stage's own ``extra_keys``, read by the caller). No side effects."""
    from ssl_pipelines.training.lr_schedule import check_decay_start
    from ssl_pipelines.training.optimizers import build_optimizer

    merged = {**(defaults or {}), **{k: v for k, v in dict(params or {}).items() if v is not None}}
    s = Section(section, merged, TRAIN_KEYS | set(extra_keys))
    optimizer = s.mapping("optimizer")
    build_optimizer(optimizer)  # fails on an unknown optimizer or keyword (no variables are created)
    verbose = s.get("verbose", "auto")
    if verbose not in VERBOSE:
        raise s.fail("verbose", f"one of {list(VERBOSE)}")
    config = TrainConfig(
        section=section, seed=check_seed(seed), epochs=s.int("epochs", 1),
        steps_per_epoch=s.int("steps_per_epoch", None), batch_size=s.int("batch_size", 32),
        batch_labeled=s.int("batch_labeled", None), batch_unlabeled=s.int("batch_unlabeled", None, minimum=0),
        optimizer_params=optimizer, augment=parse_augment(s), jit_compile=s.flag("jit_compile", False),
        verbose=verbose, deterministic=s.flag("deterministic", False),
        lr_decay_start=check_decay_start(s.get("lr_decay_start"), f"{section}.lr_decay_start"),
        cpu_minutes=s.number("cpu_minutes", None, low=0.0, low_open=True),
        budget_check=s.choice("budget_check", "epoch", BUDGET_CHECKS),
        wall_minutes=s.number("wall_minutes", None, low=0.0, low_open=True),
        extra={k: merged[k] for k in extra_keys if k in merged},
        roofline=s.flag("roofline", False),
    )
    if config.cpu_minutes is not None and config.wall_minutes is not None:
        raise s.fail("wall_minutes", f"null when {section}.cpu_minutes is set (one time budget per stage, "
                                     f"got cpu_minutes={config.cpu_minutes!r} and wall_minutes={config.wall_minutes!r})")
    return config, s
