"""Errors raised on bad input, before any training starts.

A module of its own, importing nothing, so that light entry points (``ssl-pipelines launch``, the
CLI's argument checks) can raise them without importing TensorFlow; ``ssl_pipelines.data`` exports
the same classes.
"""


class DataError(ValueError):
    """Bad data or data parameters. The message names the bad value and what was expected."""


class ConfigError(ValueError):
    """A bad parameter value. The message names the parameter, its value and what was expected."""
