"""The top-level ``runtime:`` section keys read by this package (the checkpoint and distribution
keys are read by their hooks): ``threads``."""

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
