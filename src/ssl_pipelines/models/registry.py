"""Backbone registry: ``build_backbone(name, input_shape, num_classes, **kwargs)``.

A backbone maps inputs to class **logits** and is a functional ``keras.Model`` (serializable
as is). A builder registers itself where it is defined::

    @register_backbone("mlp")
    def mlp(input_shape, num_classes, hidden_units=(500,), ...) -> keras.Model: ...

so it is known as soon as its module is imported, whoever imports it (``ssl_pipelines.models``
imports every module of the package; a project or test module can define its own the same way).
"""

from __future__ import annotations

from typing import Callable

import keras

from ssl_pipelines.data.errors import ConfigError

_BACKBONES: dict[str, Callable[..., keras.Model]] = {}


def register_backbone(name: str):
    """Decorator: register ``fn(input_shape, num_classes, **kwargs) -> keras.Model`` as ``name``."""

    def wrap(fn):
        known = _BACKBONES.get(name)
        if known is not None and known is not fn:
            raise ValueError(f"backbone {name!r} is already registered by {_where(known)}; "
                             f"{_where(fn)} needs another name")
        _BACKBONES[name] = fn
        return fn

    return wrap


def _where(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


def build_backbone(name: str, input_shape, num_classes: int, **kwargs) -> keras.Model:
    """Build a registered backbone.

    Keyword arguments set to ``None`` are left out, so the backbone's default applies (a config
    environment soft-merged over ``conf/base`` drops a key inherited for another backbone this way).

    Raises:
        ConfigError: unknown name (the message lists the known ones) or bad arguments.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if name not in _BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; expected one of {available_backbones()}")
    if int(num_classes) < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes!r}")
    try:
        return _BACKBONES[name](tuple(int(d) for d in input_shape), int(num_classes), **kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for backbone {name!r}: {exc}") from exc
