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


def all_pipeline_names() -> list[str]:
    """Every registered pipeline but ``__default__``, whatever pipelines a session in this process
    asked for (Kedro >= 1.5 restricts ``find_pipelines`` to the pipelines of the last run)."""
    from kedro.framework.project import pipelines as registry

    saved = getattr(registry, "_requested_pipelines", None)
    registry._requested_pipelines = None
    try:
        return sorted(name for name in register_pipelines() if name != "__default__")
    finally:
        registry._requested_pipelines = saved
