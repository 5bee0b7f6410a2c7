"""Keras' JAX and PyTorch backends: the model, its weights, ``inference``, ``i3d predict`` and ``model.fit`` give
what TensorFlow gives; what is TensorFlow-only says so. Each backend runs in a subprocess of its own."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, write_video
from i3d_keras import inference
from i3d_keras.data.synthetic import render_clip

BACKENDS = ["jax", "torch"]  # both installed by the test extra


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    clip = np.random.default_rng(11).uniform(-1, 1, (1, 12, 224, 224, 3)).astype(np.float32)
    np.save(folder / "clip.npy", clip)
    write_video(folder / "clip.mp4", render_clip(2, frames=20, size=256, seed=9))
    return folder


def _run(backend, *command):
    env = dict(os.environ, KERAS_BACKEND=backend)
    return subprocess.run([sys.executable, *map(str, command)], capture_output=True, text=True, timeout=900, env=env)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_gives_tensorflows_logits_and_fits(backend, inputs, kinetics_i3d, tmp_path):
    result = _run(backend, REPO / "tests" / "backend_script.py", inputs / "clip.npy", inputs / "clip.mp4", tmp_path / "out.npz")
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    assert str(out["backend"]) == backend
    np.testing.assert_allclose(out["logits"], kinetics_i3d(np.load(inputs / "clip.npy"), training=False), atol=1e-4)
    np.testing.assert_allclose(out["video_logits"], inference.predict_video(kinetics_i3d, str(inputs / "clip.mp4")), atol=1e-4)
    losses = out["losses"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    module_error, onnx_error, training_error = out["errors"]
    assert "TF-Hub module (SavedModel) export needs Keras' TensorFlow backend" in module_error
    assert "onnx export needs Keras' TensorFlow backend" in onnx_error and f"KERAS_BACKEND={backend}" in onnx_error
    assert "Training with tf.distribute (i3d train, i3d demo) needs Keras' TensorFlow backend" in training_error


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_cli_on_backend(backend, inputs, kinetics_i3d):
    from i3d_keras import decode_predictions

    result = _run(backend, "-m", "i3d_keras", "predict", "--json", inputs / "clip.mp4")
    assert result.returncode == 0, result.stderr[-3000:]
    logits = inference.predict_video(kinetics_i3d, str(inputs / "clip.mp4"))
    expected = decode_predictions(logits[None], top=5, from_logits=True)[0]
    top = json.loads(result.stdout)["top"]
    assert [e["index"] for e in top] == [index for index, _, _ in expected]
    np.testing.assert_allclose([e["probability"] for e in top], [p for _, _, p in expected], atol=1e-4)
