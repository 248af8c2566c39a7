"""Errors raised on bad input, before any training starts (defined in :mod:`ssl_pipelines.errors`)."""

from ssl_pipelines.errors import ConfigError, DataError

__all__ = ["ConfigError", "DataError"]
