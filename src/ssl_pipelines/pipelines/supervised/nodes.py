"""Node: train a backbone with cross-entropy on the labeled split only."""

from __future__ import annotations

from ssl_pipelines.methods import SupervisedClassifier
from ssl_pipelines.params import parse_backbone, parse_evaluation, parse_train
from ssl_pipelines.pipelines.common_training import build_backbone_for, start_stage, train_stage


def train_supervised(split, model_params: dict, train_params: dict, seed: int, eval_params: dict | None = None):
    """Train ``SupervisedClassifier(backbone)`` on the labeled images (``eval_params``: the
    ``evaluation:`` section, for ``curve_every``).

    Returns:
        the trained model and its per-epoch history.
    """
    train = start_stage(parse_train(train_params, seed, defaults={"batch_size": 32})[0])
    model = SupervisedClassifier(build_backbone_for(split, parse_backbone(model_params)[0]), name="supervised")
    return model, train_stage(model, split, train, stage="supervised", unlabeled=False,
                              evaluation=parse_evaluation(eval_params))
