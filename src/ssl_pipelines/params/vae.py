"""Sections of the generative pipelines (Kingma et al. 2014, METHODS.md §5): the VAE of M1 and
M2 (``m1.model``, ``m2.model``, ``m1_m2.m1`` / ``m1_m2.m2``), M1+M2's ``stack`` and ``plots``."""

from __future__ import annotations

import dataclasses

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.losses.vae import KL_ESTIMATORS, M2_BOUND_WEIGHTINGS
from ssl_pipelines.models.mlp import KERNEL_INITIALIZERS
from ssl_pipelines.models.vae import LOG_VAR_ACTIVATIONS
from ssl_pipelines.params.data import Backbone, parse_backbone
from ssl_pipelines.params.reader import Section

VAE_KEYS = frozenset({"latent_dim", "hidden_units", "activation", "kernel_init_std", "likelihood", "binarize"})
M1_KEYS = VAE_KEYS | {"classifier", "kl_warmup_steps", "kl_weight"}
M2_KEYS = VAE_KEYS | {"classifier_hidden_units", "alpha", "bound_weighting", "kl", "log_var_activation",
                      "kernel_initializer", "binarize_labeled"}
#: M2's labeled images under ``binarize``: drawn afresh every batch (the paper), or once (an ablation)
BINARIZE_LABELED = ("dynamic", "fixed")
STACK_KEYS = frozenset({"active_threshold", "active_sample", "sample_latents"})
PLOT_KEYS = frozenset({"num_images", "num_samples"})
TRANSDUCTION_KEYS = frozenset({"neighbors", "alpha"})
LIKELIHOODS = ("bernoulli", "gaussian")
#: stream batches of M2-style training when ``train:`` sets none (the paper's 10 + 100 on MNIST)
M2_TRAIN_DEFAULTS = {"batch_labeled": 10, "batch_unlabeled": 100}


@dataclasses.dataclass(frozen=True)
class VAEParams:
    """One VAE's architecture and noise (decoders mirror ``hidden_units``)."""

    latent_dim: int
    hidden_units: list[int]
    activation: str
    kernel_init_std: float | None  # None = Glorot
    likelihood: str
    binarize: bool

    @property
    def layer_kwargs(self) -> dict:
        return {"activation": self.activation, "kernel_init_std": self.kernel_init_std}


@dataclasses.dataclass(frozen=True)
class M1Params(VAEParams):
    classifier: Backbone = Backbone("mlp", {})
    kl_warmup_steps: int = 0  # KL weight min(1, t / T) (deviation from the paper; 0 = the ELBO from step 1)
    kl_weight: float = 1.0  # the KL term's final weight beta (deviation from the paper below 1; 1 = the ELBO)


@dataclasses.dataclass(frozen=True)
class M2Params(VAEParams):
    classifier_hidden_units: list[int] = dataclasses.field(default_factory=list)
    alpha: float = 0.1
    bound_weighting: str = "paper"  # Eq. 9 per training point, or "mean" (mean L + mean U, an ablation)
    kl: str = "analytic"  # Eq. 6 in closed form, or a one-sample estimate
    log_var_activation: str = "linear"  # encoder log-variance head (softplus: variance >= 1)
    kernel_initializer: str = "glorot_uniform"  # when kernel_init_std is null
    binarize_labeled: str = "dynamic"  # "fixed": the labeled images binarized once (an ablation)

    @property
    def layer_kwargs(self) -> dict:
        return {**super().layer_kwargs, "kernel_initializer": self.kernel_initializer}


def _vae(s: Section, hidden_default: list[int], min_layers: int = 0, likelihood: str = "bernoulli",
         binarize: bool = True) -> dict:
    activation = s.text("activation", "softplus")
    return {"latent_dim": s.int("latent_dim", 50), "hidden_units": s.ints("hidden_units", hidden_default,
                                                                           min_length=min_layers),
            "activation": activation,
            "kernel_init_std": None if s.is_null("kernel_init_std") else s.number("kernel_init_std", 1e-3, low_open=True),
            "likelihood": s.choice("likelihood", likelihood, LIKELIHOODS), "binarize": s.flag("binarize", binarize)}


def parse_m1(params: dict | None, section: str = "model") -> M1Params:
    """M1 (paper: 2 x 500 softplus, z = 50, N(0, 1e-3^2) weights; ``classifier`` on mu(x))."""
    s = Section(section, params, M1_KEYS)
    classifier, _ = parse_backbone(s.get("classifier", {"backbone": "mlp"}), f"{section}.classifier", default="mlp")
    return M1Params(**_vae(s, [500, 500]), classifier=classifier,
                    kl_warmup_steps=s.int("kl_warmup_steps", 0, minimum=0),
                    kl_weight=s.number("kl_weight", 1.0, low_open=True, high=1.0))


def parse_m2(params: dict | None, section: str = "model", likelihood: str = "bernoulli",
             binarize: bool = True) -> M2Params:
    """M2 (paper: one hidden layer of 500 softplus units everywhere, z = 50, alpha = 0.1)."""
    s = Section(section, params, M2_KEYS)
    vae = _vae(s, [500], min_layers=1, likelihood=likelihood, binarize=binarize)
    return M2Params(**vae, classifier_hidden_units=s.ints("classifier_hidden_units", vae["hidden_units"]),
                    alpha=s.number("alpha", 0.1),
                    bound_weighting=s.choice("bound_weighting", "paper", M2_BOUND_WEIGHTINGS),
                    kl=s.choice("kl", "analytic", KL_ESTIMATORS),
                    log_var_activation=s.choice("log_var_activation", "linear", LOG_VAR_ACTIVATIONS),
                    kernel_initializer=s.choice("kernel_initializer", "glorot_uniform", KERNEL_INITIALIZERS),
                    binarize_labeled=s.choice("binarize_labeled", "dynamic", BINARIZE_LABELED))


@dataclasses.dataclass(frozen=True)
class StackParams:
    """M1+M2: keep the M1 latent units whose posterior-mean std exceeds ``active_threshold`` over
    ``active_sample`` unlabeled images (reference code: 0.1 over 1000)."""

    active_threshold: float = 0.1
    active_sample: int = 1000
    sample_latents: bool = True  # M2 on z1 ~ q(z1|x) resampled per batch (reference), else on the means


def parse_stack(params: dict | None) -> StackParams:
    s = Section("stack", params, STACK_KEYS)
    return StackParams(s.number("active_threshold", 0.1), s.int("active_sample", 1000),
                       s.flag("sample_latents", True))


@dataclasses.dataclass(frozen=True)
class TransductionParams:
    """M1's classifier on ``z``: with ``neighbors > 0``, the unlabeled latents get labels by label
    spreading on a ``neighbors``-nearest-neighbour graph (``alpha``: how far labels spread) and the
    classifier trains on them with the labeled ones (in place of the paper's TSVM); 0 = labeled only."""

    neighbors: int = 0
    alpha: float = 0.9


def parse_transduction(params: dict | None) -> TransductionParams:
    s = Section("transduction", params, TRANSDUCTION_KEYS)
    return TransductionParams(s.int("neighbors", 0, minimum=0),
                              s.number("alpha", 0.9, low_open=True, high=1.0, high_open=True))


@dataclasses.dataclass(frozen=True)
class PlotParams:
    num_images: int = 10
    num_samples: int = 5


def parse_plots(params: dict | None, num_samples: int = 5, section: str = "plots") -> PlotParams:
    s = Section(section, params, PLOT_KEYS)
    return PlotParams(s.int("num_images", 10), s.int("num_samples", num_samples))


def check_bernoulli_inputs(low: float, high: float, likelihood: str) -> None:
    """A Bernoulli likelihood needs inputs in [0, 1] (``data.normalization: unit``)."""
    if likelihood == "bernoulli" and (low < 0.0 or high > 1.0):
        raise ConfigError(f"likelihood 'bernoulli' needs inputs in [0, 1], got values in [{low:.3g}, {high:.3g}]; "
                          f"use data.normalization: unit or likelihood: gaussian")
