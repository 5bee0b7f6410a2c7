"""The Keras backend this process runs on, and the one check for what only TensorFlow can do.

The model, its weights, ``inference`` (and so ``i3d predict`` / ``i3d features``) and ``model.fit`` run on every
Keras 3 backend (``KERAS_BACKEND=tensorflow|jax|torch``). TF-Hub / SavedModel and the ONNX, OpenVINO and LiteRT
exports and ``tf.distribute`` training (``i3d train``, ``i3d demo``) are TensorFlow-only: they say so.
"""

import functools
import os
import platform
import sys

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


@functools.lru_cache(maxsize=None)
def tensorflow_runs_eigen_kernels():
    """Whether Keras runs on TensorFlow with its oneDNN kernels off, i.e. on its Eigen kernels: CPUs other than
    x86 (the Linux wheels), or an x86 CPU without AVX512-VNNI/BF16 or AMX where TensorFlow started before
    ``import i3d_keras`` could turn oneDNN on (``TF_ENABLE_ONEDNN_OPTS``), or where the user turned it off."""
    if name() != "tensorflow":
        return False
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own check; private, hence the guard
    except ImportError:
        return False
    return not _pywrap_util_port.IsMklEnabled()


def onednn_expected():
    """Whether ``import i3d_keras`` asks TensorFlow for oneDNN here: x86 Linux, ``TF_ENABLE_ONEDNN_OPTS`` not 0."""
    return ((sys.platform, platform.machine()) == ("linux", "x86_64")
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false"))
