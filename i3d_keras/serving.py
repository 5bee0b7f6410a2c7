"""Export I3D as TF2 SavedModels that work as TF-Hub modules, and their validation.

An exported module answers the call patterns people already use:

- ``hub.load(path).signatures["default"](frames)`` -> ``{"default": logits}``, as TF-Hub's
  ``deepmind/i3d-kinetics-400/1``: frames ``[batch, T >= 9, 224, 224, C]`` float32 in [-1, 1] (no hidden
  rescaling), positional or by keyword (``default=``);
- ``signatures["features"]`` -> ``{"default": [batch, 1024]}`` (Mixed_5c averaged over time and space);
- ``signatures["video"]`` (RGB) -> logits from raw ``uint8`` frames of any size: short side to 256 (bilinear),
  centre crop 224 and scaling happen inside the graph;
- the Reusable SavedModel API (``__call__(frames, training)``, ``variables``, ``trainable_variables``,
  ``regularization_losses``) so that ``hub.KerasLayer(path, trainable=True)`` fine-tunes it;
- ``serve`` / ``train`` functions for Keras 3's ``TFSMLayer(path, call_endpoint="serve",
  call_training_endpoint="train")`` (batch norm and dropout in training mode through ``train``).

``export`` writes to a temporary folder beside the target, validates every signature against the Keras model
(max abs difference <= 1e-5 on a fixed random input; the figures go into ``validation.json``), and only then
renames it into place. Nothing here imports ``tensorflow_hub``: a TF2 SavedModel loads with
``tf.saved_model.load``, which is what ``hub.load`` calls.
"""

import json
import os
import tarfile
import tempfile

import numpy as np
import tensorflow as tf

from i3d_keras import files
from i3d_keras.functional import LeanFunctional
from i3d_keras.data.decoding import CROP_SIZE, SHORT_SIDE
from i3d_keras.model import FEATURE_CHANNELS, MODALITY_CHANNELS, endpoint_layer_name
from i3d_keras.preprocessing import label_names

VALIDATION_TOLERANCE = 1e-5
VALIDATION_FRAMES = 16
VALIDATION_FILE = "validation.json"  # in the module: what was checked at export, and the differences found


def preprocess_video(frames):
    """Raw frames ``[batch, T, H, W, 3]`` (uint8 or [0, 255] float) -> ``[batch, T, 224, 224, 3]`` in [-1, 1].

    Short side resized to 256 (bilinear), centre crop 224, ``x / 127.5 - 1``; pure TensorFlow ops.
    """
    frames = tf.cast(frames, tf.float32)
    shape = tf.shape(frames)
    batch, time, height, width = shape[0], shape[1], shape[2], shape[3]
    scale = SHORT_SIDE / tf.cast(tf.minimum(height, width), tf.float32)
    new_height = tf.cast(tf.round(tf.cast(height, tf.float32) * scale), tf.int32)
    new_width = tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32)
    images = tf.reshape(frames, tf.stack([batch * time, height, width, 3]))
    images = tf.image.resize(images, tf.stack([new_height, new_width]), method="bilinear")
    top, left = (new_height - CROP_SIZE) // 2, (new_width - CROP_SIZE) // 2
    images = images[:, top:top + CROP_SIZE, left:left + CROP_SIZE]
    images = tf.reshape(images, tf.stack([batch, time, CROP_SIZE, CROP_SIZE, 3]))
    return images / 127.5 - 1.0


def _frames_spec(channels, name="default"):
    return tf.TensorSpec([None, None, CROP_SIZE, CROP_SIZE, channels], tf.float32, name=name)


def _input_specs(model, name=None):
    """``{input name: TensorSpec}`` of a one-stream (``default``) or two-stream (``rgb``, ``flow``) model."""
    if isinstance(model.input, dict):
        return {key: _frames_spec(tensor.shape[-1], name or key) for key, tensor in model.input.items()}
    return {"default": _frames_spec(model.input_shape[-1], name or "default")}


def _structure(specs):
    """What the Keras model takes: one tensor, or the dict of both streams."""
    return specs["default"] if list(specs) == ["default"] else specs


class I3DModule(tf.__internal__.tracking.AutoTrackable):
    """The object saved as a module: an I3D (RGB, flow, or both streams summed) and the functions serving it."""

    def __init__(self, model, labels_path):
        super().__init__()
        object.__setattr__(self, "model", model)  # not tracked: each variable is saved once, through ``variables``
        self.variables = [v.value for v in model.variables]
        self.trainable_variables = [v.value for v in model.trainable_variables]
        self.regularization_losses = []
        self.labels = tf.saved_model.Asset(labels_path)
        specs = _input_specs(model)
        self.serve = tf.function(lambda frames: model(frames, training=False), input_signature=[_structure(specs)])
        self.train = tf.function(lambda frames: model(frames, training=True), input_signature=[_structure(specs)])
        self._signatures = {"default": self._keyword_function(lambda x: model(x, training=False), specs)}
        if list(specs) == ["default"]:
            import keras

            mixed_5c = model.get_layer(endpoint_layer_name("Mixed_5c")).output
            feature_model = keras.Model(model.input, keras.layers.GlobalAveragePooling3D()(mixed_5c))
            self._signatures["features"] = self._keyword_function(lambda x: feature_model(x, training=False), specs)
            if specs["default"].shape[-1] == 3:
                raw = tf.TensorSpec([None, None, None, None, 3], tf.uint8, name="default")
                self._signatures["video"] = tf.function(
                    lambda default: {"default": model(preprocess_video(default), training=False)}, input_signature=[raw]
                )

    @staticmethod
    def _keyword_function(fn, specs):
        """A signature function taking the inputs by their names (``default``, or ``rgb`` and ``flow``)."""
        if list(specs) == ["default"]:
            return tf.function(lambda default: {"default": fn(default)}, input_signature=[specs["default"]])
        return tf.function(lambda rgb, flow: {"default": fn({"rgb": rgb, "flow": flow})}, input_signature=[specs["rgb"], specs["flow"]])

    @tf.function
    def __call__(self, frames, training=False):
        return self.model(frames, training=training)

    def signatures(self):
        return dict(self._signatures)

    def trace(self):
        """Traces ``__call__`` for inference and training so both are saved."""
        spec = _structure(_input_specs(self.model, name="frames"))
        for training in (False, True):
            self.__call__.get_concrete_function(spec, training=training)


def two_stream_model(rgb_model, flow_model):
    """One Keras model of both streams: inputs ``{"rgb", "flow"}``, output the sum of their logits (the paper's fusion)."""
    import keras

    if rgb_model.output_shape != flow_model.output_shape:
        raise ValueError(f"stream outputs differ: {rgb_model.output_shape} vs {flow_model.output_shape}")
    inputs = {"rgb": keras.Input(rgb_model.input_shape[1:], name="rgb"), "flow": keras.Input(flow_model.input_shape[1:], name="flow")}
    logits = keras.layers.Add(name="fused_logits")([rgb_model(inputs["rgb"]), flow_model(inputs["flow"])])
    return LeanFunctional(inputs, logits, name="i3d_two_stream")


_CARD_INPUTS = {
    "rgb": "float32 `[batch, frames, 224, 224, 3]`, frames >= 9, RGB values in **[-1, 1]** (`x / 127.5 - 1` of "
    "0..255 frames), at 25 fps, short side resized to 256, centre crop 224. Feeding [0, 1] gives wrong answers.\n"
    '- `signatures["video"]`: uint8 `[batch, frames, height, width, 3]` of any size; the resizing, cropping and '
    "scaling above happen inside the graph.",
    "flow": "float32 `[batch, frames, 224, 224, 2]`, frames >= 9, TV-L1 flow (x, y) clipped to +-20 px and divided "
    "by 20, i.e. in **[-1, 1]**, computed on 25 fps frames after the 256 short-side resize, centre crop 224.",
    "two-stream": "two float32 inputs by keyword: `rgb` `[batch, frames, 224, 224, 3]` and `flow` "
    "`[batch, frames, 224, 224, 2]`, both in **[-1, 1]** (see the RGB and flow modules); `__call__`, `serve` and "
    '`train` take the dict `{"rgb": ..., "flow": ...}`. The logits are the sum of both streams\' logits.',
}


def _model_card(model, weights_name, modality, classes):
    features = "" if modality == "two-stream" else (
        '- `features`: `{"default": [batch, 1024]}`, Mixed_5c averaged over time and space.\n'
    )
    return f"""# I3D {modality} ({weights_name})

Exported by i3d-keras: the Inflated 3D ConvNet (Carreira & Zisserman, CVPR 2017), {modality}, {classes} classes.

## Inputs
- `signatures["default"]`, `__call__(frames, training)`, `serve`, `train`: {_CARD_INPUTS[modality]}

## Outputs
- `default` (and `video`): `{{"default": logits [batch, {classes}]}}`; softmax them for probabilities. Class names
  are in `assets/labels.txt` (line i = class i).
{features}
## Use
```python
module = hub.load(path); logits = module.signatures["default"](frames)["default"]
layer = hub.KerasLayer(path, trainable=True)            # tf-keras; fine-tunable
layer = keras.layers.TFSMLayer(path, call_endpoint="serve", call_training_endpoint="train")  # Keras 3
```

## Weights
`{weights_name}`; {model.count_params():,} parameters. DeepMind's Kinetics weights are released under the
Apache 2.0 licence; see the i3d-keras weights catalogue for their sources, hashes and verified figures.
"""


def build_module(model, labels, workdir):
    """The module object for ``model`` with class names ``labels`` (written into ``workdir`` as an asset)."""
    labels_path = os.path.join(workdir, "labels.txt")
    with open(labels_path, "w", encoding="utf-8") as out:
        out.write("\n".join(labels) + "\n")
    module = I3DModule(model, labels_path)
    module.trace()
    return module


def validate(path, model, labels):
    """Reloads ``path`` with ``tf.saved_model.load`` (what ``hub.load`` calls) and compares every signature with
    ``model``; raises on any difference. Returns what was checked: ``{check: max abs difference}``."""
    loaded = tf.saved_model.load(path)
    rng = np.random.default_rng(0)
    inputs = {
        key: rng.uniform(-1, 1, (1, VALIDATION_FRAMES, CROP_SIZE, CROP_SIZE, spec.shape[-1])).astype(np.float32)
        for key, spec in _input_specs(model).items()
    }
    structured = _structure(inputs)
    expected = np.asarray(model(structured, training=False))
    checks = {
        "signatures['default']": loaded.signatures["default"](**{k: tf.constant(v) for k, v in inputs.items()})["default"],
        "__call__": loaded(tf.nest.map_structure(tf.constant, structured), training=False),
        "serve": loaded.serve(tf.nest.map_structure(tf.constant, structured)),
    }
    report = {}
    for name, value in checks.items():
        difference = report[name] = float(np.abs(np.asarray(value) - expected).max())
        if not difference <= VALIDATION_TOLERANCE:
            raise ValueError(f"{path}: {name} differs from the Keras model by {difference:g} (> {VALIDATION_TOLERANCE})")
    if "features" in loaded.signatures:
        features = np.asarray(loaded.signatures["features"](tf.constant(structured))["default"])
        if features.shape != (1, FEATURE_CHANNELS):
            raise ValueError(f"{path}: features signature gives shape {features.shape}")
    exported_labels = open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8").read().split("\n")[:-1]
    if exported_labels != list(labels):
        raise ValueError(f"{path}: assets/labels.txt does not hold the {len(labels)} class names")
    return report


def modality_of(model):
    """``"rgb"``, ``"flow"`` or ``"two-stream"`` (``two_stream_model``)."""
    if isinstance(model.input, dict):
        return "two-stream"
    return "flow" if model.input_shape[-1] == MODALITY_CHANNELS["flow"] else "rgb"


def class_labels(model, labels=None):
    """``labels``, checked against ``model``'s classes; by default the Kinetics-400 names for 400 classes, else
    ``class_<i>``."""
    classes = model.output_shape[-1]
    if labels is None:
        labels = label_names("kinetics400") if classes == 400 else [f"class_{i}" for i in range(classes)]
    if len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for a model with {classes} classes")
    return list(labels)


def export(model, path, weights_name="custom", labels=None, overwrite=False, archive=False):
    """Writes ``model`` (an I3D with its classifier, or ``two_stream_model``) as a module at ``path``, atomically
    and validated.

    ``labels`` defaults to the Kinetics-400 names for 400 classes, else ``class_<i>``. An existing ``path`` is
    replaced only with ``overwrite``; a failed export or validation leaves ``path`` as it was. ``archive``
    also writes ``<path>.tar.gz``. Returns ``path``.
    """
    from i3d_keras import backend

    backend.require_tensorflow("A TF-Hub module (SavedModel) export")
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    classes = model.output_shape[-1]
    modality = modality_of(model)
    labels = class_labels(model, labels)
    files.remove_leftovers(path)  # of a killed earlier export
    with files.atomic_folder(path) as staging:
        with tempfile.TemporaryDirectory() as workdir:
            module = build_module(model, labels, workdir)
            with files.writing(path, also=(tf.errors.OpError,)):
                tf.saved_model.save(module, staging, signatures=module.signatures())
        with files.writing(path), open(os.path.join(staging, "README.md"), "w", encoding="utf-8") as out:
            out.write(_model_card(model, weights_name, modality, classes))
        report = {"max_abs_difference": validate(staging, model, labels), "tolerance": VALIDATION_TOLERANCE,
                  "signatures": sorted(module.signatures()), "parameters": model.count_params()}
        with files.writing(path), open(os.path.join(staging, VALIDATION_FILE), "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    if archive:
        with files.atomic_path(path + ".tar.gz", suffix=".tar.gz") as tmp, tarfile.open(tmp, "w:gz") as tar:
            for name in sorted(os.listdir(path)):
                tar.add(os.path.join(path, name), arcname=name)
    return path


class HubModel:
    """Calls an exported module like a Keras model (``model(frames, training=False)`` -> logits).

    Loads it with ``tf.saved_model.load``, as ``hub.load`` does, so ``tensorflow_hub`` is not needed."""

    def __init__(self, path):
        self.path = path
        self._default = tf.saved_model.load(path).signatures["default"]

    def __call__(self, frames, training=False):
        return self._default(tf.constant(frames, tf.float32))["default"]
