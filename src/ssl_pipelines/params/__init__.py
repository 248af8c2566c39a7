"""Parameters: every pipeline section parsed and checked in one place, before anything trains.

:class:`Section` is the typed reader (one message style: key, value, what was expected);
:func:`parse_train` reads the ``train:``-style sections of every stage; the family modules
(:mod:`.vae`, :mod:`.ema_teacher`, :mod:`.inversion`, :mod:`.r2d2`, :mod:`.swwae`) read the
method sections; :func:`check_pipeline` checks a whole pipeline. Nothing here imports Kedro or
touches global state.
"""

from ssl_pipelines.params.data import (
    DATA_KEYS,
    LOAD_KEYS,
    PREPROCESS_KEYS,
    SPLIT_KEYS,
    STREAM_KEYS,
    Backbone,
    Evaluation,
    parse_backbone,
    parse_data,
    parse_evaluation,
)
from ssl_pipelines.params.pipelines import SCHEMAS, Schema, check_pipeline, ignore_seed, sections_of, train_section
from ssl_pipelines.params.reader import Section, check_seed
from ssl_pipelines.params.train import TRAIN_KEYS, Augment, TrainConfig, parse_augment, parse_train

__all__ = [
    "DATA_KEYS", "LOAD_KEYS", "PREPROCESS_KEYS", "SCHEMAS", "SPLIT_KEYS", "STREAM_KEYS", "TRAIN_KEYS", "Augment",
    "Backbone", "Evaluation", "Schema", "Section", "TrainConfig", "check_pipeline", "check_seed",
    "ignore_seed", "parse_augment", "parse_backbone", "parse_data", "parse_evaluation", "parse_train", "sections_of",
    "train_section",
]
