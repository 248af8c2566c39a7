"""Nodes of the ``m1_m2`` pipeline (Kingma et al. 2014 M1+M2, METHODS.md §5.1): pretrain M1 (the
``m1`` pipeline's node), drop its inactive latent units, train M2 on resampled latents."""

from __future__ import annotations

import logging

import numpy as np

from ssl_pipelines.data import ConfigError, SSLSplit
from ssl_pipelines.methods import M1, M1M2
from ssl_pipelines.methods.m1 import active_latent_units
from ssl_pipelines.pipelines.common_nodes import check_keys
from ssl_pipelines.pipelines.m1.nodes import check_positive
from ssl_pipelines.pipelines.m2.nodes import M2_TRAIN_DEFAULTS, build_m2, train_generative_ssl
from ssl_pipelines.pipelines.training_nodes import prepare_training

logger = logging.getLogger(__name__)

STACK_KEYS = {"active_threshold", "active_sample", "sample_latents"}


def check_stack_params(stack_params: dict | None) -> tuple[float, int]:
    """Validate ``stack:`` (``active_threshold`` >= 0, ``active_sample`` > 0)."""
    p = check_keys("stack", stack_params, STACK_KEYS)
    threshold = p.get("active_threshold", 0.1)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ConfigError(f"stack.active_threshold must be a non-negative number, got {threshold!r}")
    if not isinstance(p.get("sample_latents", True), bool):
        raise ConfigError(f"stack.sample_latents must be true or false, got {p.get('sample_latents')!r}")
    return threshold, check_positive("stack.active_sample", p.get("active_sample", 1000))


def check_m1_m2_params(split: SSLSplit, stack_params: dict | None) -> SSLSplit:
    """Fail on bad stacking parameters before M1 is pretrained; passes the split through."""
    check_stack_params(stack_params)
    return split


def select_active_units(m1: M1, split: SSLSplit, stack_params: dict | None, seed: int) -> list[int]:
    """Latent units whose posterior mean has std > ``active_threshold`` over ``active_sample``
    unlabeled images (reference code: 0.1 over 1000)."""
    threshold, n = check_stack_params(stack_params)
    rng = np.random.default_rng(seed)
    pool = split.x_unlabeled if len(split.x_unlabeled) else split.x_labeled
    idx = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    active = active_latent_units(np.asarray(m1.encode(pool[np.sort(idx)])[0]), threshold).tolist()
    if not active:
        raise ConfigError(f"no M1 latent unit has a posterior-mean std above stack.active_threshold={threshold}; "
                          f"train M1 longer or lower the threshold")
    logger.info("M1+M2: %d of %d M1 latent units are active (std > %s)", len(active),
                m1.encoder.outputs[0].shape[-1], threshold)
    return active


def train_m1_m2(m1: M1, split: SSLSplit, model_params: dict, stack_params: dict, train_params: dict, seed: int,
                pretrain_history: dict) -> tuple[M1M2, dict]:
    """Train M2 (Gaussian ``p(z1|y,z2)``) on ``z1 ~ q(z1|x)`` of the frozen M1, resampled every batch."""
    train = prepare_training(train_params, seed, defaults=M2_TRAIN_DEFAULTS)
    active = select_active_units(m1, split, stack_params, train.seed)
    params = {"likelihood": "gaussian", "binarize": False, **dict(model_params or {})}
    m2 = build_m2((len(active),), split.num_classes, len(split.x_labeled), len(split.x_unlabeled), params,
                  train.seed)
    model = M1M2(m1, m2, active_units=active, sample_latents=(stack_params or {}).get("sample_latents", True),
                 name="m1_m2")
    history = train_generative_ssl(model, split, train, stage="m1_m2")
    history["active_units"] = [float(len(active))]
    return model, {"stages": {"m1_pretrain": pretrain_history, "m1_m2": history}}
