"""One ``keras.Model`` per paper, each overriding ``train_step`` with its loss (see ``base``)."""

from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.methods.supervised import SupervisedClassifier

__all__ = ["SSLModel", "SupervisedClassifier"]
