"""Node of the ``m2`` pipeline (Kingma et al. 2014 M2, METHODS.md §5.1, §5.6): train M2 on the
labeled and unlabeled images (the figures are ``common_generative.plot_generative``)."""

from __future__ import annotations

from ssl_pipelines.data import split_access
from ssl_pipelines.methods import M2
from ssl_pipelines.params import parse_evaluation
from ssl_pipelines.params.vae import parse_m2
from ssl_pipelines.pipelines.common_generative import (
    build_m2,
    check_bernoulli_split,
    fixed_labeled_binarization,
    m2_train_config,
    train_generative_ssl,
)
from ssl_pipelines.pipelines.common_training import start_stage


def train_m2(split, model_params: dict, train_params: dict, seed: int,
             eval_params: dict | None = None) -> tuple[M2, dict]:
    """Train :class:`M2` on the split (Eqs. 6-9). Returns the model and its per-epoch history
    (``eval_params``: the ``evaluation:`` section, for ``curve_every``)."""
    train = start_stage(m2_train_config(train_params, seed))
    p = parse_m2(model_params)
    check_bernoulli_split(split, p.likelihood)
    if p.binarize and p.binarize_labeled == "fixed":
        split = fixed_labeled_binarization(split, train.seed)
    model = build_m2(split.input_shape, split.num_classes, split_access.part_size(split, "labeled"),
                     split_access.part_size(split, "unlabeled"), p, train.seed)
    return model, train_generative_ssl(model, split, train, stage="m2", evaluation=parse_evaluation(eval_params))
