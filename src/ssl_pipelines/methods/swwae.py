"""VGG16 augmented with SAE / SWWAE decoders (Zhang, Lee & Lee, ICML 2016; METHODS.md §3).

One model class covers the paper's six augmented networks (``unpooling: sae|swwae`` is fixed by
the decoders, ``variant: first|all|layerwise`` by this model) and every training stage:

* decoder pre-training with the encoder frozen (Steps 2-3, METHODS.md §3.3): the node sets
  ``backbone.trainable = False`` and takes the loss from :func:`decoder_pretraining_kwargs`
  (``classification_weight = 0``, every reconstruction weight equal: 1 on Caffe's summed loss in
  the reference ``layer5_for_pretrain.prototxt``);
* joint fine-tuning (Step 4): classification + weighted reconstruction terms.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.streams import X_LABELED, Y_LABELED
from ssl_pipelines.losses import cross_entropy_from_logits, reconstruction_loss, weighted_reconstruction_total
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.models.vgg import vgg16_feature_model, vgg16_levels
from ssl_pipelines.losses.precision import to_float32

VARIANTS = ("first", "all", "layerwise")
REDUCTIONS = ("sum", "mean")
X_UNLABELED = "x_unlabeled"


def reconstruction_term_names(levels: int) -> list[str]:
    """``["recon_image", "recon_pool1", ..., "recon_pool{L-1}"]`` (``pool_L`` is the decoder input)."""
    return ["recon_image", *[f"recon_pool{l}" for l in range(1, levels)]]


PRETRAIN_LOSS_KEYS = ("reduction", "weight")


def decoder_pretraining_kwargs(levels: int, loss: dict | None = None) -> dict:
    """``SWWAEModel`` loss arguments for decoder pre-training (Steps 2-3, METHODS.md §3.2-3.3).

    The reference pre-training net gives every reconstruction term (image, ``pool1..pool{L-1}``)
    weight 1 on Caffe's *summed* EuclideanLoss (``reduction: sum``) and none to classification.
    With ``reduction: sum`` each level weighs in proportion to its number of elements (in the
    chained "-all" step the image and ``pool1`` terms dominate); ``reduction: mean`` (per-element
    means, the digits default) weighs every level equally.

    Args:
        levels: pooling levels of the VGG16 (``L``).
        loss: ``{"reduction": "sum" | "mean" (default), "weight": w >= 0 (default 1)}``.

    Raises:
        ConfigError: an unknown key, reduction or a negative/non-numeric weight.
    """
    loss = dict(loss or {})
    unknown = sorted(set(loss) - set(PRETRAIN_LOSS_KEYS))
    if unknown:
        raise ConfigError(f"unknown decoder pre-training loss key(s) {unknown}; expected a subset of "
                          f"{list(PRETRAIN_LOSS_KEYS)}")
    reduction = loss.get("reduction", "mean")
    if reduction not in REDUCTIONS:
        raise ConfigError(f"decoder pre-training loss.reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
    weight = loss.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
        raise ConfigError(f"decoder pre-training loss.weight must be a non-negative number, got {weight!r}")
    names = ["image", *[f"pool{l}" for l in range(1, int(levels))]]
    return {"loss_weights": {k: float(weight) for k in names}, "classification_weight": 0.0,
            "reduction": reduction}


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class SWWAEModel(SSLModel):
    """A VGG16 classifier plus mirrored decoders trained on classification + reconstruction.

    Loss (METHODS.md §3.2; paper Eq. (1)-(2) [mem]):
    ``L = w_cls·CE(fc8(x_l), y_l) + λ_img·EL(x̂, x) + Σ_{l=1..L-1} λ_l·EL(ĥ_l, pool_l(x))``, the
    reconstruction terms computed on labeled **and** unlabeled inputs of the batch (the
    semi-supervised setting; with all labels and no unlabeled part it is the paper's supervised
    regularizer).

    Decoder topologies (METHODS.md §3.1):
        * ``first``: chained ``D_1(D_2(...D_L(pool_L)))``; only the image term is used.
        * ``all``: the same chain; losses at the image and at every pooled level ``pool_1..pool_{L-1}``.
        * ``layerwise``: ``ĥ_{l-1} = D_l(pool_l)`` from the *encoder's* features; all terms.

    Args:
        backbone: a :func:`ssl_pipelines.models.vgg16` classifier (inputs -> logits).
        decoders: ``[D_1, ..., D_L]`` from :func:`ssl_pipelines.models.build_vgg16_decoders`.
        variant: ``"first"``, ``"all"`` or ``"layerwise"``.
        loss_weights: ``{"image": λ_img, "pool1": λ_1, ...}`` (missing levels weigh 0;
            ``first`` ignores all but ``image``).
        classification_weight: weight of the cross-entropy (0 in decoder pre-training).
        reduction: ``"sum"`` (Caffe EuclideanLoss, the paper's weights 1e-4 / 1e-10 / 1e-12) or
            ``"mean"`` (per-element mean; rescale weights with
            :func:`ssl_pipelines.losses.caffe_weight_to_mean_weight`).
        reconstruct_unlabeled: add the unlabeled part of SSL batches to the reconstruction terms.
        stop_gradient_targets: detach intermediate targets (False in the reference code).

    Call arguments:
        x: images ``(B, H, W, C)``. Returns the classifier logits (the decoders are not used).

    Example:
        >>> from ssl_pipelines import models, methods
        >>> net = models.vgg16((32, 32, 1), 10, width=0.125, fc_units=64)
        >>> decs = models.build_vgg16_decoders(net, "swwae")
        >>> model = methods.SWWAEModel(net, decs, variant="all", loss_weights={"image": 1.0, "pool1": 0.1})

    Reference:
        Zhang, Lee & Lee, "Augmenting supervised neural networks with unsupervised objectives for
        large-scale image classification", ICML 2016; Zhao et al. 2015 (SWWAE).
    """

    nested_models = ("backbone", "decoders")
    counted_parts = nested_models

    def __init__(self, backbone: keras.Model, decoders, variant: str = "all", loss_weights: dict | None = None,
                 classification_weight: float = 1.0, reduction: str = "mean", reconstruct_unlabeled: bool = True,
                 stop_gradient_targets: bool = False, **kwargs):
        super().__init__(backbone, **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        # === Encoder (shares the backbone's layers) ===
        self.levels = len(vgg16_levels(backbone))
        self.feature_model = vgg16_feature_model(backbone)
        # === Decoders ===
        decoders = list(decoders)
        if len(decoders) != self.levels:
            raise ValueError(f"need one decoder per pooling level ({self.levels}), got {len(decoders)}")
        self.decoders = decoders
        self.uses_switches = len(decoders[0].inputs) == 3
        # === Loss ===
        self.variant = variant
        self.loss_weights = {str(k): float(v) for k, v in dict(loss_weights or {"image": 1.0}).items()}
        allowed = {"image", *[f"pool{l}" for l in range(1, self.levels)]}
        unknown = sorted(set(self.loss_weights) - allowed)
        if unknown:
            raise ValueError(f"unknown loss_weights keys {unknown}; expected a subset of {sorted(allowed)}")
        self.classification_weight = float(classification_weight)
        self.reduction = reduction
        self.reconstruct_unlabeled = bool(reconstruct_unlabeled)
        self.stop_gradient_targets = bool(stop_gradient_targets)
        terms = ["cross_entropy", "reconstruction", *self.active_terms]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", *terms)}

    # === Terms ===
    @property
    def active_terms(self) -> list[str]:
        """Reconstruction terms this variant computes."""
        names = reconstruction_term_names(self.levels)
        return names[:1] if self.variant == "first" else names

    def term_weights(self) -> dict[str, float]:
        w = {"recon_image": self.loss_weights.get("image", 0.0)}
        for l in range(1, self.levels):
            w[f"recon_pool{l}"] = self.loss_weights.get(f"pool{l}", 0.0)
        return {k: v for k, v in w.items() if k in self.active_terms}

    # === Forward ===
    def encode(self, x, training: bool = False):
        """``(logits, pools, switches, pres)``, each a list over levels ``1..L``."""
        outs = self.feature_model(x, training=training)
        L = self.levels
        return outs[0], list(outs[1:1 + L]), list(outs[1 + L:1 + 2 * L]), list(outs[1 + 2 * L:])

    def _decode_block(self, l: int, h, switches, pres, training):
        """``D_l`` applied to ``h`` (level-``l`` features), ``l`` in ``1..L``."""
        dec = self.decoders[l - 1]
        inputs = [h, switches[l - 1], pres[l - 1]] if self.uses_switches else [h, pres[l - 1]]
        return dec(inputs, training=training)

    def reconstruct(self, pools, switches, pres, training: bool = False, variant: str | None = None):
        """Decoder outputs ``[x̂, ĥ_1, ..., ĥ_{L-1}]`` for this (or the given) topology."""
        variant = variant or self.variant
        L = self.levels
        outs = [None] * L
        if variant == "layerwise":
            for l in range(1, L + 1):
                outs[l - 1] = self._decode_block(l, pools[l - 1], switches, pres, training)
        else:
            h = pools[L - 1]
            for l in range(L, 0, -1):
                h = self._decode_block(l, h, switches, pres, training)
                outs[l - 1] = h
        return outs

    def reconstruct_image_from_level(self, x, level: int):
        """Image reconstructed by chaining ``D_level .. D_1`` from the encoder's ``pool_level``
        (the paper's reconstruction figure)."""
        _, pools, switches, pres = self.encode(x, training=False)
        h = pools[level - 1]
        for l in range(level, 0, -1):
            h = self._decode_block(l, h, switches, pres, False)
        return to_float32(h)

    # === Losses ===
    def compute_losses(self, batch, training=True):
        x_l, y_l = batch[X_LABELED], batch[Y_LABELED]
        n_l = tf.shape(x_l)[0]
        x = x_l
        if self.reconstruct_unlabeled and X_UNLABELED in batch:
            x = tf.concat([x_l, tf.cast(batch[X_UNLABELED], x_l.dtype)], axis=0)
        logits, pools, switches, pres = self.encode(x, training=training)
        logits_l = logits[:n_l]
        ce = tf.reduce_mean(cross_entropy_from_logits(y_l, logits_l))
        recons = self.reconstruct(pools, switches, pres, training=training)
        targets = [x, *pools[:-1]]
        names = reconstruction_term_names(self.levels)
        terms = {}
        for name, rec, tgt in zip(names, recons, targets):
            if name in self.active_terms:
                terms[name] = reconstruction_loss(rec, tgt, self.reduction, self.stop_gradient_targets)
        recon_total = weighted_reconstruction_total(terms, self.term_weights())
        total = self.classification_weight * ce + recon_total
        return {"loss": total, "cross_entropy": ce, "reconstruction": recon_total, **terms,
                "_logits_labeled": logits_l}

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            variant=self.variant, loss_weights=dict(self.loss_weights),
            classification_weight=self.classification_weight, reduction=self.reduction,
            reconstruct_unlabeled=self.reconstruct_unlabeled, stop_gradient_targets=self.stop_gradient_targets,
        )
        return config
