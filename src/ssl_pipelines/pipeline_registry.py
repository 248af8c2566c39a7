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
    asked for.

    Kedro >= 1.5 loads only the pipelines of the last ``--pipelines`` request; like Kedro's own
    ``kedro registry describe`` this lifts the filter with the public
    ``pipelines.set_requested(None)`` (each later ``KedroSession.run`` sets its own again).

    Raises:
        RuntimeError: the Kedro project is not configured (``configure_project("ssl_pipelines")``).
    """
    from kedro.framework import project

    if project.PACKAGE_NAME is None:
        raise RuntimeError("the Kedro project is not configured; call "
                           "kedro.framework.project.configure_project('ssl_pipelines') first")
    project.pipelines.set_requested(None)
    return sorted(name for name in project.pipelines.keys() if name != "__default__")
