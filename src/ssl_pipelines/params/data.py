"""The ``data:`` and ``evaluation:`` sections every pipeline shares, and the ``model:`` section of
pipelines that train a registered backbone."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.params.reader import Section

LOAD_KEYS = frozenset({"name", "path", "data_dir", "download", "test_fraction", "num_classes", "max_train",
                       "max_test"})
PREPROCESS_KEYS = frozenset({"resize", "channels", "normalization"})
SPLIT_KEYS = frozenset({"labels_per_class", "num_labeled", "validation_per_class", "max_unlabeled",
                        "include_labeled_in_unlabeled", "use_extra_as_unlabeled"})
STREAM_KEYS = frozenset({"streaming", "shorter_side", "train_dir", "test_dir"})
DATA_KEYS = LOAD_KEYS | PREPROCESS_KEYS | SPLIT_KEYS | STREAM_KEYS
EVALUATION_KEYS = frozenset({"batch_size", "top_k", "curve_every", "curve_unit", "test_subset", "test_subset_seed"})
CURVE_UNITS = ("epoch", "step")
BACKBONE_KEYS = frozenset({"backbone", "backbone_kwargs"})


STREAMING_SOURCES = ("image_folder",)
STREAMING_UNSUPPORTED = ("max_train", "max_test", "num_classes", "download", "test_fraction", "data_dir")


def parse_data(params: dict | None) -> Section:
    """The ``data:`` section (the loaders check the values of their own keys; with
    ``streaming: true``, the constraints of streamed image folders are checked here, before
    anything loads: the folder's existence is checked when it is indexed)."""
    s = Section("data", params, DATA_KEYS)
    if s.flag("streaming", False):
        check_streaming(s.values)
    return s


def check_streaming(values: dict) -> None:
    """``data.streaming: true``: an image-folder source, decoded to [0, 1], cropped to ``resize``;
    raises :class:`ConfigError` naming the key otherwise."""
    name = values.get("name")
    if name not in STREAMING_SOURCES:
        raise ConfigError(f"data.streaming: true supports data.name in {list(STREAMING_SOURCES)}, got {name!r}")
    if (values.get("normalization") or "unit") != "unit":
        raise ConfigError(f"streaming images are decoded to [0, 1]: data.normalization must be 'unit', "
                          f"got {values.get('normalization')!r}")
    for key in STREAMING_UNSUPPORTED:
        if values.get(key) is not None:
            raise ConfigError(f"data.{key} is not supported with data.streaming: true; set it to null")
    if values.get("resize") is None:
        raise ConfigError("data.streaming: true needs data.resize: [H, W], the crop fed to the network")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The ``evaluation:`` section.

    * ``batch_size``, ``top_k``: of the final test evaluation;
    * ``curve_every`` (null: off): a learning curve of test accuracy every N epochs
      (``curve_unit: epoch``, default) or N training steps (``step``) of every training stage,
      logged to MLflow as ``<stage>.test_accuracy`` / ``<stage>.test_error`` (%) with the epoch
      or the global step as the step (R2-D2 logs ``supervised.``, ``d2.`` and ``finetune.``;
      ``swwae_vgg`` its ``pretrain.`` and ``finetune.`` stages, whose classifier trains); its
      evaluation time is not counted by a time budget, and with one the training minutes at each
      point are logged beside it as ``<stage>.train_minutes``;
    * ``test_subset`` (null: the whole test set): evaluate (finally and on the curve) on this many
      test images, a fixed draw with ``test_subset_seed`` (default 0, the same for every run seed,
      so runs compare on the same images).
    """

    batch_size: int = 256
    top_k: tuple[int, ...] = (1, 5)
    curve_every: int | None = None
    curve_unit: str = "epoch"
    test_subset: int | None = None
    test_subset_seed: int = 0


def parse_evaluation(params: dict | None) -> Evaluation:
    s = Section("evaluation", params, EVALUATION_KEYS)
    return Evaluation(batch_size=s.int("batch_size", 256), top_k=tuple(s.ints("top_k", [1, 5])),
                      curve_every=s.int("curve_every", None), curve_unit=s.choice("curve_unit", "epoch", CURVE_UNITS),
                      test_subset=s.int("test_subset", None), test_subset_seed=s.int("test_subset_seed", 0, minimum=0))


@dataclasses.dataclass(frozen=True)
class Backbone:
    """``model: {backbone: <registered name>, backbone_kwargs: {...}}``."""

    name: str
    kwargs: dict


def parse_backbone(params: dict | None, section: str = "model", default: str | None = None,
                   extra_keys: frozenset[str] = frozenset()) -> tuple[Backbone, Section]:
    s = Section(section, params, BACKBONE_KEYS | extra_keys)
    name = s.get("backbone", default)
    if not name or not isinstance(name, str):
        raise s.fail("backbone", "the name of a registered backbone", name)
    # a null entry means "the builder's default": how a run switches backbone from the command line, since
    # Kedro merges --params into the configured backbone_kwargs (`backbone=mlp,backbone_kwargs.filters=null`)
    kwargs = {k: v for k, v in s.mapping("backbone_kwargs").items() if v is not None}
    return Backbone(name=name, kwargs=kwargs), s
