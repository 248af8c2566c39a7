"""Node of the ``m1_m2`` pipeline (Kingma et al. 2014 M1+M2, METHODS.md §5.1): after
``common_generative.pretrain_m1``, drop M1's inactive latent units and train M2 on resampled
latents."""

from __future__ import annotations

import logging

import numpy as np

from ssl_pipelines.data import ConfigError, split_access
from ssl_pipelines.methods import M1, M1M2
from ssl_pipelines.methods.m1 import active_latent_units
from ssl_pipelines.params import parse_evaluation
from ssl_pipelines.params.vae import parse_m2, parse_stack
from ssl_pipelines.pipelines.common_generative import build_m2, m2_train_config, train_generative_ssl
from ssl_pipelines.pipelines.common_training import start_stage

logger = logging.getLogger(__name__)


def select_active_units(m1: M1, split, stack_params: dict | None, seed: int) -> list[int]:
    """Latent units whose posterior mean has std > ``active_threshold`` over ``active_sample``
    unlabeled images (reference code: 0.1 over 1000)."""
    p = parse_stack(stack_params)
    part = "unlabeled" if split_access.part_size(split, "unlabeled") else "labeled"
    n = split_access.part_size(split, part)
    idx = np.random.default_rng(seed).choice(n, size=min(p.active_sample, n), replace=False)
    active = active_latent_units(np.asarray(m1.encode(split_access.images_at(split, part, np.sort(idx)))[0]),
                                 p.active_threshold).tolist()
    if not active:
        raise ConfigError(f"no M1 latent unit has a posterior-mean std above stack.active_threshold="
                          f"{p.active_threshold}; train M1 longer or lower the threshold")
    logger.info("M1+M2: %d of %d M1 latent units are active (std > %s)", len(active),
                m1.encoder.outputs[0].shape[-1], p.active_threshold)
    return active


def train_m1_m2(m1: M1, split, model_params: dict, stack_params: dict, train_params: dict, seed: int,
                pretrain_history: dict, eval_params: dict | None = None) -> tuple[M1M2, dict]:
    """Train M2 (Gaussian ``p(z1|y,z2)``) on the frozen M1's ``z1``: resampled from ``q(z1|x)`` every
    batch (``stack.sample_latents: true``, the reference code) or its posterior means."""
    train = start_stage(m2_train_config(train_params, seed))
    active = select_active_units(m1, split, stack_params, train.seed)
    p = parse_m2(model_params, "m2", likelihood="gaussian", binarize=False)
    m2 = build_m2((len(active),), split.num_classes, split_access.part_size(split, "labeled"),
                  split_access.part_size(split, "unlabeled"), p, train.seed)
    model = M1M2(m1, m2, active_units=active, sample_latents=parse_stack(stack_params).sample_latents, name="m1_m2")
    history = train_generative_ssl(model, split, train, stage="m1_m2", evaluation=parse_evaluation(eval_params))
    history["active_units"] = [float(len(active))]
    return model, {"stages": {"m1_pretrain": pretrain_history, "m1_m2": history}}
