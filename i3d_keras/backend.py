"""The Keras backend this process runs on, and the one check for what only TensorFlow can do.

The model, its weights, ``inference`` (and so ``i3d predict`` / ``i3d features``) and ``model.fit`` run on every
Keras 3 backend (``KERAS_BACKEND=tensorflow|jax|torch``). TF-Hub / SavedModel and the ONNX, OpenVINO and LiteRT
exports and ``tf.distribute`` training (``i3d train``, ``i3d demo``) are TensorFlow-only: they say so.
"""

import keras


def name():
    """``"tensorflow"``, ``"jax"`` or ``"torch"``."""
    return keras.backend.backend()


def require_tensorflow(what):
    """Raises ``ValueError`` (a setting to change, hence one line on the command line) naming ``what`` unless
    Keras runs on TensorFlow."""
    if name() != "tensorflow":
        raise ValueError(f"{what} needs Keras' TensorFlow backend; this process runs Keras on {name()} "
                           f"(KERAS_BACKEND={name()}): run it with KERAS_BACKEND=tensorflow")
