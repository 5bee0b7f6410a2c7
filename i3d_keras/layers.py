"""Building blocks shared by I3D (3D) and Inception-V1 (2D): the conv-BN-ReLU unit and the inception block.

Every layer is named after the TensorFlow scope that checkpoints use (``Mixed_4b/Branch_1/Conv3d_0b_3x3``),
with ``/`` replaced by ``_`` because Keras 3 forbids slashes in layer names. Tensors are channels-last.
"""

import keras

from i3d_keras import backend
from i3d_keras.architecture import BN_EPSILON, BN_MOMENTUM, block_unit_names, keras_name





def _layer(kind, rank):
    return getattr(keras.layers, f"{kind}{rank}D")


def unit(x, scope, filters, kernel_size, strides=1, rank=3, epsilon=BN_EPSILON):
    """Conv (``same`` padding, no bias) -> BatchNorm (offset only, no scale; ``epsilon``) -> ReLU, as DeepMind's
    ``Unit3D``.

    Adds layers ``<scope>_conv``, ``<scope>_bn`` and ``<scope>_relu``.
    """
    name = keras_name(scope)
    x = _layer("Conv", rank)(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name + "_conv"
    )(x)
    x = keras.layers.BatchNormalization(
        epsilon=epsilon, momentum=BN_MOMENTUM, scale=False, name=name + "_bn"
    )(x)
    return keras.layers.ReLU(name=name + "_relu")(x)


def max_pool(x, scope, pool_size, strides, rank=3):
    """Max pooling with ``same`` padding, named after its scope. Where TensorFlow runs its Eigen kernels, 3-D pools
    are ``SeparablePooling3D`` (exactly ``MaxPooling3D``; there the whole model infers 1.3-1.5x faster and trains
    1.8x faster); with its oneDNN kernels they are no faster (``benchmarks/inference.py``: the
    ``keras-separable`` and ``keras-no-onednn-3d-pools`` rows)."""
    if rank == 3 and backend.tensorflow_runs_eigen_kernels():
        return SeparablePooling3D(_triple(pool_size), _triple(strides), "same", "max", name=keras_name(scope))(x)
    return _layer("MaxPooling", rank)(pool_size, strides=strides, padding="same", name=keras_name(scope))(x)


def _triple(size):
    return (size,) * 3 if isinstance(size, int) else tuple(size)


@keras.saving.register_keras_serializable(package="i3d_keras")
class SeparablePooling3D(keras.layers.Layer):
    """A 3D max or average pool computed as a pool over time and then a 2-D pool over height and width.

    Exactly ``MaxPooling3D`` (a ``same`` max pool pads with -inf, and max is separable) and, for ``valid``
    padding, ``AveragePooling3D`` up to float rounding (every window has the same count). It needs only 2-D
    pooling, which every runtime has: LiteRT has no 3-D pooling builtin. ``[B, T, H, W, C]`` is pooled over
    time as ``[B, T, H*W, C]`` and over space as ``[B*T', H, W, C]``.
    """

    def __init__(self, pool_size, strides, padding="same", mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "average"):
            raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding, self.mode = padding, mode

    @classmethod
    def replacing(cls, layer):
        """The separable twin of a Keras ``MaxPooling3D`` / ``AveragePooling3D`` layer (same name and sizes)."""
        mode = "max" if isinstance(layer, keras.layers.MaxPooling3D) else "average"
        return cls(layer.pool_size, layer.strides, layer.padding, mode, name=layer.name, dtype=layer.dtype_policy)

    def _pool(self, x, pool_size, strides):
        pool = keras.ops.max_pool if self.mode == "max" else keras.ops.average_pool
        return pool(x, pool_size, strides, padding=self.padding)

    def call(self, x):
        ops = keras.ops
        kt, kh, kw = self.pool_size
        st, sh, sw = self.strides
        shape = ops.shape(x)
        batch, height, width, channels = shape[0], shape[2], shape[3], x.shape[-1]
        if (kt, st) != (1, 1):
            x = ops.reshape(x, (batch, shape[1], -1, channels))
            x = self._pool(x, (kt, 1), (st, 1))
        x = ops.reshape(x, (-1, height, width, channels))
        x = self._pool(x, (kh, kw), (sh, sw))
        pooled = ops.shape(x)
        return ops.reshape(x, (batch, -1, pooled[1], pooled[2], channels))

    def compute_output_shape(self, input_shape):
        return keras.layers.MaxPooling3D(self.pool_size, self.strides, self.padding).compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "mode": self.mode}


def with_separable_pools(model):
    """``model`` with every ``MaxPooling3D`` / ``AveragePooling3D`` (I3D's classifier pool; models saved before
    its max pools became separable) replaced by its ``SeparablePooling3D``, the other layers, and so the weights,
    shared: for runtimes without 3-D pooling (LiteRT)."""
    def swap(layer):
        if isinstance(layer, (keras.layers.MaxPooling3D, keras.layers.AveragePooling3D)):
            return SeparablePooling3D.replacing(layer)
        return layer

    return keras.models.clone_model(model, clone_function=swap)


def inception_block(x, block, channels, rank=3, epsilon=BN_EPSILON):
    """The four-branch inception block ``block`` (e.g. ``Mixed_4b``); ``channels`` are the six branch widths.

    Branch_0: 1x1 | Branch_1: 1x1 -> 3x3 | Branch_2: 1x1 -> 3x3 | Branch_3: 3x3 max pool -> 1x1, concatenated.
    """
    c0, c1a, c1b, c2a, c2b, c3 = channels
    names = block_unit_names(block, rank)
    branch_0 = unit(x, names["0a"], c0, 1, rank=rank, epsilon=epsilon)
    branch_1 = unit(x, names["1a"], c1a, 1, rank=rank, epsilon=epsilon)
    branch_1 = unit(branch_1, names["1b"], c1b, 3, rank=rank, epsilon=epsilon)
    branch_2 = unit(x, names["2a"], c2a, 1, rank=rank, epsilon=epsilon)
    branch_2 = unit(branch_2, names["2b"], c2b, 3, rank=rank, epsilon=epsilon)
    branch_3 = max_pool(x, names["3pool"], 3, 1, rank=rank)
    branch_3 = unit(branch_3, names["3b"], c3, 1, rank=rank, epsilon=epsilon)
    return keras.layers.Concatenate(name=block)([branch_0, branch_1, branch_2, branch_3])








@keras.saving.register_keras_serializable(package="i3d_keras")
class MinimumExtent(keras.layers.Layer):
    """Passes its input ``[batch, (time,) height, width, channels]`` through, and fails when an axis is shorter
    than ``minimum``: a VALID pool of that size would give an empty tensor, and the mean over it NaN logits.

    ``message`` names what the user must change. Known sizes are checked when the layer is called (a
    ``ValueError``); sizes only known when a TensorFlow graph runs are checked there (``InvalidArgumentError``).
    """

    def __init__(self, minimum, message, **kwargs):
        super().__init__(**kwargs)
        self.minimum, self.message = tuple(minimum), message

    def call(self, x):
        sizes = tuple(x.shape[1:-1])
        if all(size is not None for size in sizes):
            if any(size < least for size, least in zip(sizes, self.minimum)):
                extent = lambda values: "x".join(map(str, values))  # noqa: E731
                raise ValueError(f"{self.message}: the classifier pools {extent(self.minimum)} positions and "
                                 f"got {extent(sizes)}")
            return x
        import tensorflow as tf  # only TensorFlow graphs have sizes unknown until run time

        dynamic = tf.shape(x)[1:-1]
        check = tf.debugging.Assert(tf.reduce_all(dynamic >= tf.constant(self.minimum)), [self.message, dynamic])
        with tf.control_dependencies([check]):
            return tf.identity(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "minimum": self.minimum, "message": self.message}


def classifier_head(x, scope, classes, pool_size, dropout_rate, classifier_activation, rank=3, too_small=""):
    """DeepMind's / TF-slim's classifier: VALID average pool -> dropout -> 1x1 conv with bias (the logits)
    -> mean over the remaining positions (time, and space when the input was larger than 224).

    An input too small for the pool fails with ``too_small`` (see ``MinimumExtent``) instead of giving NaN.
    """
    minimum = (pool_size,) * rank if isinstance(pool_size, int) else pool_size
    x = MinimumExtent(minimum, too_small or "the input is too small for the classifier", name="Logits_input_check")(x)
    x = _layer("AveragePooling", rank)(pool_size, strides=1, padding="valid", name="Logits_avg_pool")(x)
    x = keras.layers.Dropout(dropout_rate, name="Logits_dropout")(x)
    x = _layer("Conv", rank)(classes, 1, use_bias=True, name=keras_name(scope) + "_conv")(x)
    x = _layer("GlobalAveragePooling", rank)(name="Logits", dtype="float32")(x)  # float32 under mixed precision
    if classifier_activation is not None:
        x = keras.layers.Activation(classifier_activation, name="Predictions", dtype="float32")(x)
    return x


def global_pool(x, pooling, rank=3):
    """``pooling`` None (unchanged), ``"avg"`` or ``"max"`` over every axis but batch and channels."""
    if pooling is None:
        return x
    kind = {"avg": "GlobalAveragePooling", "max": "GlobalMaxPooling"}[pooling]
    return _layer(kind, rank)(name=f"{pooling}_pool", dtype="float32")(x)  # float32 under mixed precision
