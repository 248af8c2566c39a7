"""Deep-network inversion: the reconstruction ``x_hat = A[x]^T c`` of a piecewise-affine
classifier, computed by one backward pass (Balestriero et al. 2017, arXiv 1711.04313, Eq. 5-7;
METHODS.md §2.1).

A ReLU / max-or-mean-pooling / residual network is an input-dependent affine map
``z(x) = A[x] x + b[x]`` whose class templates are ``A[x]_{c,.} = dz_c/dx`` (Eq. 7). For a cotangent
``c`` (one coefficient per class) ``A[x]^T c`` is the vector-Jacobian product of the logits with
``c``, i.e. ``tape.gradient(logits, x, output_gradients=c)``. Called inside a training tape the
inner tape's gradient is itself differentiable, so a loss on ``x_hat`` reaches the weights
(second-order differentiation, "activation sharing" with the forward pass).

The cotangent is uncertain in the sources (METHODS.md §2.1 [?]), so it is an option:

============ =======================================================================================
``softmax``  ``c = softmax(z)`` (default; ``x_hat = sum_c y_c dz_c/dx``, the reading most consistent
             with the paper's text)
``onehot``   ``c = onehot(argmax z)`` (the template of the predicted class)
``logits``   ``c = z``
``ones``     ``c = 1`` (the author's later code: ``tf.gradients(layer, images)``)
============ =======================================================================================

Whether the cotangent itself is differentiated (``stop_gradient_cotangent``) is also [?]; by
default it is not (``x_hat = d<sg(y), z(x)>/dx``, as written in METHODS.md §2.1).
"""

from __future__ import annotations

import dataclasses
import copy
from typing import Any, Sequence

import keras
import tensorflow as tf

from ssl_pipelines.data.errors import ConfigError

COTANGENTS = ("softmax", "onehot", "logits", "ones")


def check_cotangent(kind: str) -> str:
    if kind not in COTANGENTS:
        raise ConfigError(f"cotangent must be one of {list(COTANGENTS)}, got {kind!r}")
    return kind


def cotangent_from_logits(logits: tf.Tensor, kind: str = "softmax") -> tf.Tensor:
    """The per-class coefficients ``c`` of ``x_hat = A[x]^T c`` (same shape as ``logits``)."""
    check_cotangent(kind)
    if kind == "softmax":
        return tf.nn.softmax(logits, axis=-1)
    if kind == "onehot":
        return tf.one_hot(tf.argmax(logits, axis=-1), tf.shape(logits)[-1], dtype=logits.dtype)
    if kind == "logits":
        return logits
    return tf.ones_like(logits)


@dataclasses.dataclass
class Inversion:
    """Result of :func:`invert`.

    Attributes:
        logits: ``(B, C)`` class logits of the forward pass.
        reconstruction: ``x_hat = A[x]^T c``, shaped like the input.
        layer_targets: representations ``z^(l)`` of the requested layers (multiscale extension).
        layer_reconstructions: ``f^-1_l = (dz^(L)/dz^(l))^T c``, one per requested layer.
    """

    logits: tf.Tensor
    reconstruction: tf.Tensor
    layer_targets: list[tf.Tensor] = dataclasses.field(default_factory=list)
    layer_reconstructions: list[tf.Tensor] = dataclasses.field(default_factory=list)


def layer_output_model(classifier: keras.Model, layer_names: Sequence[str]) -> keras.Model:
    """A functional model sharing ``classifier``'s layers that returns
    ``[z^(l) for l in layer_names] + [logits]`` (for the multiscale terms)."""
    if not layer_names:
        return classifier
    if not hasattr(classifier, "inputs") or not classifier.inputs:
        raise ConfigError("per-layer reconstruction needs a functional backbone (keras.Model(inputs, outputs))")
    known = [layer.name for layer in classifier.layers]
    outputs = []
    for name in layer_names:
        if name not in known:
            raise ConfigError(f"reconstruction layer {name!r} is not a layer of {classifier.name!r}; "
                              f"expected one of {known}")
        outputs.append(classifier.get_layer(name).output)
    return keras.Model(classifier.inputs, [*outputs, classifier.outputs[0]], name=f"{classifier.name}_layers")


def invert(classifier, x: tf.Tensor, cotangent: str = "softmax", *, training: bool = False,
           stop_gradient_cotangent: bool = True, feature_model: keras.Model | None = None) -> Inversion:
    """Forward pass plus the reconstruction ``x_hat = A[x]^T c`` by one backward pass.

    Call it inside the training ``tf.GradientTape``: the reconstruction (and any loss on it) is
    differentiable with respect to the classifier's weights.

    Args:
        classifier: any callable ``x -> logits`` that is piecewise affine in ``x`` (no change of
            architecture needed; for other nets this is the gradient-times-cotangent "saliency").
        x: ``(B, ...)`` inputs.
        cotangent: ``softmax`` | ``onehot`` | ``logits`` | ``ones`` (see the module docstring).
        training: forwarded to the classifier (dropout masks are shared by both passes).
        stop_gradient_cotangent: if True the outer gradient does not flow through ``c``.
        feature_model: from :func:`layer_output_model`, to also get per-layer reconstructions.

    Returns:
        an :class:`Inversion`.
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        if feature_model is not None and feature_model is not classifier:
            *hs, logits = feature_model(x, training=training)
        else:
            hs, logits = [], classifier(x, training=training)
    c = cotangent_from_logits(logits, cotangent)
    if stop_gradient_cotangent:
        c = tf.stop_gradient(c)
    grads = tape.gradient(logits, [x, *hs], output_gradients=c,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return Inversion(logits, grads[0], list(hs), list(grads[1:]))


@keras.saving.register_keras_serializable(package="ssl_pipelines")
class InversionReconstruction(keras.layers.Layer):
    """Reconstruct the input of a piecewise-affine classifier: ``x_hat = A[x]^T c`` (paper Eq. 5-7).

    Args:
        classifier: a ``keras.Model`` mapping inputs to logits (unchanged; batch-norm free for the
            template reading to hold, METHODS.md §2.1 Appendix A.2).
        cotangent: ``softmax`` (default) | ``onehot`` | ``logits`` | ``ones``.
        stop_gradient_cotangent: do not differentiate through the cotangent.
        return_logits: return ``[logits, x_hat]`` instead of ``x_hat``.

    Call arguments:
        x: ``(B, ...)`` inputs of the classifier.
        training: forwarded to the classifier.

    Example:
        >>> net = build_backbone("inv_small_cnn", (8, 8, 1), 10)
        >>> x_hat = InversionReconstruction(net)(x)   # same shape as x

    Reference:
        Balestriero, Roger, Glotin, Baraniuk, "Semi-Supervised Learning via New Deep Network
        Inversion", arXiv 1711.04313 (2017), Eq. 5-7 (templates) and Eq. 8 (reconstruction loss).
    """

    def __init__(self, classifier: keras.Model, cotangent: str = "softmax", stop_gradient_cotangent: bool = True,
                 return_logits: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.cotangent = check_cotangent(cotangent)
        self.stop_gradient_cotangent = bool(stop_gradient_cotangent)
        self.return_logits = bool(return_logits)

    def build(self, input_shape):
        if not self.classifier.built:
            self.classifier.build(input_shape)
        self.built = True

    def call(self, x, training=None):
        inv = invert(self.classifier, x, self.cotangent, training=bool(training),
                     stop_gradient_cotangent=self.stop_gradient_cotangent)
        return [inv.logits, inv.reconstruction] if self.return_logits else inv.reconstruction

    def compute_output_spec(self, x, training=None):
        rec = keras.KerasTensor(x.shape, dtype=self.compute_dtype)
        if not self.return_logits:
            return rec
        num_classes = self.classifier.outputs[0].shape[-1] if getattr(self.classifier, "outputs", None) else None
        return [keras.KerasTensor((x.shape[0], num_classes), dtype=self.compute_dtype), rec]

    # === Config ===
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "cotangent": self.cotangent,
            "stop_gradient_cotangent": self.stop_gradient_cotangent,
            "return_logits": self.return_logits,
        })
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = copy.deepcopy(config)  # deserialization consumes the nested dicts
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)
