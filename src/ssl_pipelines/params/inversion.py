"""Sections of the ``inversion`` pipeline (Balestriero et al., METHODS.md §2): ``model`` (a
backbone plus the :class:`~ssl_pipelines.methods.InversionSSL` arguments, which the class checks)
and ``plot``."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.params.data import Backbone, parse_backbone
from ssl_pipelines.params.reader import Section

#: ``model:`` keys besides ``backbone``/``backbone_kwargs``: the InversionSSL arguments.
METHOD_KEYS = frozenset({"alpha", "beta", "cotangent", "stop_gradient_cotangent", "unsupervised_on",
                         "reconstruction_distance", "reconstruction_layers", "reconstruction_layer_weights",
                         "alpha_start", "beta_start", "schedule_steps"})
PLOT_KEYS = frozenset({"num_examples", "num_eval", "batch_size"})


def parse_model(params: dict | None) -> tuple[Backbone, dict]:
    """``(backbone, InversionSSL keyword arguments)``."""
    backbone, s = parse_backbone(params, extra_keys=METHOD_KEYS)
    return backbone, {k: s.values[k] for k in sorted(METHOD_KEYS) if s.has(k)}


@dataclasses.dataclass(frozen=True)
class PlotParams:
    num_examples: int = 10
    num_eval: int = 1000
    batch_size: int = 256


def parse_plot(params: dict | None) -> PlotParams:
    s = Section("plot", params, PLOT_KEYS)
    return PlotParams(s.int("num_examples", 10), s.int("num_eval", 1000), s.int("batch_size", 256))
