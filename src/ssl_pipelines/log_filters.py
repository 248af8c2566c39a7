"""A logging filter that drops third-party records a user cannot act on, by logger and message;
attached to one logger each (never the root logger, so our own warnings and every other
third-party warning stay). Kedro 1.7 refuses ``()`` factories in ``conf/logging.yml``, so the
filters are attached here, by :func:`install` (called on ``import ssl_pipelines``)."""

from __future__ import annotations

import logging
from typing import Iterable


class DropMessages(logging.Filter):
    """Drops records whose message contains one of ``patterns`` (plain substrings).

    Example::

        logging.getLogger("tensorflow").addFilter(DropMessages(["triggered tf.function retracing"]))
    """

    def __init__(self, patterns: Iterable[str] = ()):
        super().__init__()
        self.patterns = tuple(patterns)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to drop
            return True
        return not any(p in message for p in self.patterns)


# TensorFlow warns when evaluation predicts on sets of other sizes or with a fresh model ("5 out of
# the last 7 calls to <function ...one_step_on_data_distributed> triggered tf.function retracing",
# a paragraph each time, repeated in a sweep): expected here, and nothing a user can change.
TENSORFLOW_RETRACING = DropMessages(["triggered tf.function retracing"])

# kedro-mlflow, when a sweep runs a KedroSession inside the child run it opened: "The mlflow run
# ... is already active", the four "mlflow_config..." lines, "A mlflow run was already active",
# "... was already opened before launching 'kedro run' so it is not closed". Attached only while
# a sweep child runs (ssl_pipelines.cli.run_child): anywhere else an open run is worth a warning.
KEDRO_MLFLOW_IN_SWEEP = DropMessages(["is already active. Configuration is inferred", "mlflow_config.",
                                      "was already active (run_id=", "was already opened before launching"])
KEDRO_MLFLOW_LOGGER = "kedro_mlflow.framework.hooks.mlflow_hook"


# kedro-mlflow's KedroPipelineModel is a PythonModel without type hints: importing kedro_mlflow
# (on every `kedro` command) makes MLflow warn "Add type hints to the `predict` method ..." (in
# yellow, raw colour codes in a log file). No `warnings.filterwarnings` can hide it: MLflow emits
# it inside `warnings.catch_warnings()` + `simplefilter("once", UserWarning)`
# (mlflow.utils.annotations.filter_user_warnings_once), which puts "once" ahead of every filter
# of ours. Kedro routes warnings to logging (`logging.captureWarnings`), so the record is dropped
# on the `py.warnings` logger instead; every other warning passes.
MLFLOW_TYPE_HINTS = DropMessages(["Add type hints to the `predict` method to enable data validation"])


def install() -> None:
    """Attach :data:`TENSORFLOW_RETRACING` to the ``tensorflow`` logger and
    :data:`MLFLOW_TYPE_HINTS` to ``py.warnings`` (idempotent)."""
    for name, drop in (("tensorflow", TENSORFLOW_RETRACING), ("py.warnings", MLFLOW_TYPE_HINTS)):
        target = logging.getLogger(name)
        if drop not in target.filters:
            target.addFilter(drop)
