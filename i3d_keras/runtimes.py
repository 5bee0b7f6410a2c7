"""I3D outside TensorFlow: exports for ONNX Runtime, OpenVINO, LiteRT and PyTorch, each validated in its own
runtime, and ``ExportedModel``, which calls any of them like a Keras model.

An export is a folder, written atomically like the TF-Hub module (``serving.py``):

- ``i3d.onnx`` / ``i3d.xml`` + ``i3d.bin`` / ``i3d.tflite``: inputs ``video`` ``[batch, frames, 224, 224, C]``
  float32 in [-1, 1] (two streams: ``rgb`` and ``flow``), batch and frame count free (frames >= 9); outputs
  ``logits`` ``[batch, classes]`` and, for one stream, ``features`` ``[batch, 1024]`` (Mixed_5c averaged);
- ``labels.txt``, ``README.md`` (the module card) and ``validation.json``: the export reloaded in its runtime and
  compared with the Keras model on a fixed random clip (float32: max |difference| <= 1e-4, else the export fails).

3-D pools are exported as ``layers.SeparablePooling3D`` (exact), so the LiteRT file holds builtin operators only.
The PyTorch formats are drop-ins for files on dead links (``torch_i3d``): ``torchscript`` writes
``i3d_torchscript.pt``, StyleGAN-V's FVD detector interface; ``pytorch-i3d`` writes ``pytorch_i3d.pt``, the
``InceptionI3d`` state dict of piergiaj/pytorch-i3d and TATS. ``tf1_hub`` is ``hub_v1.export``.
The runtimes are optional extras: ``pip install "i3d-keras[onnx]"``, ``[openvino]``, ``[litert]``, ``[torch]``.
"""

import contextlib
import importlib.util
import json
import os
import warnings

import numpy as np

from i3d_keras import files
from i3d_keras.data.decoding import CROP_SIZE

FORMATS = ("saved_model", "tf1_hub", "onnx", "openvino", "litert", "torchscript", "pytorch-i3d")
RUNTIMES = {"tensorflow": "saved_model", "onnxruntime": "onnx", "openvino": "openvino", "litert": "litert",
            "torch": "torchscript"}
MODEL_FILES = {"onnx": "i3d.onnx", "openvino": "i3d.xml", "litert": "i3d.tflite", "torchscript": "i3d_torchscript.pt",
               "pytorch-i3d": "pytorch_i3d.pt"}
TORCH_FORMATS = ("torchscript", "pytorch-i3d")
# LiteRT only. Dynamic-range quantisation is not offered: the converter leaves CONV_3D weights in float32 (measured:
# the same file, the same logits), so it would be a float32 export by another name.
QUANTIZATIONS = ("none", "float16")
TOLERANCE = 1e-4  # float32 exports
VALIDATION_FRAMES = 16
VALIDATION_FILE = "validation.json"
_NEEDS = {  # format -> (module, extra) it needs to export and to run
    "onnx": (("onnxruntime", "onnx"), ("onnx", "onnx"), ("tf2onnx", "onnx")),
    "openvino": (("openvino", "openvino"),),
    "litert": (("ai_edge_litert", "litert"),),
    "torchscript": (("torch", "torch"),),
    "pytorch-i3d": (("torch", "torch"),),
}


class MissingExtra(ImportError):
    """A runtime that is an optional extra is not installed; the message says what to install."""


def require(fmt):
    """Raises ``MissingExtra`` unless the packages format ``fmt`` needs are installed."""
    for module, extra in _NEEDS.get(fmt, ()):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(f'the {fmt} format needs {module}, which is not installed: pip install "i3d-keras[{extra}]"')


def _input_names(model):
    return sorted(model.input) if isinstance(model.input, dict) else ["video"]


def portable_model(model):
    """What is exported: ``model``'s logits (and, for one stream, its pooled Mixed_5c ``features``) as named
    outputs, with separable 3-D pools. Shares ``model``'s weights."""
    import keras

    from i3d_keras import layers
    from i3d_keras.model import endpoint_layer_name

    outputs = {"logits": model.output}
    if not isinstance(model.input, dict):
        mixed_5c = model.get_layer(endpoint_layer_name("Mixed_5c")).output
        outputs["features"] = keras.layers.GlobalAveragePooling3D(name="features", dtype="float32")(mixed_5c)
    portable = layers.with_separable_pools(keras.Model(model.input, outputs, name=model.name + "_portable"))
    portable(_validation_inputs(model, frames=9))  # Keras exports only models that were called
    return portable


def _validation_inputs(model, frames=VALIDATION_FRAMES):
    """A fixed random clip in [-1, 1]: one array, or ``{"rgb", "flow"}`` for two streams."""
    rng = np.random.default_rng(0)
    channels = {key: t.shape[-1] for key, t in model.input.items()} if isinstance(model.input, dict) else None
    clip = lambda c: rng.uniform(-1, 1, (1, frames, CROP_SIZE, CROP_SIZE, c)).astype(np.float32)  # noqa: E731
    return {key: clip(channels[key]) for key in sorted(channels)} if channels else clip(model.input_shape[-1])


def _converter_options(quantize):
    import tensorflow as tf

    if quantize == "float16":
        return {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": {"supported_types": [tf.float16]}}
    return {}


_TORCH_USE = {
    "torchscript": "A drop-in for StyleGAN-V's FVD detector `i3d_torchscript.pt`: `detector = torch.jit.load(path)` "
    "(no i3d-keras needed), then `detector(videos, rescale=True, resize=True, return_features=True)` on float "
    "`videos` `[batch, 3, frames, height, width]`: `rescale` maps 0..255 to [-1, 1] (`x / 255 * 2 - 1`), `resize` "
    "resizes every frame to 224x224 (trilinear, `align_corners=False`, frames kept), `return_features=True` gives "
    "the {classes} logits averaged over time (before the softmax), `False` their softmax. `.to(device)` moves it.",
    "pytorch-i3d": "The `InceptionI3d` state dict of piergiaj/pytorch-i3d and TATS (keys `Conv3d_1a_7x7.conv3d.weight`, "
    "`Mixed_4b.b1b.bn.running_mean`, ..., `logits.conv3d.bias`): `model.load_state_dict(torch.load(path))` loads "
    "it strictly. Copy it to the name your code opens (`i3d_pretrained_400.pt` for TATS and cd-fvd, "
    "`rgb_imagenet.pt` for pytorch-i3d).",
}


_EPSILON_NOTE = {
    "torchscript": "Batch-norm epsilon {epsilon:g}, in the file (DeepMind's is 1e-3; VideoGPT's, TATS' and cd-fvd's "
    "detector uses 1e-5 with the same weights: `i3d export --batch_norm_epsilon 1e-5`).",
    "pytorch-i3d": "A state dict holds no batch-norm epsilon: the class that loads it decides (pytorch-i3d's "
    "`InceptionI3d` 1e-3 as DeepMind's; VideoGPT's, TATS' and cd-fvd's copies 1e-5). Checked with {epsilon:g}.",
}


def _model_card(fmt, modality, weights_name, classes, quantize, report):
    if fmt in TORCH_FORMATS:
        return f"""# I3D {modality} ({weights_name}), {fmt}

Exported by i3d-keras: the Inflated 3D ConvNet (Carreira & Zisserman, CVPR 2017), {classes} classes, float32.

- File: `{MODEL_FILES[fmt]}`. {_TORCH_USE[fmt].format(classes=classes)}
- {_EPSILON_NOTE[fmt].format(epsilon=report['batch_norm_epsilon'])}
- Checked at export against the Keras model on a random {VALIDATION_FRAMES}-frame clip: max |difference| of the
  logits {report['max_abs_difference']:.2g} (`validation.json`). Class names: `labels.txt` (line i = class i).
"""
    inputs = "`rgb` `[batch, frames, 224, 224, 3]` and `flow` `[batch, frames, 224, 224, 2]`" if modality == \
        "two-stream" else f"`video` `[batch, frames, 224, 224, {2 if modality == 'flow' else 3}]`"
    features = "" if modality == "two-stream" else " and `features` `[batch, 1024]` (Mixed_5c averaged)"
    precision = "float32" if quantize == "none" else f"{quantize} quantised (weights), float32 in and out"
    return f"""# I3D {modality} ({weights_name}), {fmt}

Exported by i3d-keras: the Inflated 3D ConvNet (Carreira & Zisserman, CVPR 2017), {classes} classes, {precision}.

- File: `{MODEL_FILES[fmt]}`. Inputs: {inputs}, float32 in [-1, 1] (the TF-Hub module's convention: RGB as
  `x / 127.5 - 1` of 0..255 frames at 25 fps, short side 256, centre crop 224; flow TV-L1 clipped to +-20 px / 20).
  Batch and frame count are dynamic; at least 9 frames.
- Outputs: `logits` `[batch, {classes}]`{features}. Class names: `labels.txt` (line i = class i).
- Checked at export in its runtime against the Keras model on a random {VALIDATION_FRAMES}-frame clip: max
  |difference| {report['max_abs_difference']:.2g} (`validation.json`).
- Run it with `i3d_keras.runtimes.ExportedModel(folder)` or `i3d predict --runtime {runtime_of(fmt)}`.
"""


def runtime_of(fmt):
    """The runtime that runs format ``fmt``: ``onnx`` -> ``onnxruntime``, ``pytorch-i3d`` -> ``torch``."""
    return "torch" if fmt in TORCH_FORMATS else next(runtime for runtime, f in RUNTIMES.items() if f == fmt)


def export(model, path, fmt, weights_name="custom", labels=None, quantize="none", overwrite=False):
    """Writes ``model`` (an I3D with its classifier, or ``serving.two_stream_model``) at ``path`` in format
    ``fmt`` (one of ``FORMATS``; ``saved_model`` is ``serving.export``), atomically and validated.

    ``quantize="float16"`` (LiteRT only) stores the weights in float16 (half the size); such an export is
    validated by its top class instead of the float32 tolerance. Returns ``path``.
    """
    from i3d_keras import backend, serving

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if quantize not in QUANTIZATIONS or (quantize != "none" and fmt != "litert"):
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, and not 'none' only for litert")
    if fmt == "saved_model":
        return serving.export(model, path, weights_name=weights_name, labels=labels, overwrite=overwrite)
    if fmt == "tf1_hub":
        from i3d_keras import hub_v1

        return hub_v1.export(model, path, weights_name=weights_name, overwrite=overwrite)
    require(fmt)
    backend.require_tensorflow(f"The {fmt} export")
    if model.dtype_policy.name != "float32":
        raise ValueError(f"the {fmt} export is float32; build the model with dtype float32, not {model.dtype_policy.name}")
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    labels = serving.class_labels(model, labels)
    files.remove_leftovers(path)
    with files.atomic_folder(path) as staging:
        options = _converter_options(quantize) if fmt == "litert" else {}
        if isinstance(model.input, dict) and fmt in TORCH_FORMATS:
            raise ValueError(f"the {fmt} format holds one stream; export the RGB or the flow model")
        with files.writing(path), _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim asks numpy for np.object
            if fmt in TORCH_FORMATS:
                from i3d_keras import torch_i3d

                torch_i3d.save(model, os.path.join(staging, MODEL_FILES[fmt]), fmt)
            else:
                portable_model(model).export(os.path.join(staging, MODEL_FILES[fmt]), format=fmt, verbose=False,
                                             **options)
        _write_text(path, staging, "labels.txt", "\n".join(labels) + "\n")
        report = validate(staging, model, exact=quantize == "none")
        report.update(format=fmt, quantize=quantize, weights=weights_name)
        card = _model_card(fmt, serving.modality_of(model), weights_name, len(labels), quantize, report)
        _write_text(path, staging, "README.md", card)
        _write_text(path, staging, VALIDATION_FILE, json.dumps(report, indent=1))
    return path


def _quiet():
    """Native start-up lines hidden where the command asked for quiet (``i3d_keras.quiet``)."""
    from i3d_keras import quiet

    return quiet.native_stderr_captured() if quiet.wanted() else contextlib.nullcontext()


def _write_text(path, staging, name, text):
    with files.writing(path), open(os.path.join(staging, name), "w", encoding="utf-8") as out:
        out.write(text)


def validate(folder, model, exact=True):
    """Runs the export in ``folder`` in its runtime on a fixed random clip and compares it with ``model``.

    ``exact``: every output within ``TOLERANCE``, else the top class must agree. Raises ``ValueError`` on a
    difference; returns the figures."""
    from i3d_keras.model import batch_norm_epsilon

    inputs = _validation_inputs(model)
    expected = np.asarray(model(inputs, training=False))
    epsilon = batch_norm_epsilon(model)
    exported = ExportedModel(folder, batch_norm_epsilon=epsilon)
    outputs = exported.outputs(inputs)
    got = outputs["logits"]
    difference = float(np.abs(got - expected).max())
    report = {"max_abs_difference": difference, "tolerance": TOLERANCE if exact else None,
              "frames": VALIDATION_FRAMES, "outputs": exported.output_names, "batch_norm_epsilon": epsilon}
    if exact and not difference <= TOLERANCE:
        raise ValueError(f"{folder}: the export differs from the Keras model by {difference:g} (> {TOLERANCE})")
    if not exact and got.argmax(-1).tolist() != expected.argmax(-1).tolist():
        raise ValueError(f"{folder}: the quantised export's top class differs from the Keras model's")
    if "features" in outputs and outputs["features"].shape != (1, 1024):
        raise ValueError(f"{folder}: features of shape {outputs['features'].shape}")
    return report


def _format_of(folder):
    present = [fmt for fmt, name in MODEL_FILES.items() if os.path.exists(os.path.join(folder, name))]
    if len(present) != 1:
        hint = " (a TF-Hub module: serving.HubModel, i3d predict --hub)" if os.path.exists(
            os.path.join(folder, "saved_model.pb")) else ""
        raise ValueError(f"{folder}: not an ONNX, OpenVINO, LiteRT or PyTorch export of i3d-keras{hint}")
    return present[0]


class ExportedModel:
    """An export called like a Keras model: ``model(frames, training=False)`` -> ``output`` (``"logits"``, or
    ``"features"`` ``[batch, 1024]``) as numpy. ``frames``: one array, or ``{"rgb", "flow"}`` for two streams.

    The runtime follows the file in ``folder``; ``threads`` defaults to all cores. A pytorch-i3d state dict holds no
    batch-norm epsilon (the class that loads it decides): ``batch_norm_epsilon`` is the one it is run with
    (default DeepMind's 1e-3); every other format carries its model's."""

    def __init__(self, folder, output="logits", threads=None, batch_norm_epsilon=None):
        self.folder, self.format, self.output = folder, _format_of(folder), output
        require(self.format)
        path = os.path.join(folder, MODEL_FILES[self.format])
        session = _torch_session(self.format, batch_norm_epsilon) if self.format in TORCH_FORMATS else \
            _SESSIONS[self.format]
        with _quiet():  # LiteRT announces its XNNPACK delegate on stderr
            self._run, self.input_names, self.output_names = session(path, threads or os.cpu_count())
        if output not in self.output_names:
            raise ValueError(f"{folder}: no {output!r} output (it has {', '.join(self.output_names)})")

    def outputs(self, frames):
        """Every output, by name."""
        if not isinstance(frames, dict):
            frames = {self.input_names[0]: frames}
        return self._run({name: np.asarray(frames[name], np.float32) for name in self.input_names})

    def __call__(self, frames, training=False):
        return self.outputs(frames)[self.output]


def cached_export(weights, fmt, modality=None, batch_norm_epsilon=None):
    """The folder of ``weights``' export in ``fmt`` in the weights cache, written and validated on first use.

    ``weights``: a registered name or a ``.weights.h5`` file (keyed by its sha256); ``batch_norm_epsilon``: the
    model's (``I3D``; None: DeepMind's 1e-3), named in the folder when not DeepMind's."""
    from i3d_keras import architecture
    from i3d_keras import weights as weights_lib
    from i3d_keras.model import I3D

    require(fmt)
    if os.path.isfile(weights):
        key = f"{os.path.basename(weights).split('.')[0]}-{files.sha256(weights)[:16]}"
    else:
        key = weights_lib.lookup(weights).name
    batch_norm_epsilon = batch_norm_epsilon or architecture.BN_EPSILON
    if batch_norm_epsilon != architecture.BN_EPSILON:
        key += f"-bn{batch_norm_epsilon:g}"
    path = os.path.join(weights_lib.cache_dir(), "exports", f"{key}-{fmt}")
    if not os.path.exists(os.path.join(path, VALIDATION_FILE)):
        model = I3D(weights=weights, modality=modality, input_shape=None, batch_norm_epsilon=batch_norm_epsilon)
        export(model, path, fmt, weights_name=weights, overwrite=True)
    return path


def _onnxruntime_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    run = lambda feeds: dict(zip(outputs, session.run(outputs, feeds)))  # noqa: E731
    return run, [i.name for i in session.get_inputs()], outputs


def _openvino_session(path, threads):
    import openvino

    # float32 as exported: OpenVINO would otherwise compute in bfloat16 on CPUs with AVX512-BF16 or AMX
    config = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
    compiled = openvino.Core().compile_model(path, "CPU", config)
    outputs = [next(iter(o.names)) for o in compiled.outputs]
    request = compiled.create_infer_request()

    def run(feeds):
        results = request.infer(feeds)
        return {name: np.array(results[output]) for name, output in zip(outputs, compiled.outputs)}

    return run, [next(iter(i.names)) for i in compiled.inputs], outputs


def _litert_session(path, threads):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()  # applies the XNNPACK delegate now, while its announcement is captured
    runner = interpreter.get_signature_runner("serving_default")
    signature = interpreter.get_signature_list()["serving_default"]
    run = lambda feeds: {name: np.array(value) for name, value in runner(**feeds).items()}  # noqa: E731
    return run, sorted(signature["inputs"]), sorted(signature["outputs"])


def _torch_session(fmt, batch_norm_epsilon=None):
    def session(path, threads):
        import torch

        from i3d_keras import architecture, torch_i3d

        torch.set_num_threads(threads)
        model = torch_i3d.load(path, fmt, batch_norm_epsilon or architecture.BN_EPSILON)

        def run(feeds):
            with torch.no_grad():
                videos = torch.from_numpy(np.ascontiguousarray(feeds["video"].transpose(0, 4, 1, 2, 3)))
                logits = model(videos, return_features=True) if fmt == "torchscript" else model(videos)
            return {"logits": logits.numpy()}

        return run, ["video"], ["logits"]

    return session


_SESSIONS = {"onnx": _onnxruntime_session, "openvino": _openvino_session, "litert": _litert_session}
