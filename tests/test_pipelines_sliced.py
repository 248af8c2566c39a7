"""Every method pipeline run whole on an in-memory catalog with Kedro's ``SequentialRunner``: no
KedroSession, no hooks, no MLflow, no files (the Kedro starters' middle test layer; the session
smoke runs live in each pipeline's own test file).

Two data paths per method: the embedded digits in memory, and a generated folder of PNGs
streamed from disk (``data.streaming: true``), so every method trains from image files too large
for memory through the same ``split_access`` stream path.
"""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
from conftest import load_parameters
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

STEP = {"epochs": 1, "steps_per_epoch": 2, "verbose": 0}

# the smallest honest configuration of each method: one epoch of two steps per stage, tiny nets
SSL_STEP = {**STEP, "batch_labeled": 4, "batch_unlabeled": 8}
VAE = {"hidden_units": [16], "latent_dim": 4}
TINY = {
    "supervised": {"model": {"backbone_kwargs": {"filters": [4, 8], "dense_units": 16}},
                   "train": {**STEP, "batch_size": 8}},
    "m1": {"model": VAE, "pretrain": {**STEP, "batch_size": 8}, "train": {**STEP, "batch_size": 8}},
    "m2": {"model": VAE, "train": SSL_STEP},
    "m1_m2": {"m1": VAE, "m2": VAE, "pretrain": {**STEP, "batch_size": 8}, "train": SSL_STEP,
              # two steps teach M1 little: keep every latent unit
              "stack": {"active_sample": 8, "active_threshold": 0.0}},
    "inversion": {"model": {"backbone_kwargs": {"filters": [4, 8]}}, "train": SSL_STEP, "plot": {"num_eval": 8}},
    "mean_teacher": {"model": {"backbone_kwargs": {"stages": [[4, 1], [8, 1]], "top": [8]}}, "train": SSL_STEP},
    "hybridnet": {"model": {"stages": [[4, 1], [8, 1]], "top": [8]}, "train": SSL_STEP},
    "r2d2": {"model": {"backbone_kwargs": {"filters": [4, 8], "dense_units": 16}},
             "supervised": {**STEP, "batch_size": 8},
             "d2": {**SSL_STEP, "repredict_at": [], "lr_schedule": [], "repredict_batch_size": 16},
             "finetune": {**STEP, "batch_size": 8}},
    "swwae_vgg": {"model": {"backbone_kwargs": {"blocks": 3, "width": 0.125, "fc_units": 16, "dropout": 0.0}},
                  "pretrain": {**STEP, "batch_size": 8},
                  "decoder_layerwise": SSL_STEP, "decoder_chained": SSL_STEP,
                  "finetune": {**SSL_STEP, "loss": {"weights": {"image": 1.0, "pool1": 0.1, "pool2": 0.1,
                                                                "pool3": 0.0, "pool4": 0.0}}},
                  "reconstruction_plot": {"num_images": 2}, "dense_evaluation": {"enabled": False}},
}
METHODS = sorted(TINY)


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not empty after its last reader (so the test can read it).
    It hands a node's output to the next node as is (``copy_mode="assign"``, as conf/base/catalog.yml
    does for the in-memory splits): the default deep copy would pickle every Keras model through a
    ``.keras`` archive at each hand-over (a third of a sliced run's time); the KedroSession tests
    cover the saved model files."""

    def __init__(self) -> None:
        super().__init__(copy_mode="assign")

    def _release(self) -> None:
        pass


def merged(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def run_sliced(name: str, override: dict) -> dict:
    """Run pipeline ``name`` on ``conf/base`` parameters merged with ``override``; its outputs."""
    pipe = importlib.import_module(f"ssl_pipelines.pipelines.{name}").create_pipeline()
    return run_pipeline(pipe, name, merged(load_parameters("base")[name], override))


def run_pipeline(pipe, name: str, params: dict) -> dict:
    """Run ``pipe`` (namespace ``name``) with ``SequentialRunner`` on an in-memory catalog holding
    its parameter sections ``params``; every output it produced, by dataset name."""
    inputs = {}
    for dataset in pipe.inputs():
        assert dataset.startswith(f"params:{name}."), dataset  # a pipeline reads nothing but its parameters
        inputs[dataset] = MemoryDataset(params[dataset.split(".", 1)[1]])
    catalog = DataCatalog({**inputs, **{out: KeptDataset() for out in pipe.all_outputs()}})
    SequentialRunner().run(pipe, catalog)
    return {out: catalog.load(out) for out in pipe.all_outputs()}


def check_outputs(name: str, outputs: dict, num_test: int, num_classes: int) -> None:
    report = outputs[f"{name}.evaluation_report"]
    assert report["n"] == num_test and 0.0 <= report["error"] <= 100.0  # percent
    assert np.asarray(report["confusion_matrix"]).shape == (num_classes, num_classes)
    assert np.asarray(report["confusion_matrix"]).sum() == num_test


@pytest.mark.heavy(16)
@pytest.mark.parametrize("name", METHODS)
def test_every_method_runs_sliced_on_digits_in_memory(name):
    outputs = run_sliced(name, {**TINY[name], "data": {"labels_per_class": 2, "validation_per_class": 2}})
    summary = outputs[f"{name}.split_summary"]
    assert not summary.get("streaming") and summary["labeled_per_class"] == [2] * 10
    check_outputs(name, outputs, num_test=summary["test"], num_classes=10)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    from test_data_image_files import write_image_folder

    return write_image_folder(tmp_path_factory.mktemp("pngs"))  # 6 classes x (5 train + 2 test), 16x16 RGB


# swwae_vgg streams the same folder in test_swwae_pipeline (its paper data path, with the same
# assertions plus dense evaluation, through a KedroSession): not run twice
@pytest.mark.heavy(10)
@pytest.mark.parametrize("name", [m for m in METHODS if m != "swwae_vgg"])
def test_every_method_trains_from_a_streamed_png_folder(name, png_folder):
    data = {"name": "image_folder", "path": str(png_folder), "streaming": True, "normalization": "unit",
            "resize": [16, 16],
            "channels": 3, "labels_per_class": 2, "validation_per_class": 1}
    outputs = run_sliced(name, {**TINY[name], "data": data})
    summary = outputs[f"{name}.split_summary"]
    assert summary["streaming"] and summary["labeled_per_class"] == [2] * 6 and summary["unlabeled"] == 12
    check_outputs(name, outputs, num_test=12, num_classes=6)
