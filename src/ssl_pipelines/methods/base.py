"""The base every method model derives from.

``SSLModel`` wraps a classifier backbone (inputs -> logits). ``call(x)`` returns class logits, so
evaluation, ``predict`` and the saved ``.keras`` file work the same for every method. A method
implements :meth:`SSLModel.compute_losses` (a dict of scalar loss terms, ``"loss"`` the total, all
composed from :mod:`ssl_pipelines.losses`); the base ``train_step`` differentiates the total in one
tape, applies one optimizer step and tracks one ``keras.metrics.Mean`` per term (the shape of
the keras-io guide "Customizing what happens in fit()"). Methods with extra state (an EMA teacher, a pseudo-label
table, a nested tape) override ``train_step`` and reuse :meth:`apply_gradients` and
:meth:`update_trackers`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from ssl_pipelines.data.streams import X_LABELED, Y_LABELED
from ssl_pipelines.losses import cross_entropy_from_logits
from ssl_pipelines.losses.precision import to_float32


def step_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A train/test step's metric results as Keras can reduce them across replicas.

    With several workers, Keras (3.15) reduces every step output with ``strategy.reduce("MEAN",
    v, axis=0)``, which fails on a scalar (``Invalid reduction dimension 0 for input with 0
    dimensions``; tensorflow/tensorflow#72388). There each scalar gets a leading axis of one, so
    the reduction is the mean over replicas, as it is under ``MirroredStrategy``. Unchanged
    otherwise."""
    from ssl_pipelines.training.distribute import num_workers

    if num_workers() <= 1:
        return logs
    return {k: tf.reshape(v, [1]) if getattr(v, "shape", None) is not None and v.shape.rank == 0 else v
            for k, v in logs.items()}


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class SSLModel(keras.Model):
    """Base semi-supervised model: a backbone classifier plus per-term loss trackers.

    Args:
        backbone: a ``keras.Model`` mapping inputs to class logits.
        loss_terms: names of the loss terms the method reports (besides ``loss``).

    Call arguments:
        x: a batch of inputs. Returns ``(B, C)`` logits.

    Train data: SSL batch dicts from :func:`ssl_pipelines.data.ssl_stream` (or ``(x, y)``
    tuples, read as a labeled-only batch). Test data: ``(x, y)`` tuples.
    """

    loss_terms: tuple[str, ...] = ()
    #: attributes holding nested Keras models/layers (or lists of them): ``get_config`` serializes
    #: them and ``from_config`` rebuilds them (every constructor argument round-trips through the
    #: config, as in keras-hub). Subclasses extend this tuple instead
    #: of writing their own (de)serialization.
    nested_models: tuple[str, ...] = ("backbone",)
    #: nested models (or lists of them) whose parameter counts ``count_params_by_part`` reports
    #: beside the total.
    counted_parts: tuple[str, ...] = ("backbone",)

    def __init__(self, backbone: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", *self.loss_terms)}
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    # === Distribution ===
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Keras (3.15) builds a model under a distribution strategy from the first batch of the
        distributed stream, reduced with ``strategy.reduce("MEAN", batch)`` on the *whole* batch
        structure. ``reduce`` takes one distributed value, not a dict or a tuple of them;
        ``MirroredStrategy`` and a one-worker ``MultiWorkerMirroredStrategy`` let a structure pass
        through unchanged (``reduce_non_distributed_value``), but with two workers it becomes a
        cross-worker collective and fails (``Attempt to convert a value ({'x_labeled':
        PerReplica...}) with an unsupported type (<class 'dict'>) to a Tensor``; keras-team/keras
        #20329). The build needs shapes only: take each leaf's first local replica value (no
        communication), the shapes a mean over replicas would have, and let Keras build from that."""
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is not None and iterator is not None and data_batch is None:
            for _, _, it in iterator:
                first = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, first)
                break
        return super()._maybe_symbolic_build(iterator=None if data_batch is not None else iterator,
                                              data_batch=data_batch)

    def make_train_function(self, force=False):
        """Create the optimizer's variables before the train step is traced, when the model's are
        all there.

        Without a distribution strategy Keras (3.15) leaves them to the first trace of the train step
        (our ``apply_gradients`` builds the optimizer there), and a ``tf.function`` whose first trace
        creates variables is traced a second time: building them first saves every ``fit`` one trace
        of its train step (the losses are the same). A
        model with a sub-layer not built yet (its variables appear in that first trace) keeps
        Keras' behaviour; under a strategy Keras has built the optimizer already."""
        optimizer = self.optimizer
        # an SSLModel is "built" when first called, which fit never does; its parts are built when made
        if (optimizer is not None and not optimizer.built
                and all(layer.built for layer in self._flatten_layers(include_self=False))):
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)
        return super().make_train_function(force=force)

    # === Forward ===
    def __call__(self, x, *args, **kwargs):
        # Keras' symbolic build under a distribution strategy calls the model on a whole SSL
        # batch: classify its labeled inputs (for every subclass, whatever its ``call``).
        if isinstance(x, dict) and X_LABELED in x:
            x = x[X_LABELED]
        # logits are float32 under a mixed-precision policy too: losses, metrics and ``predict``
        # see full-precision values (the network's layers compute in the policy's half type)
        return to_float32(super().__call__(x, *args, **kwargs))

    def call(self, x, training: bool = False):
        return self.backbone(x, training=training)

    def build(self, input_shape=None):
        if not self.backbone.built and input_shape is not None:
            self.backbone.build(input_shape)
        self.built = True

    # === Batches ===
    @staticmethod
    def as_batch(data) -> dict[str, tf.Tensor]:
        """Read a ``fit`` element as an SSL batch dict (``(x, y)`` tuples become labeled-only)."""
        if isinstance(data, dict):
            return data
        if isinstance(data, (tuple, list)) and len(data) >= 2:
            return {X_LABELED: data[0], Y_LABELED: data[1]}
        raise ValueError(f"expected an SSL batch dict or an (x, y) tuple, got {type(data).__name__}")

    # === Losses ===
    def compute_losses(self, batch: dict[str, tf.Tensor], training: bool = True) -> dict[str, tf.Tensor]:
        """Return ``{"loss": total, <term>: value, ..., "_logits_labeled": logits}``.

        ``_``-prefixed entries are not tracked as losses; ``_logits_labeled`` feeds the accuracy.
        """
        raise NotImplementedError

    def build_for_batch(self, batch: dict[str, tf.Tensor]) -> None:
        """Create every variable the training step uses (for restoring a checkpoint before
        ``fit``). The default runs :meth:`compute_losses` once in inference mode; methods whose
        ``train_step`` creates more state override it."""
        try:
            self.compute_losses(batch, training=False)
        except NotImplementedError:
            self(batch[X_LABELED], training=False)

    # === Training ===
    def apply_gradients(self, tape: tf.GradientTape, loss: tf.Tensor, variables=None) -> None:
        """One optimizer step on ``variables`` (default: all trainable), skipping unused ones."""
        variables = self.trainable_variables if variables is None else variables
        if not self.optimizer.built:
            # build over every trainable variable (not just those with gradients this step), so the
            # optimizer's state has the same layout in every run and can be checkpointed/restored.
            self.optimizer.build(self.trainable_variables)
        # mixed_float16: Keras wraps the compiled optimizer in a LossScaleOptimizer; the gradients
        # are those of the scaled loss (started from d(scale * loss)/d(loss) = scale, so the loss
        # returned and logged stays unscaled) and ``optimizer.apply`` unscales them and skips a
        # step whose gradients overflowed, as in Keras' own train_step
        scaling = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer) or (
            getattr(self.optimizer, "loss_scale_factor", None) is not None)
        grads = tape.gradient(loss, variables,
                              output_gradients=self.optimizer.scale_loss(tf.ones_like(loss)) if scaling else None)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:  # per-replica batch means -> the optimizer sums replicas: global-batch mean
            grads = [None if g is None else g / replicas for g in grads]
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if pairs:
            self.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    def update_trackers(self, terms: dict[str, tf.Tensor], labels=None, logits=None) -> dict[str, tf.Tensor]:
        for name, tracker in self.trackers.items():
            if name in terms:
                tracker.update_state(terms[name])
        if labels is not None and logits is not None:
            self.accuracy_tracker.update_state(labels, to_float32(logits))
        return step_logs({m.name: m.result() for m in self.metrics})

    def train_step(self, data):
        batch = self.as_batch(data)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(batch, training=True)
        self.apply_gradients(tape, terms["loss"])
        return self.update_trackers(terms, batch.get(Y_LABELED), terms.get("_logits_labeled"))

    def test_step(self, data):
        x, y = data[0], data[1]
        logits = self(x, training=False)
        loss = tf.reduce_mean(cross_entropy_from_logits(y, logits))
        self.trackers["loss"].update_state(loss)
        self.accuracy_tracker.update_state(y, logits)
        return step_logs({"loss": self.trackers["loss"].result(), "accuracy": self.accuracy_tracker.result()})

    @property
    def metrics(self):
        return [*self.trackers.values(), self.accuracy_tracker]

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for name in self.nested_models:
            value = getattr(self, name)
            config[name] = ([keras.saving.serialize_keras_object(v) for v in value]
                            if isinstance(value, (list, tuple)) else keras.saving.serialize_keras_object(value))
        return config

    def compile_from_config(self, config):
        """Compile a loaded model and create its optimizer's variables, so the optimizer state saved
        in the ``.keras`` file is restored (training continues where it stopped).

        Keras does the second part only when the loaded model is *built*, which needs a build config
        in the file; our models train on dict batches that never go through ``__call__``, so one
        saved before it was ever called has none, and Keras skipped the saved optimizer state with a
        warning. Our sub-models are built when deserialized, so the variables exist: build the
        optimizer over them. A model frozen after it was trained (M1 inside M1+M2) is unfrozen for
        the build (its saved state covers the weights it trained), then frozen again; freezing a
        whole model had already set every sub-layer's flag, so nothing else changes."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is None or self.optimizer.built:
            return
        if self.trainable:
            variables = self.trainable_variables
        else:  # the setter recurses into sub-layers: only toggle a model frozen as a whole
            self.trainable = True
            try:
                variables = self.trainable_variables
            finally:
                self.trainable = False
        if variables:
            self.optimizer.build(variables)

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        for name in cls.nested_models:
            if name in config:
                value = config[name]
                config[name] = ([keras.saving.deserialize_keras_object(v) for v in value]
                                if isinstance(value, list) else keras.saving.deserialize_keras_object(value))
        return cls(**config)

    def count_params_by_part(self) -> dict[str, int]:
        """Parameter counts (logged when a run starts): the total and each of ``counted_parts``."""
        def size(m) -> int:  # Keras' count_params, also for a model never called (only its parts are built)
            return int(sum(math.prod(v.shape) for v in m.weights))

        counts = {"total": size(self)}
        for part in self.counted_parts:
            value = getattr(self, part)
            counts[part] = sum(size(m) for m in value) if isinstance(value, (list, tuple)) else size(value)
        return counts
