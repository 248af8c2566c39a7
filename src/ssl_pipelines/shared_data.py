"""The folder of the real data sets that the paper environments (``conf/paper``) read: one
environment variable, ``SSL_PIPELINES_SHARED_DATA`` (the one the benchmark drivers read too), by
default ``../shared/data``, relative to the folder Kedro runs in (the project root): the data
folder beside the repository.

A ``conf/paper`` file names a data set inside it as ``${shared_data:mnist}`` (the ``shared_data``
resolver of ``settings.py``, which is :func:`resolve`). When such a path does not exist, the run
fails as its data loads, before anything trains, with a message naming the variable, the path and
what to put there (:func:`missing_hint`, added by ``ssl_pipelines.data.sources.require_path``).

Light on purpose (the standard library only): ``settings.py`` imports it to build the config loader.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "SSL_PIPELINES_SHARED_DATA"
DEFAULT = "../shared/data"

#: what each folder of the shared data holds and where it comes from (the folder's PROVENANCE.md
#: says more)
CONTENTS = {
    "mnist": "MNIST: its four original IDX files, train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
             "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not), from Y. LeCun, "
             "C. Cortes and C. Burges' MNIST page or any mirror of those four files (keras.datasets and "
             "torchvision download the same ones)",
    "cifar10_jpeg_full": "the JPEG copy of CIFAR-10: cifar10_jpg_full.tar.xz, an image folder archive "
                         "(train/<class>/*.jpg, test/<class>/*.jpg); data.name=cifar10 instead reads the "
                         "original through tensorflow-datasets",
}


def root() -> str:
    """The shared data folder: ``$SSL_PIPELINES_SHARED_DATA``, else ``../shared/data``."""
    return os.environ.get(VARIABLE) or DEFAULT


def resolve(sub: str = "") -> str:
    """``${shared_data:mnist}`` -> ``<root>/mnist`` (``${shared_data:}``: the folder itself)."""
    base = root()
    sub = str(sub or "").strip("/")
    return f"{base.rstrip('/')}/{sub}" if sub else base


def missing_hint(path: str | os.PathLike) -> str:
    """For a ``path`` inside the shared data folder that does not exist: which variable sets the
    folder, what it is set to and what to put at ``path``; ``""`` for a path elsewhere."""
    folder = Path(root()).expanduser().resolve()
    target = Path(path).expanduser().resolve()
    if target != folder and folder not in target.parents:
        return ""
    setting = (f"set to {os.environ[VARIABLE]!r}" if os.environ.get(VARIABLE) else
               f"unset, so {DEFAULT}, relative to the folder the run started in")
    parts = target.relative_to(folder).parts
    name = parts[0] if parts else ""
    where = f"{name}/ in the shared data folder" if name else "the shared data folder"
    text = (f". It is {where}, {str(folder)!r}, which the environment variable {VARIABLE} sets "
            f"({setting}). ")
    if name in CONTENTS:
        text += f"{str(folder / name)!r} should hold {CONTENTS[name]}; "
    else:
        text += "Put the data set there; "
    return text + f"or export {VARIABLE}=<the folder that holds {name + '/' if name else 'the data sets'}>"


__all__ = ["VARIABLE", "DEFAULT", "CONTENTS", "root", "resolve", "missing_hint"]
