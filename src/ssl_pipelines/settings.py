"""Kedro project settings.

A ``env`` resolver lets configuration read environment variables outside credentials, e.g.
``mlflow_tracking_uri: ${env:MLFLOW_TRACKING_URI, sqlite:///mlflow.db}``.
"""

import os
import warnings

from kedro.config import OmegaConfigLoader

from ssl_pipelines.hooks import CheckpointHooks, DistributionHooks, PipelineNameHooks, TrackingGuardHooks


def _env(key: str, default: str | None = None) -> str | None:
    return os.environ.get(key, default)


HOOKS = (TrackingGuardHooks(), PipelineNameHooks(), CheckpointHooks(), DistributionHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"env": _env},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}

# Kedro 1.7's own config loader and kedro-mlflow call a deprecated OmegaConf API; the warnings
# are theirs, not the user's to act on.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method.*")
