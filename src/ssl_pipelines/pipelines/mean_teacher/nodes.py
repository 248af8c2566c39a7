"""Node: train a Mean Teacher model (the raw classifier is evaluated by the shared
``evaluate_student`` node, the EMA teacher by ``evaluate_classifier``)."""

from __future__ import annotations

from ssl_pipelines.methods import MeanTeacher
from ssl_pipelines.params import parse_backbone, parse_evaluation
from ssl_pipelines.params.ema_teacher import parse_stability
from ssl_pipelines.pipelines.common_ema import augment_kwargs, ema_train_config, train_ema_model
from ssl_pipelines.pipelines.common_training import build_backbone_for


def train_mean_teacher(split, model_params: dict, loss_params: dict, train_params: dict, seed: int,
                       eval_params: dict | None = None):
    """Train ``MeanTeacher(backbone)``: CE on labeled + λ_s·ramp-up·softmax-MSE to the EMA teacher.

    ``loss``: ``lambda_stab`` (λ_s), ``stab_rampup_epochs``, ``ema_decay`` (in [0, 1)): the keys
    and defaults of HybridNet's stability term; ``eval_params``: the ``evaluation:`` section (its
    ``curve_every``, on the EMA teacher). Returns the model and its history.
    """
    loss = parse_stability(loss_params)
    train = ema_train_config(train_params, seed)
    backbone = build_backbone_for(split, parse_backbone(model_params)[0])
    return train_ema_model(lambda steps: MeanTeacher(backbone, **loss.model_kwargs(steps, train.epochs),
                                                     **augment_kwargs(train), name="mean_teacher"),
                           split, train, stage="mean_teacher",
                           evaluation=parse_evaluation(eval_params))
