"""The `paper` Kedro environment: Kedro replaces a pipeline's whole top-level parameter section
from conf/base with the env's, so every paper section must be complete (hold every section the
base one has), and must load through Kedro's config loader."""

import pytest
import yaml

from conftest import REPO

PIPELINES = sorted(p.stem.removeprefix("parameters_") for p in (REPO / "conf/paper").glob("parameters_*.yml"))


@pytest.mark.parametrize("name", PIPELINES)
def test_paper_section_is_complete(name):
    base = yaml.safe_load((REPO / f"conf/base/parameters_{name}.yml").read_text())[name]
    paper = yaml.safe_load((REPO / f"conf/paper/parameters_{name}.yml").read_text())[name]
    missing = sorted(set(base) - set(paper))
    assert not missing, f"conf/paper/parameters_{name}.yml lacks {missing}; Kedro would drop them"
    assert paper["data"].get("name") != "digits", "the paper protocol runs on the paper's data set"


def test_every_pipeline_has_a_paper_env():
    pipelines = sorted(p.name for p in (REPO / "src/ssl_pipelines/pipelines").iterdir()
                       if (p / "pipeline.py").exists())
    assert set(pipelines) <= set(PIPELINES), sorted(set(pipelines) - set(PIPELINES))


def test_paper_env_loads_through_kedro():
    from kedro.config import OmegaConfigLoader

    from ssl_pipelines.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(REPO / "conf"), env="paper", **CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    for name in PIPELINES:
        assert "seed" in params[name] and params[name]["data"]["name"] != "digits", name
