"""Project pipelines: every ``pipelines/<name>/`` package is found automatically."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``__default__`` is the supervised baseline: the quickest end-to-end run on the embedded
    digits data. Run any method with ``kedro run --pipelines=<name>``.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = pipelines.get("supervised", Pipeline([]))
    return pipelines
