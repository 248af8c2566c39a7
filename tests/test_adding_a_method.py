"""docs/adding_a_method.md, followed literally: every code block of the page is written to the
file its first line names (inside temporary folders added to the package's ``losses``,
``methods`` and ``pipelines`` paths), then the new pipeline runs on digits, its parameters are
checked by its own schema, and its model saves and reloads."""

from __future__ import annotations

import importlib
import re
import sys

import keras
import numpy as np
import pytest
import yaml
from conftest import REPO

import ssl_pipelines.losses
import ssl_pipelines.methods
import ssl_pipelines.pipelines
from ssl_pipelines.data import ConfigError

GUIDE = REPO / "docs" / "adding_a_method.md"
BLOCK = re.compile(r"```(python|yaml)\n# file: (\S+)\n(.*?)```", re.S)
PACKAGES = {"losses": ssl_pipelines.losses, "methods": ssl_pipelines.methods, "pipelines": ssl_pipelines.pipelines}


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    root = tmp_path_factory.mktemp("guide")
    blocks = {path: text for _, path, text in BLOCK.findall(GUIDE.read_text())}
    # the six places of the page's table, minus the docs page and test (prose, not code)
    assert set(blocks) == {"losses/entmin.py", "methods/entmin.py", "pipelines/entmin/nodes.py",
                           "pipelines/entmin/pipeline.py", "pipelines/entmin/__init__.py",
                           "conf/base/parameters_entmin.yml"}
    for path, text in blocks.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for name, package in PACKAGES.items():
        package.__path__.append(str(root / name))
    yield root, yaml.safe_load(blocks["conf/base/parameters_entmin.yml"])["entmin"]
    for name, package in PACKAGES.items():
        package.__path__.remove(str(root / name))
    for module in [m for m in sys.modules if ".entmin" in m]:
        del sys.modules[module]


def test_the_guides_method_trains_as_a_pipeline_and_its_model_reloads(guide, tmp_path):
    from test_pipelines_sliced import merged, run_pipeline

    _, params = guide
    pipe = importlib.import_module("ssl_pipelines.pipelines.entmin").create_pipeline()
    outputs = run_pipeline(pipe, "entmin", merged(params, {"train": {"epochs": 2, "steps_per_epoch": 3, "verbose": 0}}))
    assert outputs["entmin.evaluation_report"]["error"] < 90.0  # percent; 10 classes: better than chance after 6 steps
    history = outputs["entmin.training_history"]
    assert len(history["entropy"]) == 2 and history["entropy"][-1] > 0
    model = outputs["entmin.trained_model"]
    path = tmp_path / "entmin.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded).__name__ == "EntropyMinimization" and loaded.entropy_weight == params["loss"]["entropy_weight"]
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_the_guides_schema_checks_its_own_sections_first(guide):
    from test_pipelines_sliced import merged, run_pipeline

    _, params = guide
    pipe = importlib.import_module("ssl_pipelines.pipelines.entmin").create_pipeline()
    with pytest.raises(ConfigError, match=r"loss.entropy_weight must be a non-negative number, got 'abc'"):
        run_pipeline(pipe, "entmin", merged(params, {"loss": {"entropy_weight": "abc"}}))
