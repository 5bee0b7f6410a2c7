"""How our models run when called eagerly: ``model(x)`` as lean and as fast as ``model.predict_on_batch(x)``.

Keras 3 runs an eager call of a functional model layer by layer and keeps every intermediate tensor in one dict
until the call returns (``Function._run_through_graph``, keras-team/keras#19500), so I3D on a 250-frame clip
holds every activation at once: 6.3 GB where ``predict_on_batch`` needs 1.85 GB. Inside a ``tf.function``
TensorFlow's executor frees each buffer after its last use. So ``LeanFunctional`` is a functional model whose
eager inference calls (TensorFlow backend, ``training`` not True) go through one cached ``tf.function`` of the same
graph: the same ops and values, the executor's memory, and the compiled path's speed. Everything else is plain
Keras: calls inside a ``tf.function`` (``fit``, ``predict``, exports), training calls, and the other backends.
Gradients still flow: a ``GradientTape`` records the compiled call as one differentiable op.

Why not a functional class that releases tensors after their last consumer: it would re-implement Keras'
private graph walk, and stay op-by-op (slower) where the compiled function is both lean and fast.
"""

import keras


@keras.saving.register_keras_serializable(package="i3d_keras")
class LeanFunctional(keras.Model):
    """``keras.Model(inputs, outputs)`` whose eager inference runs compiled (see the module). Build it as a
    functional model: ``LeanFunctional(inputs, outputs, name=...)``."""

    def call(self, inputs, training=None, mask=None):
        if training or not _eager_tensorflow():
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        try:
            return self._compiled("_lean_inference", relaxed=True)(inputs)
        except tf.errors.InvalidArgumentError:
            # a check that a shape-relaxed graph can only make at run time (layers.MinimumExtent) failed: traced
            # for this exact shape, the check is made while tracing and raises what an eager Keras call raises
            return self._compiled("_lean_exact", relaxed=False)(inputs)

    def _compiled(self, attribute, relaxed):
        function = self.__dict__.get(attribute)
        if function is None:
            import tensorflow as tf

            # relaxed (reduce_retracing): after a second shape, one trace with free batch, time and size serves all
            function = tf.function(lambda inputs: super(LeanFunctional, self).call(inputs, training=False),
                                   reduce_retracing=relaxed)
            object.__setattr__(self, attribute, function)  # not tracked by Keras: neither a layer nor a weight
        return function


def _eager_tensorflow():
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.executing_eagerly()
