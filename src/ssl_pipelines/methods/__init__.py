"""One ``keras.Model`` per paper, each overriding ``train_step`` with its loss (see ``base``)."""

from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.methods.supervised import SupervisedClassifier

__all__ = ["SSLModel", "SupervisedClassifier"]

from ssl_pipelines.methods.r2d2 import R2D2  # noqa: E402

__all__ += ["R2D2"]
from ssl_pipelines.methods.m1 import M1  # noqa: E402
from ssl_pipelines.methods.m2 import M2  # noqa: E402
from ssl_pipelines.methods.m1_m2 import M1M2  # noqa: E402

__all__ += ["M1", "M2", "M1M2"]

from ssl_pipelines.methods.inversion import InversionSSL  # noqa: E402

__all__ += ["InversionSSL"]

from ssl_pipelines.methods.swwae import SWWAEModel  # noqa: E402

__all__ += ["SWWAEModel"]

from ssl_pipelines.methods.mean_teacher import MeanTeacher  # noqa: E402
from ssl_pipelines.methods.hybridnet import HybridNet  # noqa: E402

__all__ += ["HybridNet", "MeanTeacher"]
