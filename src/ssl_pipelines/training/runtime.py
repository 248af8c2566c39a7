"""Run-time context the Kedro hooks hand to the library without touching node signatures:
where the current node keeps its training checkpoints. Library users pass ``checkpoint_dir`` to
:func:`~ssl_pipelines.training.fit_model` instead."""

from __future__ import annotations

import contextvars
from pathlib import Path

_CHECKPOINT_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "ssl_pipelines_checkpoint_root", default=None)


def checkpoint_root() -> Path | None:
    """The checkpoint folder of the node that is running (None outside a Kedro run)."""
    return _CHECKPOINT_ROOT.get()


def set_checkpoint_root(path: str | Path | None) -> contextvars.Token:
    return _CHECKPOINT_ROOT.set(None if path is None else Path(path))


def reset_checkpoint_root(token: contextvars.Token) -> None:
    _CHECKPOINT_ROOT.reset(token)
