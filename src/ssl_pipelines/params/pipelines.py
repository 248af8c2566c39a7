"""Which sections each pipeline reads, checked together before anything loads or trains.

``check_pipeline(name, sections)`` parses every section of pipeline ``name`` with the parsers of
this package (the same ones its nodes use) and returns the resolved values as plain JSON (the
``resolved_parameters`` artifact of every run). A bad value in a late stage (say R2-D2's
``finetune``) fails here, before stage 1 trains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.params import ema_teacher, inversion, r2d2, swwae, vae
from ssl_pipelines.params.data import parse_backbone, parse_data, parse_evaluation
from ssl_pipelines.params.reader import check_seed
from ssl_pipelines.params.train import parse_train


def train_section(defaults: dict, section: str = "train") -> Callable:
    """The parser of a ``train:``-style section with these ``defaults`` (for a schema)."""
    return lambda p, seed: parse_train(p, seed, section, defaults=defaults)[0]


def ignore_seed(parser: Callable) -> Callable:
    """A schema parser from a section parser that takes no seed."""
    return lambda p, seed: parser(p)


_SWWAE_STAGES = {
    "model": ignore_seed(swwae.parse_model),
    "pretrain": swwae.parse_pretrain,
    "decoder_layerwise": lambda p, seed: swwae.parse_decoder_stage(p, seed, "decoder_layerwise"),
    "decoder_chained": lambda p, seed: swwae.parse_decoder_stage(p, seed, "decoder_chained"),
    "reconstruction_plot": ignore_seed(swwae.parse_plot),
}

#: pipeline -> {section: parser(values, seed)}; ``data``, ``seed`` and ``evaluation`` are common.
SCHEMAS: dict[str, dict[str, Callable]] = {
    "supervised": {"model": ignore_seed(lambda p: parse_backbone(p)[0]), "train": train_section({"batch_size": 32})},
    "m1": {"model": ignore_seed(vae.parse_m1), "pretrain": train_section({"batch_size": 100}, "pretrain"),
           "train": train_section({"batch_size": 32}), "transduction": ignore_seed(vae.parse_transduction),
           "plots": ignore_seed(lambda p: vae.parse_plots(p, 2))},
    "m2": {"model": ignore_seed(vae.parse_m2), "train": train_section(vae.M2_TRAIN_DEFAULTS),
           "plots": ignore_seed(vae.parse_plots)},
    "m1_m2": {"m1": ignore_seed(lambda p: vae.parse_m1(p, "m1")),
              "m2": ignore_seed(lambda p: vae.parse_m2(p, "m2", likelihood="gaussian", binarize=False)),
              "stack": ignore_seed(vae.parse_stack), "pretrain": train_section({"batch_size": 100}, "pretrain"),
              "train": train_section(vae.M2_TRAIN_DEFAULTS), "plots": ignore_seed(vae.parse_plots)},
    "inversion": {"model": ignore_seed(inversion.parse_model),
                  "train": train_section({"batch_labeled": 32, "batch_unlabeled": 32}),
                  "plot": ignore_seed(inversion.parse_plot)},
    "mean_teacher": {"model": ignore_seed(lambda p: parse_backbone(p)[0]),
                     "loss": ignore_seed(ema_teacher.parse_stability), "train": train_section(ema_teacher.EMA_TRAIN_DEFAULTS)},
    "hybridnet": {"model": ignore_seed(ema_teacher.parse_hybrid_model),
                  "loss": ignore_seed(ema_teacher.parse_hybrid_loss), "train": train_section(ema_teacher.EMA_TRAIN_DEFAULTS),
                  "figures": ignore_seed(ema_teacher.parse_figures)},
    "r2d2": {"model": ignore_seed(lambda p: parse_backbone(p)[0]), "supervised": r2d2.parse_supervised_stage,
             "d2": r2d2.parse_d2, "finetune": r2d2.parse_finetune},
    "swwae_vgg": {**_SWWAE_STAGES,
                  # the loss weights and dense scales are checked against the network again in Steps 1 and 4
                  "finetune": lambda p, seed: swwae.parse_finetune(p, seed, levels=swwae.MAX_LEVELS),
                  "dense_evaluation": ignore_seed(lambda p: swwae.parse_dense(p, None))},
}


Schema = dict[str, Callable[[Any, int], Any]]


def schema_of(name: str, schema: Schema | None = None) -> Schema:
    """``schema`` if given (a pipeline outside this table declares its own), else ``SCHEMAS[name]``."""
    if schema is not None:
        return schema
    if name not in SCHEMAS:
        raise ConfigError(f"no parameter schema for pipeline {name!r}; known: {sorted(SCHEMAS)} "
                          f"(a new pipeline passes its own: method_pipeline(name, nodes, schema=...))")
    return SCHEMAS[name]


def sections_of(name: str, schema: Schema | None = None) -> list[str]:
    """Every parameter section pipeline ``name`` reads (``seed``, ``data``, ``evaluation`` first)."""
    return ["seed", "data", "evaluation", *schema_of(name, schema)]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_pipeline(name: str, sections: dict[str, Any], schema: Schema | None = None) -> dict[str, Any]:
    """Parse every section of pipeline ``name`` (no side effects); the resolved values as JSON.

    ``schema`` ({section: parser(values, seed)}) defaults to ``SCHEMAS[name]``.

    Raises:
        ConfigError: the first bad key or value, named in full (``train.epochs must be ...``).
    """
    schema = schema_of(name, schema)
    seed = check_seed(sections.get("seed"))
    resolved: dict[str, Any] = {"seed": seed, "data": parse_data(sections.get("data")).values,
                                "evaluation": parse_evaluation(sections.get("evaluation"))}
    for section, parser in schema.items():
        resolved[section] = parser(sections.get(section), seed)
    return _plain(resolved)
