"""Exported modules: hub.load signatures, hub.KerasLayer and TFSMLayer fine-tuning, atomic validated export."""

import json
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import write_video
from i3d_keras import I3D, serving
from i3d_keras.data import decoding
from i3d_keras.preprocessing import preprocess_input

hub = pytest.importorskip("tensorflow_hub")


@pytest.fixture(scope="module")
def clip():
    return np.random.default_rng(5).uniform(-1, 1, (1, 12, 224, 224, 3)).astype(np.float32)


def test_default_signature_matches_keras_positionally_and_by_keyword(rgb_module, kinetics_i3d, clip):
    default = hub.load(rgb_module).signatures["default"]
    expected = np.asarray(kinetics_i3d(clip))
    positional = default(tf.constant(clip))["default"].numpy()  # the official colab's call pattern
    keyword = default(default=tf.constant(clip))["default"].numpy()
    assert positional.shape == (1, 400)
    assert np.abs(positional - expected).max() <= 1e-5 and np.abs(keyword - expected).max() <= 1e-5


def test_features_signature_is_pooled_mixed_5c(rgb_module, clip):
    from i3d_keras import endpoint_model

    features = hub.load(rgb_module).signatures["features"](tf.constant(clip))["default"].numpy()
    mixed_5c = np.asarray(endpoint_model(I3D(weights="kinetics400", include_top=False))(clip)["Mixed_5c"])
    np.testing.assert_allclose(features, mixed_5c.mean(axis=(1, 2, 3)), atol=1e-5)


def test_video_signature_preprocesses_raw_frames(rgb_module):
    raw = np.zeros((1, 10, 240, 320, 3), np.uint8)
    for t in range(10):
        raw[0, t, 60:180, 40 + 12 * t : 120 + 12 * t] = (200, 120, 40)
    module = hub.load(rgb_module)
    logits = module.signatures["video"](tf.constant(raw))["default"].numpy()
    frames = np.stack([decoding.center_crop(decoding.resize_short_side(frame)) for frame in raw[0]])[None]
    reference = module.signatures["default"](tf.constant(preprocess_input(frames)))["default"].numpy()
    assert np.abs(logits - reference).max() < 0.05  # TF and OpenCV bilinear differ only by uint8 rounding
    assert list(np.argsort(-logits[0])[:5]) == list(np.argsort(-reference[0])[:5])


def test_module_holds_each_variable_once_with_plain_permissions_and_its_validation(rgb_module, kinetics_i3d):
    reader = tf.train.load_checkpoint(os.path.join(rgb_module, "variables", "variables"))
    saved = [name for name in reader.get_variable_to_shape_map() if name.endswith("VARIABLE_VALUE")]
    assert len(saved) == len(kinetics_i3d.variables) == 231  # each once (every one was saved twice: 102 MB)
    size = sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(rgb_module) for name in names)
    assert size < 1.2 * 4 * kinetics_i3d.count_params()  # float32 values and a little graph
    umask = os.umask(0)
    os.umask(umask)
    for folder, folders, names in os.walk(rgb_module):
        assert os.stat(folder).st_mode & 0o777 == 0o777 & ~umask, folder  # readable by a server of another user
        for name in names:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == 0o666 & ~umask, name
    report = json.load(open(os.path.join(rgb_module, serving.VALIDATION_FILE)))
    assert report["signatures"] == ["default", "features", "video"] and report["tolerance"] == 1e-5
    assert set(report["max_abs_difference"]) == {"signatures['default']", "__call__", "serve"}
    assert max(report["max_abs_difference"].values()) <= 1e-5


def test_the_library_never_imports_tensorflow_hub(rgb_module, tmp_path):
    """tensorflow_hub 0.16.1 imports pkg_resources, gone from setuptools 81: export, validation and --hub must not
    need it. A stand-in that fails on import proves it is never imported."""
    import subprocess
    import sys

    (tmp_path / "tensorflow_hub.py").write_text("raise ImportError('tensorflow_hub imported')\n")
    code = ("import numpy as np\nfrom i3d_keras import I3D, serving\n"
            f"serving.export(I3D(weights=None, classes=3, input_shape=None), {str(tmp_path / 'm')!r})\n"
            f"model = serving.HubModel({rgb_module!r})\n"
            "print(model(np.zeros((1, 9, 224, 224, 3), np.float32)).shape)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "(1, 400)"


def test_module_files(rgb_module):
    labels = open(os.path.join(rgb_module, "assets", "labels.txt"), encoding="utf-8").read().splitlines()
    assert len(labels) == 400 and labels[6] == "arm wrestling"
    card = open(os.path.join(rgb_module, "README.md"), encoding="utf-8").read()
    assert "[-1, 1]" in card and "kinetics400" in card
    with tarfile.open(rgb_module + ".tar.gz") as archive:
        names = archive.getnames()
    assert "saved_model.pb" in names and "assets/labels.txt" in names
    assert not [name for name in os.listdir(os.path.dirname(rgb_module)) if name.startswith(".")]  # no staging left



@pytest.fixture(scope="module")
def tiny_batch():
    """Two 9-frame 224x224 synthetic clips (natural enough for batch statistics) and two target classes."""
    from i3d_keras.data import synthetic

    clips = np.stack([synthetic.render_clip(0, frames=9, size=224, seed=1), synthetic.render_clip(2, frames=9, size=224, seed=2)])
    return preprocess_input(clips), np.array([3, 7])


def mean_training_loss(layer, batch, repeats=3):
    """The loss that fine-tuning minimises (training mode: batch statistics, dropout), averaged over dropout draws."""
    x, y = batch
    losses = [tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, layer(x, training=True), from_logits=True))
              for _ in range(repeats)]
    return float(np.mean(losses))


def assert_fine_tuning_halves_the_loss(model, layer, batch, keras_module):
    """Three SGD steps of ``model`` (built on ``layer``) with ``keras_module`` (tf-keras or Keras 3) halve the loss."""
    loss = keras_module.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras_module.optimizers.SGD(0.01), loss=loss)
    before = mean_training_loss(layer, batch)
    model.fit(*batch, epochs=3, batch_size=2, verbose=0)
    assert mean_training_loss(layer, batch) < 0.5 * before


def test_hub_keras_layer_fine_tunes(rgb_module, tiny_batch):
    import tf_keras

    layer = hub.KerasLayer(rgb_module, trainable=True)
    model = tf_keras.Sequential([tf_keras.Input((9, 224, 224, 3)), layer])
    assert len(layer.trainable_weights) > 100
    assert_fine_tuning_halves_the_loss(model, layer, tiny_batch, tf_keras)


def test_tfsm_layer_fine_tunes_in_training_mode(rgb_module, tiny_batch):
    import keras

    layer = keras.layers.TFSMLayer(rgb_module, call_endpoint="serve", call_training_endpoint="train")
    x, _ = tiny_batch
    inference = np.asarray(layer(x, training=False))
    training = np.asarray(layer(x, training=True))  # batch statistics and dropout instead of moving averages
    assert np.abs(training - inference).max() > 1e-2
    inputs = keras.Input((9, 224, 224, 3))
    model = keras.Model(inputs, layer(inputs))
    assert len(model.trainable_weights) > 100
    assert_fine_tuning_halves_the_loss(model, layer, tiny_batch, keras)


def test_flow_module_and_atomic_export(tmp_path, monkeypatch):
    flow = I3D(weights=None, modality="flow", classes=5, input_shape=None)
    path = serving.export(flow, str(tmp_path / "flow" / "1"), labels=list("abcde"))
    module = hub.load(path)
    assert module.signatures["default"].structured_input_signature[1]["default"].shape.as_list() == [None, None, 224, 224, 2]
    assert "video" not in module.signatures
    frames = np.random.default_rng(0).uniform(-1, 1, (1, 9, 224, 224, 2)).astype(np.float32)
    np.testing.assert_allclose(module.signatures["default"](tf.constant(frames))["default"].numpy(), np.asarray(flow(frames)), atol=1e-5)
    before = sorted(os.listdir(path))
    with pytest.raises(FileExistsError, match="overwrite"):
        serving.export(flow, path)
    assert sorted(os.listdir(path)) == before

    def broken_validation(*args):
        raise ValueError("validation failed on purpose")

    monkeypatch.setattr(serving, "validate", broken_validation)
    target = tmp_path / "broken" / "1"
    with pytest.raises(ValueError, match="on purpose"):
        serving.export(flow, str(target))
    assert os.listdir(tmp_path / "broken") == []  # neither the module nor a staging folder
    with pytest.raises(ValueError, match="on purpose"):
        serving.export(flow, path, overwrite=True)
    assert sorted(os.listdir(path)) == before and [n for n in os.listdir(tmp_path / "flow") if n.startswith(".")] == []


def test_predict_with_hub_module_gives_keras_top5(rgb_module, tmp_path):
    from test_cli import i3d

    frames = np.full((30, 240, 320, 3), 40, np.uint8)
    for t in range(30):
        frames[t, 60:180, 10 + 8 * t : 90 + 8 * t] = 230
    video = write_video(tmp_path / "clip.avi", frames)
    keras_run = i3d("predict", "--json", video)
    hub_run = i3d("predict", "--json", "--hub", rgb_module, video)
    assert keras_run.returncode == 0 and hub_run.returncode == 0, hub_run.stderr
    keras_top = [entry["index"] for entry in json.loads(keras_run.stdout)["top"]]
    hub_top = [entry["index"] for entry in json.loads(hub_run.stdout)["top"]]
    assert hub_top == keras_top


def test_two_stream_module_sums_the_logits(tmp_path):
    rgb = I3D(weights=None, classes=4, input_shape=None, name="rgb_stream")
    flow = I3D(weights=None, modality="flow", classes=4, input_shape=None, name="flow_stream")
    path = serving.export(serving.two_stream_model(rgb, flow), str(tmp_path / "two" / "1"), labels=list("abcd"))
    module = hub.load(path)
    rng = np.random.default_rng(3)
    x_rgb = rng.uniform(-1, 1, (1, 9, 224, 224, 3)).astype(np.float32)
    x_flow = rng.uniform(-1, 1, (1, 9, 224, 224, 2)).astype(np.float32)
    fused = module.signatures["default"](rgb=tf.constant(x_rgb), flow=tf.constant(x_flow))["default"].numpy()
    np.testing.assert_allclose(fused, np.asarray(rgb(x_rgb)) + np.asarray(flow(x_flow)), atol=1e-5)
    assert "two-stream" in open(os.path.join(path, "README.md")).read()
