"""Keras' own layer test harness (``keras.src.testing.TestCase.run_layer_test``; Keras 3 has no
public equivalent) over every reusable layer of ``ssl_pipelines.layers``.

The harness builds each layer from its config, checks ``get_config``/``from_config`` and
serialization round trips, the weight / seed-generator counts, symbolic and eager output shapes
and dtypes, a training step inside a model, and a ``mixed_float16`` run. Where one of its checks
does not apply, the call says which and why."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras.src import testing

from ssl_pipelines import models
from ssl_pipelines.layers import (
    GaussianSampling,
    InversionReconstruction,
    MaxPoolingWithSwitches,
    MaxUnpooling,
    PseudoLabelTable,
)


class LayerHarnessTest(testing.TestCase):
    def test_max_pooling_with_switches(self):
        self.run_layer_test(
            MaxPoolingWithSwitches, init_kwargs={"pool_size": 2}, input_shape=(2, 4, 6, 3),
            expected_output_shape=((2, 2, 3, 3), (2, 2, 3, 3)), expected_output_dtype=("float32", "int64"),
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0, expected_num_seed_generators=0,
            expected_num_losses=0, supports_masking=False,
            # training check: not applicable, the layer has no weights and its second output, the
            # int64 switches, has no gradient (and an MSE target on integer indices is meaningless)
            run_training_check=False,
        )

    def test_max_unpooling_switches(self):
        x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
        pooled, switches = MaxPoolingWithSwitches(2)(x)
        self.run_layer_test(
            MaxUnpooling, init_kwargs={"pool_size": 2, "mode": "switches"},
            input_data=[np.asarray(pooled), np.asarray(switches), x],
            expected_output_shape=(2, 4, 4, 3), expected_output_dtype="float32",
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0, expected_num_seed_generators=0,
            expected_num_losses=0, supports_masking=False,
            # training check: not applicable, no weights; and its int64 switches input cannot be
            # cast to the mixed_float16 compute dtype, so the mixed-precision check does not apply
            run_training_check=False, run_mixed_precision_check=False,
        )

    def test_max_unpooling_fixed(self):
        self.run_layer_test(
            MaxUnpooling, init_kwargs={"pool_size": 2, "mode": "fixed", "fixed_position": (0, 1)},
            input_shape=(2, 3, 2, 4), expected_output_shape=(2, 6, 4, 4), expected_output_dtype="float32",
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0, expected_num_seed_generators=0,
            expected_num_losses=0, supports_masking=False,
        )

    def test_gaussian_sampling(self):
        rng = np.random.default_rng(0)
        self.run_layer_test(
            GaussianSampling, init_kwargs={"seed": 3},
            input_data=[rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(4, 5)).astype("float32")],
            expected_output_shape=(4, 5), expected_output_dtype="float32",
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0, expected_num_seed_generators=1,
            expected_num_losses=0, supports_masking=False,
            # training check: not applicable, the harness feeds its training model from a generator
            # whose output_signature cannot hold the layer's [mean, log_var] list input (and the
            # layer has no weights to train)
            run_training_check=False,
        )

    def test_pseudo_label_table(self):
        self.run_layer_test(
            PseudoLabelTable, init_kwargs={"num_examples": 12, "num_classes": 3, "num_labeled": 4},
            input_data=np.array([0, 5, 11, 5], "int32"),
            expected_output_shape=(4, 3), expected_output_dtype="float32",
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=1, expected_num_seed_generators=0,
            expected_num_losses=0, supports_masking=False,
            # training check: not applicable, the table is not trainable by a Keras optimizer (R2-D2
            # updates it with its own SGD step, PseudoLabelTable.apply_gradient) and the input is
            # integer row indices, which have no gradient. Mixed precision: not applicable, the
            # table is state (float32 logits updated by SGD), not a computation; Keras' autocast
            # reads it as float16 inside call while the harness expects the float32 variable dtype
            run_training_check=False, run_mixed_precision_check=False,
        )

    def test_inversion_reconstruction(self):
        net = models.build_backbone("inv_small_cnn", (8, 8, 1), 4)
        self.run_layer_test(
            InversionReconstruction, init_kwargs={"classifier": net, "cotangent": "softmax"},
            input_shape=(2, 8, 8, 1), expected_output_shape=(2, 8, 8, 1), expected_output_dtype="float32",
            expected_num_trainable_weights=len(net.trainable_weights),
            expected_num_non_trainable_weights=len(net.non_trainable_weights),
            expected_num_losses=0, supports_masking=False,
            # mixed precision: not applicable, the wrapped classifier is built once in float32 and
            # shared by the harness's instances; the layer's policy cannot change the classifier's
            run_mixed_precision_check=False,
        )
