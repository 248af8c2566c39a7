"""Kedro datasets of this project (used from ``conf/base/catalog.yml``)."""

from ssl_pipelines.io.keras_model_dataset import KerasModelDataset, attach_model_card, model_card, read_model_card
from ssl_pipelines.io.npz_dataset import NpzDataset

__all__ = ["KerasModelDataset", "NpzDataset", "attach_model_card", "model_card", "read_model_card"]
