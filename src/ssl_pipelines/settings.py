"""Kedro project settings.

A ``env`` resolver lets configuration read environment variables outside credentials, e.g.
``mlflow_tracking_uri: ${env:MLFLOW_TRACKING_URI, sqlite:///mlflow.db}``; ``shared_data`` names a
data set in the folder of real data sets (``${shared_data:mnist}``: ``$SSL_PIPELINES_SHARED_DATA/mnist``,
by default ``../shared/data/mnist``; :mod:`ssl_pipelines.shared_data`), as ``conf/paper`` does.
"""

import os
import warnings

from kedro.config import OmegaConfigLoader

from ssl_pipelines.hooks import (CheckpointHooks, DistributionHooks, PipelineNameHooks, PrecisionHooks, ThreadsHooks,
                                 TrackingGuardHooks)
from ssl_pipelines.run_summary import RunSummaryHooks
from ssl_pipelines.shared_data import resolve as _shared_data


def _env(key: str, default: str | None = None) -> str | None:
    return os.environ.get(key, default)


HOOKS = (TrackingGuardHooks(), PipelineNameHooks(), CheckpointHooks(), ThreadsHooks(), PrecisionHooks(), DistributionHooks(),
         RunSummaryHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env, "shared_data": _shared_data},
    # conf/<env>/parameters_*.yml hold only what differs from conf/base: deep-merged (lists and
    # scalars replaced, mappings merged key by key)
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}

# Kedro 1.7's own config loader and kedro-mlflow call a deprecated OmegaConf API; the warnings
# are theirs, not the user's to act on. (MLflow's "Add type hints to the `predict` method" about
# kedro-mlflow's model class cannot be caught by a warnings filter: see log_filters.py.)
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
