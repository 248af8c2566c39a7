"""VGG16 + SAE/SWWAE decoders, staged training (``kedro run --pipelines=swwae_vgg``; METHODS.md §3)."""

from ssl_pipelines.pipelines.swwae_vgg.pipeline import create_pipeline

__all__ = ["create_pipeline"]
