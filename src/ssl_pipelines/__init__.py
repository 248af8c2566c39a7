"""ssl-pipelines: semi-supervised learning methods as Keras 3 models and Kedro pipelines.

The library (``data``, ``losses``, ``layers``, ``models``, ``methods``, ``training``,
``evaluation``) is importable without Kedro. Pipelines live in ``ssl_pipelines.pipelines``.

Example:
    >>> from ssl_pipelines import data, models, methods
    >>> ds = data.load_dataset("digits")
    >>> split = data.split_labeled_unlabeled(ds, labels_per_class=10, seed=0)
"""

import os as _os

# TensorFlow's C++ INFO lines (oneDNN, CPU feature guard) are noise for users; keep warnings.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ssl_pipelines import data, evaluation, layers, losses, methods, models, training

__version__ = "0.1.0"

__all__ = ["__version__", "data", "evaluation", "layers", "losses", "methods", "models", "training"]
