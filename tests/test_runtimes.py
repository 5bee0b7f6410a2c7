"""ONNX Runtime, OpenVINO and LiteRT: separable pools, exports that round-trip, the CLI's --format / --runtime."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import SHARED_VIDEOS, error_lines, i3d, write_video
from i3d_keras import I3D, layers, runtimes
from i3d_keras.data.synthetic import render_clip
from i3d_keras.model import ARCHITECTURE, endpoint_layer_name

EXPORT_FORMATS = ("onnx", "openvino", "litert")

# every 3-D pool of I3D (the stages' pools and the inception blocks' 3x3x3 stride-1 pool), and the classifier's
POOLS = sorted({(stage.kernel, stage.strides) for stage in ARCHITECTURE if stage.kind == "pool"} | {((3, 3, 3), (1, 1, 1))})


@pytest.mark.parametrize("pool_size, strides", POOLS)
@pytest.mark.parametrize("shape", [(2, 9, 15, 17, 5), (1, 8, 28, 28, 3), (1, 1, 7, 6, 2)])
def test_separable_max_pool_equals_max_pooling_3d_exactly(pool_size, strides, shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    expected = keras.layers.MaxPooling3D(pool_size, strides, padding="same")(x)
    got = layers.SeparablePooling3D(pool_size, strides, padding="same", mode="max")(x)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_separable_average_pool_equals_the_classifiers_pool():
    x = np.random.default_rng(0).standard_normal((2, 8, 9, 11, 6)).astype(np.float32)
    expected = keras.layers.AveragePooling3D((2, 7, 7), 1, padding="valid")(x)
    got = layers.SeparablePooling3D((2, 7, 7), (1, 1, 1), padding="valid", mode="average")(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-6)


def test_model_with_separable_pools_shares_the_weights_and_gives_the_same_logits():
    keras.utils.set_random_seed(3)
    model = I3D(weights=None, input_shape=(None, 224, 224, 3))
    separable = layers.with_separable_pools(model)
    assert [w is v for w, v in zip(model.weights, separable.weights)] == [True] * len(model.weights)
    kinds = {type(layer).__name__ for layer in separable.layers}
    assert "SeparablePooling3D" in kinds and not kinds & {"MaxPooling3D", "AveragePooling3D"}
    clip = np.random.default_rng(1).uniform(-1, 1, (1, 10, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(separable(clip, training=False), model(clip, training=False), atol=1e-6)


def _features_model(model):
    mixed_5c = model.get_layer(endpoint_layer_name("Mixed_5c")).output
    return keras.Model(model.input, keras.layers.GlobalAveragePooling3D()(mixed_5c))


def _assert_round_trip(folder, model, channels):
    """Another clip than the export's own check, with a batch of two and 12 frames (both dynamic)."""
    report = json.load(open(folder / runtimes.VALIDATION_FILE, encoding="utf-8"))
    assert report["max_abs_difference"] <= runtimes.TOLERANCE and report["outputs"] == ["features", "logits"]
    clip = np.random.default_rng(7).uniform(-1, 1, (2, 12, 224, 224, channels)).astype(np.float32)
    exported = runtimes.ExportedModel(str(folder))
    outputs = exported.outputs(clip)
    np.testing.assert_allclose(outputs["logits"], model(clip, training=False), atol=1e-4)
    np.testing.assert_allclose(outputs["features"], _features_model(model)(clip, training=False), atol=1e-4)
    return exported


@pytest.fixture(scope="module")
def kinetics_exports(kinetics_i3d):
    """The Kinetics-400 RGB exports, made as ``--runtime`` makes them (in the session's weights cache)."""
    import pathlib

    return {fmt: pathlib.Path(runtimes.cached_export("kinetics400", fmt)) for fmt in EXPORT_FORMATS}


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_rgb_export_round_trips_within_1e_4(kinetics_exports, kinetics_i3d, fmt):
    exported = _assert_round_trip(kinetics_exports[fmt], kinetics_i3d, channels=3)
    assert exported.format == fmt
    card = (kinetics_exports[fmt] / "README.md").read_text(encoding="utf-8")
    assert "dynamic" in card and runtimes.MODEL_FILES[fmt] in card
    assert len((kinetics_exports[fmt] / "labels.txt").read_text(encoding="utf-8").splitlines()) == 400


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_flow_export_round_trips_within_1e_4(tmp_path, fmt):
    keras.utils.set_random_seed(5)
    model = I3D(weights=None, modality="flow", input_shape=(None, 224, 224, 2))
    folder = runtimes.export(model, tmp_path / "flow", fmt)
    _assert_round_trip(tmp_path / "flow", model, channels=2)
    assert runtimes.ExportedModel(folder).input_names == ["video"]


def test_two_stream_export_sums_the_streams(tmp_path):
    from i3d_keras.serving import two_stream_model

    keras.utils.set_random_seed(6)
    rgb, flow = (I3D(weights=None, modality=m, input_shape=(None, 224, 224, c)) for m, c in (("rgb", 3), ("flow", 2)))
    model = two_stream_model(rgb, flow)
    exported = runtimes.ExportedModel(runtimes.export(model, tmp_path / "both", "openvino"))
    assert sorted(exported.input_names) == ["flow", "rgb"] and exported.output_names == ["logits"]
    rng = np.random.default_rng(2)
    clips = {"rgb": rng.uniform(-1, 1, (1, 10, 224, 224, 3)), "flow": rng.uniform(-1, 1, (1, 10, 224, 224, 2))}
    clips = {key: value.astype(np.float32) for key, value in clips.items()}
    np.testing.assert_allclose(exported(clips), rgb(clips["rgb"]) + flow(clips["flow"]), atol=1e-4)


def _operators(tflite_path):
    from ai_edge_litert.interpreter import Interpreter

    return {op["op_name"] for op in Interpreter(model_path=str(tflite_path))._get_ops_details()}


def test_litert_file_has_builtin_operators_only(kinetics_exports):
    path = kinetics_exports["litert"] / "i3d.tflite"
    operators = _operators(path)
    assert {"CONV_3D", "MAX_POOL_2D", "AVERAGE_POOL_2D"} <= operators
    assert not [op for op in operators if op.startswith("Flex") or op == "CUSTOM"], operators
    assert b"Flex" not in path.read_bytes()


@pytest.mark.skipif(not SHARED_VIDEOS.is_dir(), reason="the real clips of ../shared/data are not here")
def test_float16_litert_keeps_the_top_class_of_the_real_clips(tmp_path, kinetics_i3d):
    from i3d_keras import load_video

    folder = runtimes.export(kinetics_i3d, tmp_path / "fp16", "litert", quantize="float16")
    report = json.load(open(f"{folder}/{runtimes.VALIDATION_FILE}", encoding="utf-8"))
    assert report["quantize"] == "float16" and report["tolerance"] is None
    assert (tmp_path / "fp16" / "i3d.tflite").stat().st_size < 30e6  # float32 weights alone are 50 MB
    exported = runtimes.ExportedModel(folder)
    videos = sorted(SHARED_VIDEOS.glob("*.m*"))
    assert len(videos) >= 2
    for video in videos[:2]:
        frames = load_video(str(video), max_frames=64)[None]
        expected, got = np.asarray(kinetics_i3d(frames, training=False))[0], exported(frames)[0]
        assert got.argmax() == expected.argmax(), video.name
        assert np.abs(got - expected).max() < 0.1 * np.abs(expected).max()


def test_quantize_and_format_are_checked(kinetics_i3d, tmp_path):
    with pytest.raises(ValueError, match="quantize"):
        runtimes.export(kinetics_i3d, tmp_path / "x", "onnx", quantize="float16")
    with pytest.raises(ValueError, match="format must be one of"):
        runtimes.export(kinetics_i3d, tmp_path / "x", "tensorrt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not an ONNX, OpenVINO, LiteRT or PyTorch export"):
        runtimes.ExportedModel(str(tmp_path / "empty"))


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    hide_openvino = ("import importlib.util as u; find = u.find_spec; "
                     "u.find_spec = lambda name, *a: None if name == 'openvino' else find(name, *a); "
                     "from i3d_keras.cli.main import run; "
                     f"run(['i3d', 'export', '--format', 'openvino', '--out', {str(tmp_path / 'ov')!r}])")
    result = subprocess.run([sys.executable, "-c", hide_openvino], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert error_lines(result.stderr) == ['error: the openvino format needs openvino, which is not installed: '
                                          'pip install "i3d-keras[openvino]"']
    assert "Traceback" not in result.stderr and not (tmp_path / "ov").exists()


@pytest.fixture(scope="module")
def action_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("runtime_videos") / "clip.mp4"
    write_video(path, render_clip(3, frames=24, size=256, seed=4))
    return path


def test_predict_runtime_gives_tensorflows_answer(kinetics_exports, kinetics_i3d, action_video):
    from i3d_keras import decode_predictions, inference

    logits = inference.window_outputs(kinetics_i3d, str(action_video)).mean(axis=0)
    expected = decode_predictions(logits[None], top=5, from_logits=True)[0]
    for runtime in ("onnxruntime", "litert"):
        result = i3d("predict", "--runtime", runtime, "--json", "--top", "5", action_video)
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == "", result.stderr  # quiet: no runtime chatter
        top = json.loads(result.stdout)["top"]
        assert [e["index"] for e in top] == [index for index, _, _ in expected]
        np.testing.assert_allclose([e["probability"] for e in top], [p for _, _, p in expected], atol=1e-4)


def test_features_runtime_equals_tensorflows_features(kinetics_exports, kinetics_i3d, action_video, tmp_path):
    from i3d_keras import inference

    result = i3d("features", "--runtime", "openvino", "--out", tmp_path, action_video)
    assert result.returncode == 0, result.stderr
    expected = inference.video_features(_features_model(kinetics_i3d), str(action_video))
    np.testing.assert_allclose(np.load(tmp_path / "clip.npy"), expected, atol=1e-4)
    snippet = i3d("features", "--runtime", "openvino", "--preset", "bmt", "--out", tmp_path / "s", action_video)
    assert snippet.returncode == 2 and error_lines(snippet.stderr) == [
        "error: snippet mode runs in TensorFlow; --runtime works with the default (window) mode"]


def test_fvd_embeddings_from_an_export_equal_tensorflows(kinetics_exports, kinetics_i3d):
    from i3d_keras import fvd

    videos = np.random.default_rng(8).integers(0, 256, (3, 16, 64, 64, 3), dtype=np.uint8)
    exported = runtimes.ExportedModel(str(kinetics_exports["onnx"]))
    np.testing.assert_allclose(fvd.embeddings(videos, model=exported), fvd.embeddings(videos, model=kinetics_i3d), atol=1e-4)
