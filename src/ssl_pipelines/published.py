"""Published test errors of the papers, as given in the spec ``../shared/METHODS.md``.

Only numbers the spec gives are listed, each with the table it comes from and the spec's
certainty tag (``[paper]``, ``[source]``, ``[3rd]``, ``[mem]``; see the spec's header). Errors are
in % (accuracies of the spec are converted as ``100 - accuracy``). ``method`` is the name of the
pipeline that reimplements the row, so results and published numbers join on
``(method, dataset, labels)``; ``labels`` is the total number of labeled training images
(``None``: every training label is used).

Datasets use tensorflow-datasets names (``mnist``, ``cifar10``, ``cifar100``, ``svhn_cropped``,
``stl10``, ``imagenet2012``); :func:`canonical_dataset` maps the spellings runs carry (``idx``
MNIST files, ``svhn``, the CIFAR-10 JPEG copy...) onto them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Published:
    """One published number: test error (%) of ``method`` on ``dataset`` with ``labels`` labels."""

    method: str
    dataset: str
    labels: int | None
    error: float
    std: float | None
    source: str  # spec section + paper table, e.g. "METHODS.md §5.3, Kingma et al. Table 1"
    variant: str = ""  # the paper's row when it differs from the default pipeline (backbone...)
    certainty: str = "[paper]"

    def as_dict(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """``"11.97 ± 1.71"``."""
        return f"{self.error:.2f}" + (f" ± {self.std:.2f}" if self.std is not None else "")


_K1 = "METHODS.md §5.3, Kingma et al. 2014 Table 1 (MNIST)"
_K2 = "METHODS.md §5.3, Kingma et al. 2014 Table 2 (SVHN)"
_H1 = "METHODS.md §1.4, HybridNet Table 1 (accuracy -> error)"
_H3 = "METHODS.md §1.4, HybridNet Table 3"
_R = "METHODS.md §4.5, R2-D2 results"
_I = "METHODS.md §2.4, inversion paper"
_Z = "METHODS.md §3.5, Zhang et al. 2016 (ImageNet validation, single crop top-1)"

PUBLISHED: tuple[Published, ...] = (
    # === Kingma et al. 2014: M1, M2, M1+M2 (§5.3) ===
    Published("m2", "mnist", 100, 11.97, 1.71, _K1),
    Published("m2", "mnist", 600, 4.94, 0.13, _K1, certainty="[mem]"),
    Published("m2", "mnist", 1000, 3.60, 0.56, _K1),
    Published("m2", "mnist", 3000, 3.92, 0.63, _K1, certainty="[mem]"),
    Published("m1_m2", "mnist", 100, 3.33, 0.14, _K1),
    Published("m1_m2", "mnist", 600, 2.59, 0.05, _K1, certainty="[mem]"),
    Published("m1_m2", "mnist", 1000, 2.40, 0.02, _K1),
    Published("m1_m2", "mnist", 3000, 2.18, 0.04, _K1, certainty="[3rd]"),
    Published("m1_m2", "svhn_cropped", 1000, 36.02, 0.10, _K2, certainty="[3rd]"),
    Published("m1", "mnist", 100, 11.82, 0.25, _K1, variant="M1+TSVM", certainty="[mem]"),
    Published("m1", "mnist", 600, 5.72, 0.049, _K1, variant="M1+TSVM", certainty="[mem]"),
    Published("m1", "mnist", 1000, 4.24, 0.07, _K1, variant="M1+TSVM", certainty="[mem]"),
    Published("m1", "mnist", 3000, 3.49, 0.04, _K1, variant="M1+TSVM", certainty="[mem]"),
    Published("m1", "svhn_cropped", 1000, 54.33, 0.11, _K2, variant="M1+TSVM", certainty="[mem]"),
    Published("supervised", "mnist", 100, 25.81, None, _K1, variant="NN", certainty="[mem]"),
    Published("supervised", "mnist", 100, 22.98, None, _K1, variant="CNN", certainty="[mem]"),
    Published("supervised", "mnist", 600, 11.44, None, _K1, variant="NN", certainty="[mem]"),
    Published("supervised", "mnist", 600, 7.68, None, _K1, variant="CNN", certainty="[mem]"),
    Published("supervised", "mnist", 1000, 10.7, None, _K1, variant="NN", certainty="[mem]"),
    Published("supervised", "mnist", 1000, 6.45, None, _K1, variant="CNN", certainty="[mem]"),
    Published("supervised", "mnist", 3000, 6.04, None, _K1, variant="NN", certainty="[mem]"),
    Published("supervised", "mnist", 3000, 3.35, None, _K1, variant="CNN", certainty="[mem]"),
    # === HybridNet (§1.4) ===
    Published("hybridnet", "cifar10", 1000, 25.9, None, _H1, variant="ConvLarge"),
    Published("hybridnet", "cifar10", 2000, 18.4, None, _H1, variant="ConvLarge"),
    Published("hybridnet", "cifar10", 4000, 13.4, None, _H1, variant="ConvLarge"),
    Published("hybridnet", "cifar10", 1000, 8.81, None, _H3, variant="ResNet"),
    Published("hybridnet", "cifar10", 2000, 7.87, None, _H3, variant="ResNet"),
    Published("hybridnet", "cifar10", 4000, 6.09, None, _H3, variant="ResNet"),
    Published("hybridnet", "svhn_cropped", 500, 1.85, None, _H3, variant="ResNet"),
    Published("hybridnet", "svhn_cropped", 1000, 1.80, None, _H3, variant="ResNet"),
    Published("hybridnet", "stl10", 1000, 15.9, None, _H3, variant="ResNet"),
    # Mean Teacher as reported in HybridNet's tables ("classification + stability" in Table 1)
    Published("mean_teacher", "cifar10", 1000, 34.4, None, _H1, variant="ConvLarge, cls + stability"),
    Published("mean_teacher", "cifar10", 2000, 25.4, None, _H1, variant="ConvLarge, cls + stability"),
    Published("mean_teacher", "cifar10", 4000, 18.7, None, _H1, variant="ConvLarge, cls + stability"),
    Published("mean_teacher", "cifar10", 1000, 21.55, None, _H3, variant="ConvLarge"),
    Published("mean_teacher", "cifar10", 2000, 15.73, None, _H3, variant="ConvLarge"),
    Published("mean_teacher", "cifar10", 4000, 12.31, 0.28, _H3 + "; R2-D2 table", variant="ConvLarge"),
    Published("mean_teacher", "cifar10", 1000, 10.10, None, _H3, variant="ResNet"),
    Published("mean_teacher", "cifar10", 4000, 6.28, 0.15, _H3 + "; R2-D2 table", variant="ResNet / Shake-Shake"),
    Published("mean_teacher", "svhn_cropped", 500, 4.18, None, _H3, variant="ConvLarge"),
    Published("mean_teacher", "svhn_cropped", 1000, 3.95, None, _H3, variant="ConvLarge"),
    Published("mean_teacher", "cifar100", 10000, 36.08, 0.51, _R, variant="ConvLarge", certainty="[source]"),
    # Supervised-only rows of the same tables
    Published("supervised", "cifar10", 1000, 45.2, None, _H3, variant="ResNet baseline"),
    Published("supervised", "cifar10", 2000, 24.3, None, _H3, variant="ResNet baseline"),
    Published("supervised", "cifar10", 4000, 15.45, None, _H3, variant="ResNet baseline"),
    Published("supervised", "cifar10", 4000, 21.0, None, _H1, variant="ConvLarge, classification only"),
    Published("supervised", "cifar10", 4000, 14.90, 0.28, _R, variant="Shake-Shake", certainty="[source]"),
    Published("supervised", "svhn_cropped", 500, 12.27, None, _H3, variant="ResNet baseline"),
    Published("supervised", "svhn_cropped", 1000, 9.56, None, _H3, variant="ResNet baseline"),
    Published("supervised", "stl10", 1000, 18.0, None, _H3, variant="ResNet baseline"),
    Published("supervised", "cifar100", 10000, 38.36, 0.27, _R, variant="ConvLarge", certainty="[source]"),
    # === R2-D2 (§4.5) ===
    Published("r2d2", "cifar10", 4000, 5.72, 0.06, _R, variant="Shake-Shake", certainty="[source]"),
    Published("r2d2", "cifar100", 10000, 32.87, 0.51, _R, variant="ConvLarge", certainty="[source]"),
    Published("r2d2", "svhn_cropped", 1000, 3.64, None, _R + " (Papers-with-Code)", variant="CNN-13",
              certainty="[3rd]"),
    # === SSL via deep-network inversion (§2.4) ===
    Published("inversion", "mnist", 50, 0.86, None, _I, variant="Resnet2-32, max pooling", certainty="[source]"),
    Published("inversion", "svhn_cropped", 500, 9.82, None, _I + " (2018 multiscale abstract)",
              variant="wide ResNet", certainty="[3rd]"),
    Published("inversion", "cifar10", 8000, 16.38, None, _I + " (2018 multiscale abstract)",
              variant="sigmoid CNN", certainty="[3rd]"),
    # === Zhang, Lee & Lee 2016: SWWAE on VGG16 (§3.5), fully labeled ImageNet ===
    Published("swwae_vgg", "imagenet2012", None, 27.39, None, _Z, variant="SWWAE-all", certainty="[source]"),
    Published("swwae_vgg", "imagenet2012", None, 27.70, None, _Z, variant="SAE-first", certainty="[source]"),
    Published("supervised", "imagenet2012", None, 29.05, None, _Z, variant="VGGNet", certainty="[source]"),
)

_DATASET_ALIASES = {
    "idx": "mnist",  # the project's paper envs read the MNIST IDX files
    "mnist_idx": "mnist",
    "svhn": "svhn_cropped",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
    "cifar10_jpeg": "cifar10",
    "cifar-100": "cifar100",
    "stl-10": "stl10",
    "imagenet": "imagenet2012",
}


def canonical_dataset(name: str | None) -> str | None:
    """The tensorflow-datasets spelling of a data set name (``idx`` -> ``mnist``...)."""
    if name is None:
        return None
    key = str(name).strip().lower()
    return _DATASET_ALIASES.get(key, key)


def published_for(method: str, dataset: str | None = None, labels: int | None = None) -> list[Published]:
    """Published numbers for ``method`` (optionally on ``dataset`` and with ``labels`` labels)."""
    out = [p for p in PUBLISHED if p.method == method]
    if dataset is not None:
        out = [p for p in out if p.dataset == canonical_dataset(dataset)]
    if labels is not None:
        out = [p for p in out if p.labels == labels]
    return out


def published_table():
    """Every published number as a pandas DataFrame (one row per entry)."""
    import pandas as pd

    return pd.DataFrame([p.as_dict() for p in PUBLISHED])
