"""The ``i3d`` command as a user runs it: real processes, exit codes, one-line errors, JSON output."""

import json
import os

import numpy as np
import pytest

from conftest import SHARED_VIDEOS, code_blocks, error_lines, i3d, write_video

TRUE_LABELS = {"mmaction2_demo.mp4": (6, "arm wrestling"), "decord_flipping_a_pancake.mkv": (129, "flipping pancake")}


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory):
    """A 2-second 25 fps clip of a bright square moving over a dark background."""
    frames = np.full((50, 240, 320, 3), 30, np.uint8)
    for t in range(50):
        frames[t, 80:160, 20 + 4 * t : 100 + 4 * t] = 220
    return write_video(tmp_path_factory.mktemp("videos") / "moving.avi", frames)


def test_usage():
    result = i3d()
    assert result.returncode == 2 and "predict" in result.stdout
    result = i3d("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr


def test_predict_json_and_bad_files(moving_video, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01" * 300)
    result = i3d("predict", "--json", "--top", "3", moving_video, tmp_path / "missing.mp4", junk)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["file"] == str(moving_video) and lines[0]["windows"] == 1
    top = lines[0]["top"]
    assert len(top) == 3 and [set(entry) for entry in top] == [{"label", "index", "probability"}] * 3
    assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"] > 0
    errors = error_lines(result.stderr)
    assert errors == [f"error: {tmp_path / 'missing.mp4'}: no such file",
                      f"error: {junk}: not a video OpenCV can decode (unknown format or damaged header)"]
    assert "Traceback" not in result.stderr and "2 of 3 videos failed" in result.stderr


def test_predict_table(moving_video):
    result = i3d("predict", "--top", "2", moving_video)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{moving_video}  (1 window, rgb)" and len(lines) == 3
    assert lines[1].lstrip().startswith("1. ") and lines[1].rstrip().endswith("]") and "%" in lines[1]


def test_predict_two_streams_sums_rgb_and_flow_logits(tmp_path):
    """--flow_weights: the printed probabilities are softmax(RGB logits + flow logits), whether the flow comes from
    an `i3d flow` folder or is computed on the fly (both give the same windows)."""
    import keras

    from i3d_keras import I3D, inference
    from i3d_keras.data import flow
    from i3d_keras.preprocessing import softmax

    frames = np.full((12, 240, 320, 3), 30, np.uint8)
    for t in range(12):
        frames[t, 80:160, 40 + 6 * t : 120 + 6 * t] = 220
    video = write_video(tmp_path / "short clip.avi", frames)
    keras.utils.set_random_seed(1)
    flow_model = I3D(weights=None, modality="flow", input_shape=(None, 224, 224, 2))
    flow_model.save_weights(tmp_path / "flow.weights.h5")
    root = tmp_path / "flow"
    assert flow.compute_flow_folder(video, flow.folder_for(video, root)) == 11

    stored = list(inference.flow_windows(video, root))
    computed = list(inference.flow_windows(video))
    assert len(stored) == len(computed) == 1 and stored[0].shape == (1, 11, 224, 224, 2)
    np.testing.assert_array_equal(stored[0], computed[0])
    rgb_logits = inference.window_outputs(I3D(weights="kinetics400"), video).mean(axis=0)
    flow_logits = inference.model_outputs(flow_model, stored).mean(axis=0)
    expected = softmax(rgb_logits + flow_logits)

    result = i3d("predict", "--json", "--flow_weights", tmp_path / "flow.weights.h5", "--flow_root", root, video)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["streams"] == "rgb+flow"
    assert [entry["index"] for entry in answer["top"]] == list(np.argsort(-expected)[:5])
    np.testing.assert_allclose([entry["probability"] for entry in answer["top"]], np.sort(expected)[::-1][:5], atol=1e-5)
    rgb_only = json.loads(i3d("predict", "--json", video).stdout)
    assert rgb_only["streams"] == "rgb" and rgb_only["top"] != answer["top"]


def test_features_are_written_and_resumed(moving_video, tmp_path):
    out = tmp_path / "features"
    result = i3d("features", "--out", out, moving_video)
    assert result.returncode == 0, result.stderr
    features = np.load(out / "moving.npy")
    assert features.shape == (1024,) and features.dtype == np.float32 and np.abs(features).sum() > 0
    stamp = os.stat(out / "moving.npy").st_mtime_ns
    result = i3d("features", "--out", out, "--per_window", "--window", "16", "--stride", "16", "--endpoint", "Mixed_4f", moving_video)
    assert result.returncode == 0 and "1 already done" in result.stderr
    assert os.stat(out / "moving.npy").st_mtime_ns == stamp
    result = i3d("features", "--out", out, "--per_window", "--window", "16", "--stride", "16", "--endpoint", "Mixed_4f", "--overwrite", moving_video)
    assert result.returncode == 0, result.stderr
    assert np.load(out / "moving.npy").shape == (4, 832)  # 50 frames: windows at 0, 16, 32 and the tail 34..49


def test_bad_weights_is_one_line(moving_video):
    result = i3d("predict", "--weights", "kinetics999", moving_video)
    assert result.returncode == 2 and error_lines(result.stderr) == [
        "error: Unknown weights 'kinetics999': use None, a file path or one of " + ", ".join(__import__("i3d_keras.weights", fromlist=["x"]).available())
    ]


@pytest.mark.skipif(not SHARED_VIDEOS.exists(), reason="../shared/data/videos is not present")
def test_predict_real_clips_gives_their_true_label_first():
    videos = sorted(str(SHARED_VIDEOS / name) for name in TRUE_LABELS)
    result = i3d("predict", "--json", *videos)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        index, label = TRUE_LABELS[os.path.basename(entry["file"])]
        assert (entry["top"][0]["index"], entry["top"][0]["label"]) == (index, label)
        assert entry["top"][0]["probability"] > 0.5


def test_convert_a_deepmind_checkpoint_then_load_it(tmp_path):
    from conftest import random_tree, write_tf_checkpoint
    from test_convert import deepmind_checkpoint

    from i3d_keras import I3D, convert

    tree = random_tree(I3D(weights=None, modality="flow"), seed=21)
    source = write_tf_checkpoint(tmp_path / "model.ckpt", deepmind_checkpoint(tree, "Flow/inception_i3d/"))
    out = tmp_path / "flow.weights.h5"
    result = i3d("convert", "--source", source, "--format", "deepmind", "--modality", "flow", "--out", out)
    assert result.returncode == 0, result.stderr
    loaded = convert.read_tree(I3D(weights=str(out), modality="flow"))
    assert sorted(loaded) == sorted(tree) and all(np.array_equal(loaded[k], tree[k]) for k in tree)
    result = i3d("convert", "--source", source, "--format", "deepmind", "--modality", "rgb", "--out", tmp_path / "rgb.weights.h5")
    assert result.returncode == 2 and "Conv3d_1a_7x7/kernel (7, 7, 7, 2, 64) (expected (7, 7, 7, 3, 64))" in result.stderr
    assert not (tmp_path / "rgb.weights.h5").exists()


def test_every_command_help_lists_its_own_flags(built_site):
    from concurrent.futures import ThreadPoolExecutor

    from i3d_keras.cli.main import COMMANDS

    own_flags = {"predict": "--top", "features": "--endpoint", "flow": "--method", "build-tfrecords": "--shards",
                 "train": "--epochs", "evaluate": "--flow_model", "convert": "--source", "export": "--modality",
                 "demo": "--clips_per_class", "fvd": "--protocol", "hub-cache": "--cache_dir", "fvd-stats": "--dataset"}
    assert sorted(own_flags) == sorted(COMMANDS)  # a new command gets its entry above
    with ThreadPoolExecutor(os.cpu_count()) as pool:  # a process per command, as many at once as there are cores
        results = dict(zip(own_flags, pool.map(lambda command: i3d(command, "--help"), own_flags)))
    reference = [block.rstrip() for block in code_blocks(built_site, "commands")]
    for command, result in results.items():
        assert result.returncode == 0 and result.stderr == "", (command, result.stderr)
        assert f"usage: i3d {command}" in result.stdout and own_flags[command] in result.stdout, command
        assert "(default: " in result.stdout and "--[no]debug" in result.stdout, command
        assert "helpfull" not in result.stdout and "--alsologtostderr" not in result.stdout, command  # absl's own
        assert result.stdout.rstrip() in reference, f"the command reference differs from i3d {command} --help"


def test_help_command_and_defaults_and_required_flags():
    result = i3d("help", "features")
    assert result.returncode == 0 and result.stdout == i3d("features", "-h").stdout
    assert "--endpoint=STRING" in result.stdout and "(default: Mixed_5c)" in result.stdout
    assert "Folder for the feature files. (required)" in result.stdout
    assert "--dtype=float32|mixed_bfloat16|mixed_float16" in result.stdout


TENSORFLOW_LINES = ("oneDNN", "I0000", "E0000", "W0000", "absl::InitializeLog", "cuInit", "cuda")


def test_start_up_is_quiet_and_debug_shows_tensorflow(moving_video, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # what importing TensorFlow leaves in a parent's environment
    quiet = i3d("predict", "--json", moving_video)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr  # no oneDNN / CPU-instruction / cuInit lines
    loud = i3d("predict", "--json", "--debug", moving_video)
    assert loud.returncode == 0 and "oneDNN" in loud.stderr  # what the quiet run hid was really there
    folder = tmp_path / "data" / "moving"
    folder.mkdir(parents=True)
    for index in range(2):
        os.link(moving_video, folder / f"clip{index}.avi")
    for args in (("build-tfrecords", "--folder", tmp_path / "data", "--out", tmp_path / "records", "--workers", 2),
                 ("flow", folder / "clip0.avi", "--out", tmp_path / "flow", "--method", "dis")):
        done = i3d(*args)  # work in worker processes, which import TensorFlow quietly too
        assert done.returncode == 0 and not any(line in done.stderr for line in TENSORFLOW_LINES), done.stderr


def test_a_batch_stops_when_its_output_disk_is_full_and_a_rerun_completes(moving_video, tmp_path):
    """A 64 KiB tmpfs filled up to 8 KiB: the first feature file (4.2 KB, two pages) fits, the second cannot."""
    import shutil
    import subprocess

    out = tmp_path / "small"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(out)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root): test_files fakes the OS error instead")
    try:
        (out / "filler").write_bytes(b"\0" * (64 - 8) * 1024)
        videos = []
        for name in ("a", "b", "c"):
            videos.append(tmp_path / f"{name}.avi")
            shutil.copy(moving_video, videos[-1])
        result = i3d("features", "--out", out, "--window", "16", *videos)
        assert result.returncode == 3, result.stderr
        written = [name for name in os.listdir(out) if name.endswith(".npy")]  # in the pipeline's (shuffled) order
        failed = [line for line in error_lines(result.stderr)]
        assert len(written) == 1 and len(failed) == 1 and failed[0].endswith(": No space left on device")
        assert failed[0].startswith(f"error: cannot write {out}{os.sep}") and written[0] not in failed[0]
        assert "stopped after 1 of 3 videos" in result.stderr and "Traceback" not in result.stderr
        assert sorted(os.listdir(out)) == sorted(written + ["filler"])  # the third was not tried, nothing half-written
        (out / "filler").unlink()
        again = i3d("features", "--out", out, "--window", "16", *videos)
        assert again.returncode == 0 and "1 already done" in again.stderr
        assert sorted(os.listdir(out)) == ["a.npy", "b.npy", "c.npy", "failed.tsv"]
        np.testing.assert_array_equal(np.load(out / "b.npy"), np.load(out / "a.npy"))  # the same video
    finally:
        subprocess.run(["umount", str(out)], check=True)


def test_ci_runs_exactly_the_readme_test_command():
    from conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("Install and run the tests", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == block.strip() and "install_smoke.py --python 3.13" in ci
