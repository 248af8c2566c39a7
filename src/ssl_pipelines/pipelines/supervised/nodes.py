"""Node: train a backbone with cross-entropy on the labeled split only."""

from __future__ import annotations

import logging

from ssl_pipelines.data import SSLSplit, eval_stream, ssl_stream, steps_per_epoch
from ssl_pipelines.methods import SupervisedClassifier
from ssl_pipelines.pipelines.training_nodes import build_backbone_from_params, prepare_training

logger = logging.getLogger(__name__)


def train_supervised(split: SSLSplit, model_params: dict, train_params: dict, seed: int):
    """Train ``SupervisedClassifier(backbone)`` on the labeled images.

    Returns:
        the trained model and its per-epoch history.
    """
    train = prepare_training(train_params, seed, defaults={"batch_size": 32})
    backbone = build_backbone_from_params(model_params, split)
    model = SupervisedClassifier(backbone, name="supervised")
    model.compile(optimizer=train.optimizer, jit_compile=train.jit_compile)
    batch = train.batch_size
    stream = ssl_stream(split.x_labeled, split.y_labeled, batch_labeled=batch, seed=train.seed,
                        augment=train.augment)
    steps = train.steps_per_epoch or steps_per_epoch(len(split.x_labeled), batch)
    val = eval_stream(split.x_val, split.y_val) if len(split.x_val) else None
    history = train.fit(model, stream, steps, val, stage="supervised")
    return model, history
