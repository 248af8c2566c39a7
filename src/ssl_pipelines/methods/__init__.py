"""One ``keras.Model`` per paper, each overriding ``train_step`` with its loss (see ``base``)."""

from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.methods.hybridnet import HybridNet
from ssl_pipelines.methods.inversion import InversionSSL
from ssl_pipelines.methods.m1 import M1
from ssl_pipelines.methods.m1_m2 import M1M2
from ssl_pipelines.methods.m2 import M2
from ssl_pipelines.methods.mean_teacher import MeanTeacher
from ssl_pipelines.methods.r2d2 import R2D2
from ssl_pipelines.methods.supervised import SupervisedClassifier
from ssl_pipelines.methods.swwae import SWWAEModel

__all__ = [
    "HybridNet",
    "InversionSSL",
    "M1",
    "M1M2",
    "M2",
    "MeanTeacher",
    "R2D2",
    "SSLModel",
    "SWWAEModel",
    "SupervisedClassifier",
]
