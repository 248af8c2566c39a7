"""SSL via deep-network inversion (Balestriero, Roger, Glotin, Baraniuk 2017, arXiv 1711.04313;
METHODS.md §2).

One classifier, no decoder: the input is reconstructed by back-propagating a cotangent through
the classifier itself (``x_hat = A[x]^T c``, :mod:`ssl_pipelines.layers.inversion`), and the loss
on that reconstruction is differentiated into the weights with a nested tape.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError
from ssl_pipelines.data.streams import X_LABELED, X_UNLABELED, Y_LABELED
from ssl_pipelines.layers.inversion import check_cotangent, invert, layer_output_model
from ssl_pipelines.losses import cross_entropy_from_logits
from ssl_pipelines.losses.inversion import (
    RECONSTRUCTION_DISTANCES,
    inversion_total_loss,
    multiscale_reconstruction_error,
    specialization_loss,
)
from ssl_pipelines.methods.base import SSLModel
from ssl_pipelines.losses.precision import to_float32

UNSUPERVISED_ON = ("unlabeled", "all", "labeled")


def _unit_interval(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class InversionSSL(SSLModel):
    """Semi-supervised classifier trained with the inversion loss (paper Eq. 10):

    ``L = alpha * CE(labeled) + (1 - alpha) * (beta * R + (1 - beta) * E)``

    with ``R`` the reconstruction error of ``x_hat = A[x]^T c`` (Eq. 8) and ``E`` the entropy of
    the prediction (Eq. 9), averaged over the samples selected by ``unsupervised_on``.

    Args:
        backbone: a piecewise-affine classifier (inputs -> logits), batch-norm free
            (e.g. ``inv_small_cnn``, ``inv_resnet2_32``; METHODS.md §2.1, Appendix A.2).
        alpha: supervised weight in ``[0, 1]`` (``1`` = plain cross-entropy).
        beta: reconstruction vs. entropy weight in ``[0, 1]``.
        cotangent: ``softmax`` | ``onehot`` | ``logits`` | ``ones`` (METHODS.md §2.1 [?]).
        stop_gradient_cotangent: do not differentiate through the cotangent (default True).
        unsupervised_on: which samples get R and E: ``unlabeled`` (default; the paper's stated
            case), ``all`` (labeled too) or ``labeled``.
        reconstruction_distance: ``mse`` (Eq. 8) or ``cosine`` (the alternative the paper allows).
        reconstruction_layers: names of backbone layers that also get a reconstruction term
            (the 2018 multiscale extension, arXiv 1802.10172): ``R += sum_l w_l ||f^-1_l - z^(l)||^2``.
        reconstruction_layer_weights: ``w_l`` per layer; None = ``1 / (L * D^(l))`` [3rd][?].
        alpha_start, beta_start: if given, ``alpha``/``beta`` ramp linearly from these values to
            ``alpha``/``beta`` over ``schedule_steps`` optimizer steps (the paper's "future work"
            ``alpha(t), beta(t)``, METHODS.md §2.2).
        schedule_steps: length of the ramp (0 = constant weights).

    Call arguments:
        x: inputs. Returns ``(B, C)`` logits.

    Example:
        >>> net = models.build_backbone("inv_small_cnn", (8, 8, 1), 10)
        >>> model = InversionSSL(net, alpha=0.6, beta=0.5)
        >>> model.compile(optimizer=keras.optimizers.Adam(0.01))
        >>> model.fit(ssl_stream(xl, yl, xu, batch_labeled=16, batch_unlabeled=16), steps_per_epoch=10)

    Reference:
        Balestriero, Roger, Glotin, Baraniuk, "Semi-Supervised Learning via New Deep Network
        Inversion", arXiv 1711.04313 (2017), Eq. 7-10; Balestriero, Glotin, Baraniuk,
        "Semi-Supervised Learning Enabled by Multiscale Deep Neural Network Inversion",
        arXiv 1802.10172 (2018).
    """

    loss_terms = ("cross_entropy", "reconstruction", "entropy")

    def __init__(
        self,
        backbone: keras.Model,
        alpha: float = 0.6,
        beta: float = 0.5,
        cotangent: str = "softmax",
        stop_gradient_cotangent: bool = True,
        unsupervised_on: str = "unlabeled",
        reconstruction_distance: str = "mse",
        reconstruction_layers: Sequence[str] = (),
        reconstruction_layer_weights: Sequence[float] | None = None,
        alpha_start: float | None = None,
        beta_start: float | None = None,
        schedule_steps: int = 0,
        **kwargs,
    ):
        super().__init__(backbone, **kwargs)
        # === Loss weights ===
        self.alpha = _unit_interval("alpha", alpha)
        self.beta = _unit_interval("beta", beta)
        self.alpha_start = None if alpha_start is None else _unit_interval("alpha_start", alpha_start)
        self.beta_start = None if beta_start is None else _unit_interval("beta_start", beta_start)
        if isinstance(schedule_steps, bool) or not isinstance(schedule_steps, int) or schedule_steps < 0:
            raise ConfigError(f"schedule_steps must be a non-negative integer, got {schedule_steps!r}")
        self.schedule_steps = int(schedule_steps)
        # === Reconstruction ===
        self.cotangent = check_cotangent(cotangent)
        self.stop_gradient_cotangent = bool(stop_gradient_cotangent)
        if unsupervised_on not in UNSUPERVISED_ON:
            raise ConfigError(f"unsupervised_on must be one of {list(UNSUPERVISED_ON)}, got {unsupervised_on!r}")
        self.unsupervised_on = unsupervised_on
        if reconstruction_distance not in RECONSTRUCTION_DISTANCES:
            raise ConfigError(f"reconstruction_distance must be one of {sorted(RECONSTRUCTION_DISTANCES)}, "
                              f"got {reconstruction_distance!r}")
        self.reconstruction_distance = reconstruction_distance
        self.reconstruction_layers = [str(n) for n in (reconstruction_layers or ())]
        if reconstruction_layer_weights is not None:
            reconstruction_layer_weights = [float(w) for w in reconstruction_layer_weights]
            if len(reconstruction_layer_weights) != len(self.reconstruction_layers):
                raise ConfigError(f"reconstruction_layer_weights has {len(reconstruction_layer_weights)} entries "
                                  f"for {len(self.reconstruction_layers)} reconstruction_layers")
        self.reconstruction_layer_weights = reconstruction_layer_weights
        # shares the backbone's layers; not serialized (rebuilt from the layer names)
        self._feature_model = layer_output_model(backbone, self.reconstruction_layers) if self.reconstruction_layers else None
        if self.reconstruction_layers:
            self.trackers["multiscale"] = keras.metrics.Mean(name="multiscale")

    # === Weights over time ===
    def _ramp(self, start, end):
        if start is None or self.schedule_steps == 0:
            return tf.constant(end, tf.float32)
        optimizer = getattr(self, "optimizer", None)
        step = tf.cast(optimizer.iterations, tf.float32) if optimizer is not None else float(self.schedule_steps)
        t = tf.minimum(step / float(self.schedule_steps), 1.0)
        return start + (end - start) * t

    def loss_weights(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Current ``(alpha, beta)`` (after the optional linear ramp)."""
        return self._ramp(self.alpha_start, self.alpha), self._ramp(self.beta_start, self.beta)

    # === Reconstruction ===
    def invert(self, x, training: bool = False):
        """Logits, ``x_hat`` and per-layer reconstructions of ``x`` (see :func:`layers.inversion.invert`)."""
        return invert(self.backbone, x, self.cotangent, training=training,
                      stop_gradient_cotangent=self.stop_gradient_cotangent, feature_model=self._feature_model)

    def reconstruct(self, x, training: bool = False) -> tf.Tensor:
        """``x_hat = A[x]^T c`` for a batch of inputs."""
        return to_float32(self.invert(tf.convert_to_tensor(x, tf.float32), training=training).reconstruction)

    # === Losses ===
    def compute_losses(self, batch, training=True):
        """All terms of Eq. 10 from one forward and one (differentiable) backward pass over the
        concatenated labeled + unlabeled batch."""
        x_l, y_l = batch[X_LABELED], batch[Y_LABELED]
        x_u = batch.get(X_UNLABELED)
        x = x_l if x_u is None else tf.concat([x_l, x_u], axis=0)
        n_l = tf.shape(x_l)[0]
        inv = self.invert(x, training=training)
        logits_l = inv.logits[:n_l]
        ce = tf.reduce_mean(cross_entropy_from_logits(y_l, logits_l))

        distance = RECONSTRUCTION_DISTANCES[self.reconstruction_distance]
        r_all = distance(x, inv.reconstruction)
        e_all = specialization_loss(inv.logits)
        ms_all = None
        if inv.layer_targets:
            ms_all = multiscale_reconstruction_error(inv.layer_targets, inv.layer_reconstructions,
                                                     self.reconstruction_layer_weights)
        if self.unsupervised_on == "all":
            select = lambda v: v  # noqa: E731
        elif self.unsupervised_on == "labeled" or x_u is None:
            select = lambda v: v[:n_l]  # noqa: E731
        else:
            select = lambda v: v[n_l:]  # noqa: E731
        if self.unsupervised_on == "unlabeled" and x_u is None:  # labeled-only batch: nothing to reconstruct
            zero = tf.zeros((), ce.dtype)
            rec, ent, ms = zero, zero, zero
        else:
            rec = tf.reduce_mean(select(r_all))
            ent = tf.reduce_mean(select(e_all))
            ms = tf.reduce_mean(select(ms_all)) if ms_all is not None else None
        rec_total = rec if ms is None else rec + ms
        alpha, beta = self.loss_weights()
        total = inversion_total_loss(ce, rec_total, ent, alpha, beta)
        terms = {"loss": total, "cross_entropy": ce, "reconstruction": rec, "entropy": ent,
                 "_logits_labeled": logits_l, "_reconstruction": inv.reconstruction}
        if ms_all is not None:
            terms["multiscale"] = ms
        return terms

    def train_step(self, data):
        """One step: :meth:`compute_losses` runs its inner tape (``x_hat``) inside this outer tape,
        so ``d R / d weights`` is a gradient of a gradient."""
        batch = self.as_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True)
        self.apply_gradients(tape, terms["loss"])
        return self.update_trackers(terms, batch.get(Y_LABELED), terms.get("_logits_labeled"))

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "alpha": self.alpha,
            "beta": self.beta,
            "cotangent": self.cotangent,
            "stop_gradient_cotangent": self.stop_gradient_cotangent,
            "unsupervised_on": self.unsupervised_on,
            "reconstruction_distance": self.reconstruction_distance,
            "reconstruction_layers": list(self.reconstruction_layers),
            "reconstruction_layer_weights": self.reconstruction_layer_weights,
            "alpha_start": self.alpha_start,
            "beta_start": self.beta_start,
            "schedule_steps": self.schedule_steps,
        })
        return config
