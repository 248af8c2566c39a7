"""HybridNet: classification and reconstruction cooperation (Robert, Thome & Cord, ECCV 2018).

METHODS.md §1. Two encoder-decoder branches: a discriminative one ``E_c/D_c`` whose encoder
feeds the classifier ``C``, and an unsupervised one ``E_u/D_u`` (switch unpooling); the final
reconstruction is ``x̂ = x̂_c + x̂_u``. Loss (paper Eq. 2)::

    L = λ_c·L_cls + λ_r·L_rec + Σ_{b∈{c,u}, l} λ_{r,b,l}·L_rec-inter(b,l) + λ_s·Ω_stability
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.losses import (
    balanced_reconstruction_mse,
    branch_errors,
    cosine_rampdown,
    cross_entropy_from_logits,
    intermediate_reconstruction_mse,
    reconstruction_mse,
    sigmoid_rampup,
)
from ssl_pipelines.methods.ema_teacher import EMATeacherModel
from ssl_pipelines.models.hybrid_nets import compose_classifier
from ssl_pipelines.losses.precision import to_float32

_PARTS = ("encoder_c", "classifier", "decoder_c", "encoder_u", "decoder_u")


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class HybridNet(EMATeacherModel):
    """HybridNet with a Mean Teacher stability term; every loss term can be switched off.

    Loss terms (METHODS.md §1.2; all ``(1/n)`` batch means of per-example values):

    * ``cross_entropy``: ``λ_c · mean_labeled CE(C(E_c(x)), y)`` (paper normalization 1/n_s).
    * ``reconstruction``: ``λ_r·r_r(t)·d(t) · ||x̂_c + x̂_u − x||²``, per-sample **balanced**
      (gradient only into the branch with the larger partial error, §3.3) when ``balanced``
      (:func:`~ssl_pipelines.losses.balanced_reconstruction_mse`), plain otherwise.
    * ``intermediate``: ``λ_inter·r_i(t)·d(t) · Σ_{b,l} ||ĥ_{b,l} − sg(h_{b,l})||²`` (detached
      targets, §1.6).
    * ``stability``: ``λ_s·r_s(t) · ||softmax(z) − softmax(sg(z_EMA))||²/C`` on all samples, the
      EMA teacher seeing a second augmentation (Mean Teacher targets, the paper's ResNet study).

    ``r_*(t) = exp(−5(1 − t/T_*)²)`` are the ramp-ups and ``d(t)`` the cosine ramp-down to 0 at
    ``rampdown_steps`` (METHODS.md §1.3, released ``experiments.yml``). Setting a ``λ`` to 0
    removes that term *and its computation* (λ_r = λ_inter = 0 skips both decoders and ``E_u``;
    λ_s = 0 skips the teacher's forward pass), so Table 2a rows are configurations of this class.

    The EMA teacher, the stability term and its keys are those of Mean Teacher
    (:class:`~ssl_pipelines.methods.ema_teacher.EMATeacherModel`); HybridNet adds the branches.
    ``call(x)`` returns the **EMA teacher's** logits ``C'(E'_c(x))`` (the paper's test-time
    classifier; with ``lambda_stab = 0`` there is no teacher and ``call`` is the raw classifier);
    :meth:`student_logits` the raw classifier's, :meth:`reconstruct` the images. As in the
    reference code, the EMA averages the parameters and the teacher runs in training mode (batch
    statistics; its own moving statistics are used at test time).

    Args:
        encoder_c, classifier, decoder_c, encoder_u, decoder_u: the five functional models of
            :func:`ssl_pipelines.models.build_hybrid_branches`.
        teacher: EMA copy of ``C∘E_c`` (default: a fresh clone; passed when reloading).
        lambda_cls, lambda_rec, lambda_inter, lambda_stab: the λ's of Eq. 2.
        balanced: per-sample branch balancing of the final reconstruction.
        ema_decay: largest EMA decay (HybridNet code 0.97).
        stab_rampup_steps, rec_rampup_steps, inter_rampup_steps: ramp-up lengths (optimizer steps).
        rampdown_steps: the reconstruction weights decay to 0 at this step (0: no decay).
        augment_shift, augment_flip: random translation / flips drawn in ``train_step`` (two
            independent views for student and teacher).

    Reference:
        Robert, Thome & Cord, "HybridNet: Classification and Reconstruction Cooperation for
        Semi-Supervised Learning", ECCV 2018, Eqs. 1-3; METHODS.md §1.
    """

    nested_models = (*_PARTS, "teacher")
    loss_terms = ("cross_entropy", "reconstruction", "intermediate", "stability", "stability_weight",
                  "rec_error_c", "rec_error_u", "balance_to_c")

    def __init__(self, encoder_c, classifier, decoder_c, encoder_u, decoder_u, teacher=None,
                 lambda_cls: float = 1.0, lambda_rec: float = 1.0, lambda_inter: float = 1.0,
                 lambda_stab: float = 100.0, balanced: bool = True, ema_decay: float = 0.97,
                 stab_rampup_steps: int = 0, rec_rampup_steps: int = 0, inter_rampup_steps: int = 0,
                 rampdown_steps: int = 0, augment_shift: int = 0, augment_flip: bool = False, **kwargs):
        kwargs.pop("backbone", None)
        # === Branches; EMA teacher of C∘E_c (base class) ===
        super().__init__(compose_classifier(encoder_c, classifier), teacher=teacher, lambda_stab=lambda_stab,
                         stab_rampup_steps=stab_rampup_steps, ema_decay=ema_decay, augment_shift=augment_shift,
                         augment_flip=augment_flip, **kwargs)
        self.encoder_c, self.classifier = encoder_c, classifier
        self.decoder_c, self.encoder_u, self.decoder_u = decoder_c, encoder_u, decoder_u
        self.num_levels = len(encoder_c.outputs) - 1
        self.switches_u = len(encoder_u.outputs) == 1 + 3 * self.num_levels
        # === Loss configuration ===
        self.lambda_cls, self.lambda_rec, self.lambda_inter = float(lambda_cls), float(lambda_rec), float(lambda_inter)
        self.balanced = bool(balanced)
        self.rec_rampup_steps, self.inter_rampup_steps = int(rec_rampup_steps), int(inter_rampup_steps)
        self.rampdown_steps = int(rampdown_steps)

    @property
    def reads_unlabeled(self) -> bool:
        """The reconstruction terms and the stability term read the unlabeled images; classification
        alone (Table 1's first row) does not."""
        return self.lambda_rec > 0 or self.lambda_inter > 0 or self.use_teacher

    @property
    def student_variables(self) -> list:
        """Every trainable variable but the teacher's (deduplicated, in a fixed order)."""
        seen, out = set(), []
        for part in _PARTS:
            for v in getattr(self, part).trainable_variables:
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    # === Forward ===
    def branches(self, x, training: bool = False) -> dict[str, Any]:
        """Run both branches: logits, ``x_hat_c``, ``x_hat_u``, ``x_hat`` and the per-level
        encoder activations ``h_c``/``h_u`` and decoder activations ``h_hat_c``/``h_hat_u``."""
        L = self.num_levels
        enc_c = self.encoder_c(x, training=training)
        dec_c = self.decoder_c(enc_c[0], training=training)
        enc_u = self.encoder_u(x, training=training)
        dec_u = self.decoder_u([enc_u[0], *enc_u[1 + L:]] if self.switches_u else enc_u[0], training=training)
        return {"logits": self.classifier(enc_c[0], training=training),
                "x_hat_c": dec_c[0], "x_hat_u": dec_u[0], "x_hat": dec_c[0] + dec_u[0],
                "h_c": list(enc_c[1:1 + L]), "h_hat_c": list(dec_c[1:]),
                "h_u": list(enc_u[1:1 + L]), "h_hat_u": list(dec_u[1:])}

    def reconstruct(self, x, batch_size: int = 256) -> dict[str, Any]:
        """``{"input", "x_hat_c", "x_hat_u", "x_hat"}`` as numpy arrays (inference mode)."""
        import numpy as np

        out = {"input": [], "x_hat_c": [], "x_hat_u": [], "x_hat": []}
        for i in range(0, len(x), batch_size):
            xb = tf.convert_to_tensor(np.asarray(x[i:i + batch_size], np.float32))
            b = self.branches(xb, training=False)
            out["input"].append(xb.numpy())
            for k in ("x_hat_c", "x_hat_u", "x_hat"):
                out[k].append(np.asarray(to_float32(b[k])))
        return {k: np.concatenate(v) for k, v in out.items()}

    # === Losses ===
    def compute_losses(self, batch, training=True):
        x, y, n_l = self.batch_inputs(batch)
        need_decoders = self.lambda_rec > 0 or self.lambda_inter > 0
        if not self.reads_unlabeled:
            # classification only (Table 1's first row): no term reads the unlabeled images, so only
            # the labeled ones are forwarded (as in the supervised baseline; batch-norm statistics
            # come from them)
            x = x[:n_l]
        x_s = self.student_view(x, training)
        x_t = self.teacher_view(x, training) if self.use_teacher else None  # only with the stability term
        step = self.step()
        zero = tf.constant(0.0)
        terms = {"reconstruction": zero, "intermediate": zero, "stability": zero, "stability_weight": zero}
        if need_decoders:
            out = self.branches(x_s, training=training)
            logits = out["logits"]
        else:
            logits = self.student_logits(x_s, training=training)
        # Classification (paper: mean over the labeled samples)
        ce = tf.reduce_mean(cross_entropy_from_logits(y, logits[:n_l]))
        total = self.lambda_cls * ce
        terms["cross_entropy"] = ce
        decay = cosine_rampdown(step, self.rampdown_steps)
        if need_decoders:
            err_c, err_u = branch_errors(x_s, out["x_hat_c"], out["x_hat_u"])
            terms["rec_error_c"], terms["rec_error_u"] = tf.reduce_mean(err_c), tf.reduce_mean(err_u)
            terms["balance_to_c"] = tf.reduce_mean(tf.cast(err_c > err_u, tf.float32))
        if self.lambda_rec > 0:
            rec_fn = balanced_reconstruction_mse if self.balanced else reconstruction_mse
            rec = tf.reduce_mean(rec_fn(x_s, out["x_hat_c"], out["x_hat_u"]))
            total += self.lambda_rec * sigmoid_rampup(step, self.rec_rampup_steps) * decay * rec
            terms["reconstruction"] = rec
        if self.lambda_inter > 0:
            pairs = list(zip(out["h_hat_c"], out["h_c"])) + list(zip(out["h_hat_u"], out["h_u"]))
            inter = tf.add_n([tf.reduce_mean(intermediate_reconstruction_mse(h_hat, h)) for h_hat, h in pairs])
            total += self.lambda_inter * sigmoid_rampup(step, self.inter_rampup_steps) * decay * inter
            terms["intermediate"] = inter
        if self.use_teacher:
            stab, weight = self.stability_term(logits, x_t, training)
            total += weight * stab
            terms["stability"], terms["stability_weight"] = stab, weight
        terms["loss"] = total
        terms["_logits_labeled"] = logits[:n_l]
        return terms

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(lambda_cls=self.lambda_cls, lambda_rec=self.lambda_rec, lambda_inter=self.lambda_inter,
                      balanced=self.balanced, rec_rampup_steps=self.rec_rampup_steps,
                      inter_rampup_steps=self.inter_rampup_steps, rampdown_steps=self.rampdown_steps)
        return config

    def count_params_by_part(self) -> dict[str, int]:
        counts = {part: int(getattr(self, part).count_params()) for part in _PARTS}
        counts["total_trainable"] = sum(counts.values())
        return counts
