"""A small typed reader for one section of Kedro parameters.

Every parameter a pipeline reads goes through :class:`Section`, so that a bad value fails before
anything trains with one style of message: the full key, the value and what was expected::

    >>> Section("train", {"epochs": "abc"}, {"epochs"}).int("epochs", 1)
    Traceback (most recent call last):
    ConfigError: train.epochs must be a positive integer, got 'abc'

Reading has no side effects (no seeding, no TensorFlow state): a whole pipeline's parameters can
be checked up front (:func:`ssl_pipelines.params.check_pipeline`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from ssl_pipelines.data.errors import ConfigError

_MISSING = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def int_phrase(minimum: int) -> str:
    return {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")


def number_phrase(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        if low is None:
            return "a finite number"
        if low == 0:
            return "a positive number" if low_open else "a non-negative number"
        return f"a number {'>' if low_open else '>='} {low:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


class Section:
    """Checked access to one parameter section (a mapping from YAML).

    Args:
        name: the dotted name used in messages (``"train"``, ``"loss"``, ``"train.augment"``).
        values: the section's mapping (``None`` reads as empty).
        allowed: every key the section may hold; any other key is a typo and raises.

    A key that is absent or ``null`` reads as its default.
    """

    def __init__(self, name: str, values: Mapping | None, allowed: Iterable[str]):
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"{name} must be a mapping of parameters, got {values!r}")
        self.name = name
        self.values = dict(values or {})
        self.allowed = frozenset(allowed)
        unknown = sorted(set(self.values) - self.allowed)
        if unknown:
            raise ConfigError(f"unknown {name} parameter(s) {unknown}; allowed: {sorted(self.allowed)}")

    def key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value (``default`` when absent or null)."""
        value = self.values.get(key)
        return default if value is None else value

    def has(self, key: str) -> bool:
        return self.values.get(key) is not None

    def is_null(self, key: str) -> bool:
        """True when the key is written and set to null (for keys where null means "off",
        unlike an absent key, which reads as the default)."""
        return key in self.values and self.values[key] is None

    def fail(self, key: str, expected: str, value: Any = _MISSING) -> ConfigError:
        value = self.values.get(key) if value is _MISSING else value
        return ConfigError(f"{self.key(key)} must be {expected}, got {value!r}")

    # === Scalars ===
    def int(self, key: str, default: int | None, minimum: int = 1) -> int | None:
        """An integer >= ``minimum`` (``default`` may be ``None`` for "not set")."""
        value = self.get(key, default)
        if value is None:
            return None
        if not _is_int(value) or value < minimum:
            raise self.fail(key, int_phrase(minimum), value)
        return int(value)

    def number(self, key: str, default: float | None, low: float | None = 0.0, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float | None:
        """A finite real number in the given range (bounds inclusive unless ``*_open``)."""
        value = self.get(key, default)
        if value is None:
            return None
        ok = _is_real(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value < high if high_open else value <= high
        if not ok:
            raise self.fail(key, number_phrase(low, high, low_open, high_open), value)
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def choice(self, key: str, default: str | None, choices: Iterable[str]) -> str | None:
        choices = list(choices)
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if value not in choices:
            raise self.fail(key, f"one of {choices}", value)
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string", value)
        return value

    # === Collections ===
    def ints(self, key: str, default: Iterable[int] | None, minimum: int = 1, min_length: int = 0) -> list[int] | None:
        """A list of integers >= ``minimum`` with at least ``min_length`` items."""
        value = self.get(key, default)
        if value is None:
            return None
        if (not isinstance(value, (list, tuple)) or len(value) < min_length
                or any(not _is_int(v) or v < minimum for v in value)):
            what = f"a list of {int_phrase(minimum)[2:]}s" if minimum in (0, 1) else f"a list of integers >= {minimum}"
            raise self.fail(key, what + (f" (at least {min_length})" if min_length else ""), value)
        return [int(v) for v in value]

    def mapping(self, key: str) -> dict:
        value = self.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(key, "a mapping", value)
        return dict(value)

    def section(self, key: str, allowed: Iterable[str]) -> Section:
        """The nested mapping under ``key`` as a :class:`Section` named ``<name>.<key>``."""
        return Section(self.key(key), self.get(key, {}), allowed)


def check_seed(seed: Any) -> int:
    """A run's seed: a non-negative integer."""
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
