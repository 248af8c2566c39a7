"""The top-level ``runtime:`` section keys read by this package (the checkpoint and distribution
keys are read by their hooks): ``threads``, ``precision``."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.data.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Threads:
    """``runtime.threads``: TensorFlow intra- and inter-op threads (``None``: TensorFlow's default,
    all cores)."""

    count: int | None = None


def parse_threads(runtime: dict | None) -> Threads:
    """``runtime.threads``: null or a positive integer (raises ConfigError naming the value)."""
    value = (runtime or {}).get("threads")
    if value is None:
        return Threads()
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"runtime.threads must be a positive integer (TensorFlow intra- and inter-op threads) "
                          f"or null (all cores), got {value!r}")
    return Threads(int(value))


@dataclasses.dataclass(frozen=True)
class Precision:
    """``runtime.precision``: a Keras dtype policy name or ``auto``
    (:mod:`ssl_pipelines.training.precision`)."""

    name: str = "float32"


def parse_precision(runtime: dict | None) -> Precision:
    """``runtime.precision``: one of ``float32``, ``mixed_bfloat16``, ``mixed_float16``, ``auto``
    (null: ``float32``); raises ConfigError naming the value and the choices."""
    from ssl_pipelines.training.precision import PRECISIONS

    value = (runtime or {}).get("precision")
    if value is None:
        return Precision()
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ConfigError(f"runtime.precision must be one of {', '.join(PRECISIONS)} (Keras dtype policies; auto: "
                          f"mixed_bfloat16 where the CPU or GPU multiplies bfloat16 natively), got {value!r}")
    return Precision(value)
