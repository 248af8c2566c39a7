"""Errors raised on bad input, before any training starts."""


class DataError(ValueError):
    """Bad data or data parameters. The message names the bad value and what was expected."""


class ConfigError(ValueError):
    """A bad parameter value. The message names the parameter, its value and what was expected."""
