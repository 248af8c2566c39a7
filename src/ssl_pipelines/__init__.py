"""ssl-pipelines: semi-supervised learning methods as Keras 3 models and Kedro pipelines.

The library (``data``, ``losses``, ``layers``, ``models``, ``methods``, ``training``,
``evaluation``) is importable without Kedro. Pipelines live in ``ssl_pipelines.pipelines``.
``import ssl_pipelines`` registers every layer and model with Keras, so a saved ``.keras`` file
loads with ``keras.models.load_model``.

Example:
    >>> from ssl_pipelines import data, models, methods
    >>> ds = data.load_dataset("digits")
    >>> split = data.split_labeled_unlabeled(ds, labels_per_class=10, seed=0)
"""

import importlib.util as _importlib_util
import os as _os
import sys as _sys

from ssl_pipelines import log_filters as _log_filters  # light: logging only

# TensorFlow comes from one of the project's extras (pyproject.toml), not from its base dependencies:
# a plain `pip install` of the project has none, and would fail at the first TensorFlow import.
if _importlib_util.find_spec("tensorflow") is None:
    raise ImportError(
        "ssl-pipelines needs TensorFlow, which is not installed: install the project with ONE of its "
        "TensorFlow extras, `pip install -e '.[cpu]'` (tensorflow-cpu; `make setup` does this) or "
        "`pip install -e '.[gpu]'` (tensorflow[and-cuda]; `make setup-gpu`), not both (two "
        "distributions of the same `tensorflow` module)")

# TensorFlow reads this when it is imported, so it is set here, before the library imports it, and
# only when the user has not set it: TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ INFO lines.
# TF 2.21's "oneDNN custom operations are on" banner ignores it; only TF_ENABLE_ONEDNN_OPTS=0
# removes it, and it makes CPU runs slower (benchmarks/HISTORY.md), so it is not set.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_log_filters.install()

__all__ = ["__version__", "data", "evaluation", "layers", "losses", "methods", "models", "training"]

# The `ssl-pipelines` command imports what each subcommand needs itself, so that `--help` answers
# without importing TensorFlow; everywhere else the package is imported whole (Keras registration).
if _os.path.basename(_sys.argv[0] if _sys.argv else "") != "ssl-pipelines":
    from ssl_pipelines import data, evaluation, layers, losses, methods, models, training  # noqa: F401
else:
    def __getattr__(name: str):
        if name in __all__:
            import importlib

            return importlib.import_module(f"ssl_pipelines.{name}")
        raise AttributeError(f"module 'ssl_pipelines' has no attribute {name!r}")
