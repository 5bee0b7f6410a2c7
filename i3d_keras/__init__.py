"""i3d_keras: I3D (Inflated 3D ConvNet) for Keras 3, with DeepMind's Kinetics weights.

The public names are imported on first use, so ``import i3d_keras.data...`` in a worker process does not pay
for importing TensorFlow.
"""

import importlib
import os
import platform

# TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX512-VNNI, AVX512-BF16 or AMX, and
# runs Eigen kernels elsewhere; on AVX2 CPUs oneDNN runs I3D 2.1-2.6x faster (``benchmarks/inference.py --cpu
# avx2``). Measured on x86 only, so set on x86 only. It is read once, when TensorFlow starts:
# ``model.warn_if_slow_kernels`` tells when that was too early.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

_EXPORTS = {
    "I3D": "i3d_keras.model",
    "VALID_ENDPOINTS": "i3d_keras.architecture",
    "endpoint_model": "i3d_keras.model",
    "InceptionV1": "i3d_keras.inception_v1",
    "inflate": "i3d_keras.inflation",
    "decode_predictions": "i3d_keras.preprocessing",
    "preprocess_input": "i3d_keras.preprocessing",
    "load_video": "i3d_keras.data.decoding",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'i3d_keras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
