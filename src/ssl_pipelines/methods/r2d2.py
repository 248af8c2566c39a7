"""R2-D2 (Wang & Wu, AAAI 2020; METHODS.md §4): Deep Decipher training with learnable
pseudo-labels, plus the reprediction that the "R2" (repetitive reprediction) loop calls.

Stage 1 (supervised) and stage 3 (fine-tuning on hard pseudo-labels) are ordinary
cross-entropy training (:class:`~ssl_pipelines.methods.SupervisedClassifier`); this module holds
stage 2. The pipeline ``r2d2`` chains the three stages.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ssl_pipelines.data.streams import INDEX_LABELED, INDEX_UNLABELED, X_LABELED, X_UNLABELED, Y_LABELED, eval_stream
from ssl_pipelines.layers.pseudo_labels import PseudoLabelTable
from ssl_pipelines.losses import categorical_kl_from_logits, entropy_from_logits
from ssl_pipelines.losses.r2d2 import d2_loss
from ssl_pipelines.methods.base import SSLModel


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class R2D2(SSLModel):
    """Deep Decipher: a backbone trained against learnable pseudo-labels, which learn too.

    For a batch of ``B`` examples (labeled and unlabeled together) with table rows ``i``:
    ``L = mean_i [alpha * KL(p_hat_i || p_tilde_i) + beta * H(p_hat_i)]``
    (:func:`ssl_pipelines.losses.r2d2.d2_loss`, METHODS.md §4.2). One ``train_step`` applies the
    optimizer to the backbone and, separately, plain gradient descent
    ``y_tilde_i -= lambda_eff * dL/dy_tilde_i = lambda_eff * alpha (p_tilde_i - p_hat_i) / B``
    to the unlabeled rows of the :class:`~ssl_pipelines.layers.PseudoLabelTable` (labeled rows stay
    ``10 * onehot(y)``; no momentum, no weight decay).

    Args:
        backbone: classifier mapping inputs to logits.
        num_examples: rows of the pseudo-label table, ``n_labeled + n_unlabeled``.
        num_labeled: the first ``num_labeled`` rows are the labeled examples.
        alpha: weight of ``L_c = KL(p_hat || p_tilde)`` (code: 0.1).
        beta: weight of ``L_e = H(p_hat)`` (code: 0.03; the poster's 0.3 conflicts, §4.2).
        label_lr: the pseudo-label step size ``lambda`` (code: 4000), given for a batch of
            ``label_lr_reference_batch_size`` examples.
        label_lr_reference_batch_size: the batch size ``lambda`` was tuned for (code: 4 GPUs x 128
            = 512). At batch size ``B`` the step used is ``lambda * B / B_ref``, which keeps the
            per-example step ``lambda * alpha / B_ref`` (~0.78 in the reference) independent of
            ``B`` (METHODS.md §4.7). ``None`` uses ``lambda`` as is.
        labeled_logit_scale: labeled rows are ``scale * onehot(y)`` (code: 10).

    Call arguments:
        x: a batch of inputs. Returns ``(B, C)`` logits (the backbone's).

    Train data: SSL batch dicts from ``ssl_stream(..., with_indices=True)``.

    Example:
        >>> net = models.build_backbone("lenet", (8, 8, 1), 10)
        >>> model = R2D2(net, num_examples=len(x_l) + len(x_u), num_labeled=len(x_l))
        >>> model.pseudo_labels.set_labeled(y_l)
        >>> model.repredict(x_u)
        >>> model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.9, nesterov=True))
        >>> model.fit(ssl_stream(x_l, y_l, x_u, batch_labeled=32, batch_unlabeled=96,
        ...                      with_indices=True), steps_per_epoch=100)

    Reference:
        G.-H. Wang, J. Wu, "Repetitive Reprediction Deep Decipher for Semi-Supervised Learning",
        AAAI 2020, arXiv 1908.04345; code ``DoctorKey/R2D2.pytorch`` (``R2_D2_2_3.py``,
        ``DeepDecipher.py``).
    """

    loss_terms = ("kl", "entropy")

    def __init__(self, backbone: keras.Model, num_examples: int, num_labeled: int, alpha: float = 0.1,
                 beta: float = 0.03, label_lr: float = 4000.0, label_lr_reference_batch_size: int | None = 512,
                 labeled_logit_scale: float = 10.0, **kwargs):
        super().__init__(backbone, **kwargs)
        # === Loss weights and pseudo-label step ===
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.label_lr = float(label_lr)
        self.label_lr_reference_batch_size = (None if label_lr_reference_batch_size is None
                                              else int(label_lr_reference_batch_size))
        # === Pseudo-label table ===
        num_classes = int(backbone.output_shape[-1])
        self.pseudo_labels = PseudoLabelTable(num_examples, num_classes, num_labeled,
                                              labeled_logit_scale=labeled_logit_scale, name="pseudo_labels")
        self.pseudo_label_change = keras.metrics.Mean(name="pseudo_label_change")

    @property
    def num_examples(self) -> int:
        return self.pseudo_labels.num_examples

    @property
    def num_labeled(self) -> int:
        return self.pseudo_labels.num_labeled

    def effective_label_lr(self, batch_size) -> float | tf.Tensor:
        """``lambda * B / B_ref`` (or ``lambda`` without a reference batch size)."""
        if self.label_lr_reference_batch_size is None:
            return self.label_lr
        return self.label_lr * tf.cast(batch_size, tf.float32) / float(self.label_lr_reference_batch_size)

    # === Training ===
    @staticmethod
    def batch_inputs(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Concatenate the labeled and unlabeled parts: ``(x, table rows, n_labeled_in_batch)``."""
        if INDEX_LABELED not in batch:
            raise ValueError("R2D2 needs batches with sample indices: build the stream with "
                             "ssl_stream(..., with_indices=True)")
        xs, idx = [batch[X_LABELED]], [batch[INDEX_LABELED]]
        if X_UNLABELED in batch:
            xs.append(batch[X_UNLABELED])
            idx.append(batch[INDEX_UNLABELED])
        return tf.concat(xs, 0), tf.concat([tf.cast(i, tf.int32) for i in idx], 0), tf.shape(batch[X_LABELED])[0]

    def train_step(self, data):
        if isinstance(data, (tuple, list)) and data and isinstance(data[0], dict):
            data = data[0]  # ``train_on_batch(batch_dict)`` packs it as ``(x, None, None)``
        batch = self.as_batch(data)
        x, rows, n_l = self.batch_inputs(batch)
        pseudo = self.pseudo_labels(rows)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(pseudo)
            logits = self(x, training=True)
            loss = tf.reduce_mean(d2_loss(logits, pseudo, self.alpha, self.beta))
        self.apply_gradients(tape, loss)  # the network: the compiled optimizer
        pseudo_grad = tape.gradient(loss, pseudo)  # = alpha (p_tilde - p_hat) / B
        del tape
        step = self.effective_label_lr(tf.shape(x)[0])  # per-example step lambda*alpha/B_ref
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            # every replica applies every replica's rows, so the (mirrored) tables stay identical
            self.pseudo_labels.apply_gradient(ctx.all_gather(rows, axis=0), ctx.all_gather(pseudo_grad, axis=0), step)
        else:
            self.pseudo_labels.apply_gradient(rows, pseudo_grad, step)
        unlabeled = rows >= self.num_labeled
        change = tf.norm(tf.boolean_mask(step * pseudo_grad, unlabeled), axis=-1)
        self.pseudo_label_change.update_state(change)
        terms = {
            "loss": loss,
            "kl": tf.reduce_mean(categorical_kl_from_logits(logits, pseudo)),
            "entropy": tf.reduce_mean(entropy_from_logits(logits)),
        }
        return self.update_trackers(terms, batch.get(Y_LABELED), logits[:n_l])

    @property
    def metrics(self):
        return [*super().metrics, self.pseudo_label_change]

    # === Reprediction (R2) ===
    def repredict(self, x_unlabeled, batch_size: int = 256) -> np.ndarray:
        """Write the network's logits (eval mode, no augmentation) into every unlabeled row.

        ``x_unlabeled``: the unlabeled images in table order, an array or a finite ``tf.data``
        stream of image batches (e.g. decoded files). Returns the logits (``(n_unlabeled, C)``).
        METHODS.md §4.3/§4.7: logits, not probabilities.
        """
        batches = x_unlabeled if isinstance(x_unlabeled, tf.data.Dataset) else eval_stream(x_unlabeled, batch_size=batch_size)
        # A plain loop of eval-mode calls rather than ``predict``: safe inside ``fit`` callbacks.
        logits = np.concatenate([np.asarray(self(xb, training=False), np.float32) for xb in batches])
        self.pseudo_labels.repredict(logits)
        return logits

    def hard_pseudo_labels(self) -> np.ndarray:
        """``argmax`` of every table row (true labels on labeled rows), for stage 3."""
        return np.asarray(self.pseudo_labels.table.numpy()).argmax(axis=1)

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_examples=self.num_examples, num_labeled=self.num_labeled, alpha=self.alpha,
                      beta=self.beta, label_lr=self.label_lr,
                      label_lr_reference_batch_size=self.label_lr_reference_batch_size,
                      labeled_logit_scale=self.pseudo_labels.labeled_logit_scale)
        return config


class RepredictionSchedule(keras.callbacks.Callback):
    """Stage 2's epoch loop (METHODS.md §4.3): the learning rate of ``lr_schedule`` at every
    epoch start; at every epoch end ``record(completed_epochs)`` (e.g. the pseudo-labels'
    accuracy), then ``repredict(completed_epochs)`` if the epoch is in ``repredict_at``. Works on
    absolute epoch numbers, so a resumed ``fit`` keeps the schedule.

    Args:
        base_lr: the learning rate before the first ``lr_schedule`` epoch.
        lr_schedule: ``[(epoch, lr), ...]`` with increasing epochs (piecewise constant).
        repredict_at: epochs after which to repredict.
        record, repredict: callables of the number of completed epochs.
        curves: the dict ``record`` / ``repredict`` fill (metric curves); it travels with the
            training checkpoint (``checkpoint_state``), so a resumed or restored stage reports
            the curves it logged before the kill.
    """

    def __init__(self, base_lr: float, lr_schedule, repredict_at, record, repredict, curves: dict | None = None):
        super().__init__()
        self._base_lr, self._schedule, self._at = float(base_lr), list(lr_schedule), set(repredict_at)
        self._record, self._repredict = record, repredict
        self._curves = curves if curves is not None else {}

    def checkpoint_state(self) -> dict:
        return self._curves

    def restore_checkpoint_state(self, state: dict) -> None:
        self._curves.clear()
        self._curves.update(state)

    def lr_at(self, epoch: int) -> float:
        lr = self._base_lr
        for start, value in self._schedule:
            if epoch >= start:
                lr = value
        return lr

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.lr_at(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)
        if epoch + 1 in self._at:
            self._repredict(epoch + 1)
