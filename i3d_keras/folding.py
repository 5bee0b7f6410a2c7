"""Batch-norm folding for inference: each conv -> batch norm pair becomes one conv with a bias.

In inference mode a batch norm is the affine map ``y = (x - mean) / sqrt(var + eps) * gamma + beta``, so it folds
into the conv before it: ``kernel * s`` and bias ``beta - mean * s`` with ``s = gamma / sqrt(var + eps)``. The
folded model has the same inputs, outputs and layer names (each folded batch norm becomes a pass-through
``FoldedBatchNorm``) and the same outputs up to float rounding; it is for inference, not training.
"""

import keras
import numpy as np

CONV_SUFFIX, BN_SUFFIX = "_conv", "_bn"


@keras.saving.register_keras_serializable(package="i3d_keras")
class FoldedBatchNorm(keras.layers.Layer):
    """Where a batch norm was before folding: passes its input through (takes the batch norm's call arguments)."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def _folded_pairs(model):
    """``{conv name: bn layer}`` for every conv followed by its ``<unit>_bn`` batch norm (``layers.unit``)."""
    names = {layer.name for layer in model.layers}
    pairs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name.endswith(BN_SUFFIX):
            conv = layer.name[: -len(BN_SUFFIX)] + CONV_SUFFIX
            if conv in names:
                pairs[conv] = layer
    return pairs


def fold_batch_norm(model):
    """A copy of the functional ``model`` with every conv-BN pair folded into one biased conv (inference only)."""
    pairs = _folded_pairs(model)
    folded_bns = {bn.name for bn in pairs.values()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        elif layer.name in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        return layer.__class__.from_config(config)

    folded = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = folded.get_layer(layer.name)
        if layer.name in folded_bns:
            continue
        if layer.name not in pairs:
            target.set_weights(layer.get_weights())
            continue
        bn = pairs[layer.name]
        gamma = np.asarray(bn.gamma) if bn.scale else 1.0
        beta = np.asarray(bn.beta) if bn.center else 0.0
        scale = gamma / np.sqrt(np.asarray(bn.moving_variance, np.float64) + bn.epsilon)
        kernel = layer.get_weights()[0]
        bias = beta - np.asarray(bn.moving_mean, np.float64) * scale
        target.set_weights([(kernel * scale).astype(kernel.dtype), bias.astype(kernel.dtype)])
    return folded
