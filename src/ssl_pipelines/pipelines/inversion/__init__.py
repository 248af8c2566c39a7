"""SSL via deep-network inversion (``kedro run --pipelines=inversion``; METHODS.md §2)."""

from ssl_pipelines.pipelines.inversion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
