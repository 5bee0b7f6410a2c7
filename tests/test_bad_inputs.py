"""Nothing lost, nothing let in: every entry point on a corpus of broken and odd inputs made by the tests.

Each item either works (odd but valid videos: looped, resized, converted) or gives one line ``error: FILE:
cause`` while the batch goes on; batch commands end with a count and exit 1; no traceback, no hang.
"""

import json
import os
import struct

import numpy as np
import pytest

from conftest import error_lines, i3d, write_vfr_video, write_video
from i3d_keras.data import synthetic
from i3d_keras.preprocessing import label_names

BROKEN = {  # item: the cause its error line names
    "zero_byte.mp4": "empty file",
    "random_bytes.mp4": "not a video",
    "truncated_10.mp4": "not a video",
    "truncated_50.mp4": "not a video",
    "truncated_90.mp4": "not a video",
    "no_frames.avi": "no decodable frames",
    "a_folder.mp4": "is a folder",
    "missing.mp4": "no such file",
}
ONE_FRAME = {"one_frame.avi", "still_image.mp4"}  # a video of one frame: looped for RGB, no optical flow
WORKS = {
    "control.avi", "truncated_60.avi", "one_frame.avi", "two_frames.avi", "huge_3840x2160.avi", "tiny_1x1.avi",
    "grayscale.avi", "fps_zero.avi", "fps_absurd.avi", "variable_rate.mkv", "animated.gif", "transparent.gif",
    "still_image.mp4", "spaces and ünïcödé.avi",
}
STEMS = {os.path.splitext(name)[0]: name for name in WORKS | set(BROKEN)}  # output stem / video id -> item


def _patch_avi_rate(data, rate):
    """An MJPG AVI whose stream header states ``rate`` frames per second (``dwRate`` over ``dwScale`` = 1)."""
    data = bytearray(data)
    header = data.find(b"strh") + 8
    data[header + 24:header + 28] = struct.pack("<I", rate)
    return bytes(data)


def make_corpus(folder):
    """Writes the corpus into ``folder``; returns the paths in a fixed order (``missing.mp4`` is not written)."""
    from PIL import Image

    clip = synthetic.render_clip(3, frames=8, size=96, seed=1)
    write_video(folder / "control.avi", clip)
    write_video(folder / "good.mp4", clip)
    (folder / "zero_byte.mp4").write_bytes(b"")
    (folder / "random_bytes.mp4").write_bytes(np.random.default_rng(0).bytes(30_000))
    mp4 = (folder / "good.mp4").read_bytes()
    for percent in (10, 50, 90):
        (folder / f"truncated_{percent}.mp4").write_bytes(mp4[: len(mp4) * percent // 100])
    (folder / "good.mp4").unlink()
    avi = (folder / "control.avi").read_bytes()
    (folder / "truncated_60.avi").write_bytes(avi[: len(avi) * 60 // 100])
    write_video(folder / "no_frames.avi", clip[:0])
    write_video(folder / "one_frame.avi", clip[:1])
    write_video(folder / "two_frames.avi", clip[:2])
    write_video(folder / "huge_3840x2160.avi", np.tile(clip[:2], (1, 23, 40, 1))[:, :2160, :3840])
    write_video(folder / "tiny_1x1.avi", clip[:, 40:41, 40:41])
    write_video(folder / "grayscale.avi", np.repeat(clip.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1))
    (folder / "fps_zero.avi").write_bytes(_patch_avi_rate(avi, 0))
    (folder / "fps_absurd.avi").write_bytes(_patch_avi_rate(avi, 10**9))
    write_vfr_video(folder / "variable_rate.mkv", clip, [0, 20, 100, 120, 300, 320, 340, 600])
    frames = [Image.fromarray(frame) for frame in clip]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    rgba = [Image.fromarray(np.dstack([frame, np.full(frame.shape[:2], 128, np.uint8)]), "RGBA") for frame in clip]
    rgba[0].save(folder / "transparent.gif", save_all=True, append_images=rgba[1:], duration=40, loop=0,
                 transparency=0, disposal=2)
    Image.fromarray(clip[0]).save(folder / "still_image.png")
    os.rename(folder / "still_image.png", folder / "still_image.mp4")
    write_video(folder / "spaces and ünïcödé.avi", clip)
    (folder / "a_folder.mp4").mkdir()
    names = sorted(WORKS | set(BROKEN))
    assert {path.name for path in folder.iterdir()} == set(names) - {"missing.mp4"}
    return [str(folder / name) for name in names]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


COUNTS = {}  # entry point: (worked, skipped with a message, items); printed at the end of the run (conftest)


def named_errors(stderr):
    """``{file name: cause}`` of the ``error: FILE: cause`` lines."""
    errors = {}
    for line in error_lines(stderr):
        path, _, cause = line.removeprefix("error: ").partition(": ")
        errors[os.path.basename(path)] = cause
    return errors


def run_batch(*args):
    result = i3d(*args, timeout=900)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def assert_outcomes(entry, worked, errors, broken, items):
    """Exactly the expected items worked, every other one was named with its cause."""
    assert set(worked) == set(items) - set(broken), entry
    assert set(errors) == set(broken), entry
    for name, cause in broken.items():
        assert cause in errors[name], (entry, name, errors[name])
    COUNTS[entry] = (len(worked), len(errors), len(items))


def test_predict(corpus):
    result = run_batch("predict", "--json", *corpus)
    worked = [os.path.basename(json.loads(line)["file"]) for line in result.stdout.splitlines()]
    assert_outcomes("predict", worked, named_errors(result.stderr), BROKEN, WORKS | set(BROKEN))
    assert result.returncode == 1 and f"{len(BROKEN)} of {len(corpus)} videos failed" in result.stderr
    assert "warning: " in result.stderr and "truncated_60.avi: decoded only 4 of 8 frames" in result.stderr


def test_features(corpus, tmp_path):
    result = run_batch("features", "--out", tmp_path, *corpus)
    worked = [name.removesuffix(".npy") for name in os.listdir(tmp_path) if name.endswith(".npy")]
    assert_outcomes("features", [STEMS[stem] for stem in worked], named_errors(result.stderr), BROKEN, STEMS.values())
    assert result.returncode == 1 and all(np.load(tmp_path / f"{stem}.npy").shape == (1024,) for stem in worked)


def test_flow(corpus, tmp_path):
    result = run_batch("flow", "--method", "dis", "--out", tmp_path, *corpus)  # dis: fast; reading is the same
    worked = [name for name in os.listdir(tmp_path) if os.path.isfile(tmp_path / name / "flow.json")]
    broken = {**BROKEN, **{name: "only one frame" for name in ONE_FRAME}}
    assert_outcomes("flow", [STEMS[stem] for stem in worked], named_errors(result.stderr), broken, STEMS.values())
    assert result.returncode == 1 and "warning: " in result.stderr  # workers' warnings read as the parent's
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []  # no half-written folder


@pytest.fixture(scope="module")
def corpus_list(corpus, tmp_path_factory):
    """The corpus as a data set list (every item labelled "golf putting") with the Kinetics-400 label file."""
    folder = tmp_path_factory.mktemp("corpus_list")
    (folder / "list.csv").write_text("".join(f'"{path}",golf putting\n' for path in corpus), encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(label_names()) + "\n", encoding="utf-8")
    return folder / "list.csv", folder / "labels.txt"


LISTED_MISSING = {"missing.mp4", "a_folder.mp4"}  # a data set counts and reports them without reading them
BROKEN_READ = {name: cause for name, cause in BROKEN.items() if name not in LISTED_MISSING}  # a data set reads these


def test_build_tfrecords(corpus_list, tmp_path):
    from i3d_keras.data import tfrecord

    listing, labels = corpus_list
    result = run_batch("build-tfrecords", "--list", listing, "--labels", labels, "--out", tmp_path / "records")
    errors = named_errors(result.stderr)
    written = tfrecord.count_videos(str(tmp_path / "records"))
    assert written == len(WORKS)
    assert_outcomes("build-tfrecords", list(WORKS), errors, BROKEN_READ, WORKS | set(BROKEN_READ))
    assert "2 listed videos are missing" in result.stderr and result.returncode == 1


def test_input_pipeline_epoch(corpus_list, caplog):
    from i3d_keras.data import datasets, pipeline

    listing, labels = corpus_list
    data = datasets.from_list(str(listing), labels=str(labels))
    assert {os.path.basename(path) for path in data.missing} == LISTED_MISSING
    skipped = pipeline.SkippedVideos()
    clips = pipeline.build_dataset(data, training=True, batch_size=1, num_frames=8, crop_size=64, short_side=72,
                                   skipped=skipped, with_ids=True)
    worked = [ids.numpy()[0].decode() for _, _, ids in clips]  # one epoch
    named = {os.path.basename(path): str(cause) for path, cause in skipped.files.items()}
    assert_outcomes("pipeline", [STEMS[video_id] for video_id in worked], named, BROKEN_READ, WORKS | set(BROKEN_READ))
    assert skipped.count == len(BROKEN_READ)
    assert len([record for record in caplog.records if "skipping" in record.getMessage()]) == len(BROKEN_READ)


def test_evaluate(corpus_list, tmp_path):
    listing, labels = corpus_list
    result = run_batch("evaluate", "--model", "kinetics400", "--list", listing, "--labels", labels, "--out", tmp_path,
                       "--mode", "video")
    warned = {}
    for line in result.stderr.splitlines():
        if line.startswith("warning: skipping "):
            path, _, cause = line.removeprefix("warning: skipping ").partition(": ")
            warned[os.path.basename(path)] = cause
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["videos"] == len(WORKS)  # the report counts the videos it scored; the others were named
    assert_outcomes("evaluate", WORKS, warned, BROKEN_READ, WORKS | set(BROKEN_READ))
    assert result.returncode == 1 and f"{len(BROKEN_READ)} videos skipped" in result.stderr


def test_the_same_video_gives_bit_identical_logits_in_every_run(corpus):
    """Two processes, same video and weights: the printed probabilities (all 400, full precision) are equal."""
    video = next(path for path in corpus if path.endswith("control.avi"))
    first, second = (run_batch("predict", "--json", "--top", "400", video) for _ in range(2))
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout and len(json.loads(first.stdout)["top"]) == 400


def test_evaluation_does_not_depend_on_the_batch_size(corpus_list, kinetics_i3d):
    from i3d_keras import evaluation
    from i3d_keras.data import datasets

    listing, labels = corpus_list
    data = datasets.from_list(str(listing), labels=str(labels))
    one, five = (evaluation.predict(kinetics_i3d, data, mode="clip", num_frames=16, batch_size=size) for size in (1, 5))
    assert one.ids == five.ids and len(one) == len(WORKS)
    np.testing.assert_allclose(one.logits, five.logits, atol=1e-5, rtol=0)


def test_a_keras_file_that_carries_code_is_refused(tmp_path, corpus_list):
    """``.keras`` files load in Keras' safe mode: a Lambda layer (Python code in the file) is refused, as one line
    from ``i3d evaluate``."""
    import keras

    from i3d_keras.training.run import load_trained

    inputs = keras.Input((8, 32, 32, 3))
    outputs = keras.layers.Dense(400)(keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2, 3)))(inputs))
    path = tmp_path / "code.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        load_trained(str(path))
    listing, labels = corpus_list
    result = run_batch("evaluate", "--model", path, "--list", listing, "--labels", labels, "--out", tmp_path / "report")
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1 and "safe_mode" in result.stderr
    assert str(path) in error_lines(result.stderr)[0]
    assert not (tmp_path / "report").exists() or not os.listdir(tmp_path / "report")


@pytest.mark.parametrize("command, flag, name", [("evaluate", "--model", "broken.keras"),
                                                 ("predict", "--weights", "broken.weights.h5")])
def test_a_broken_model_or_weights_file_is_one_line_naming_it(tmp_path, corpus_list, command, flag, name):
    path = tmp_path / name
    path.write_bytes(b"not a model")
    listing, labels = corpus_list
    video = next(line.split(",")[0].strip('"') for line in open(listing, encoding="utf-8"))
    arguments = ("--list", listing, "--labels", labels, "--out", tmp_path / "report") if command == "evaluate" else (
        "--json", video)
    result = run_batch(command, flag, path, *arguments)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {path}: ")
    assert "Traceback" not in result.stderr and not result.stdout.strip()
    assert not (tmp_path / "report").exists() or not os.listdir(tmp_path / "report")


def write_records(path, payloads):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(payload)


def test_a_damaged_tfrecord_is_one_line_naming_it(tmp_path):
    """A shard that is not a TFRecord, is cut short, or holds another format's records: refused before anything
    is read into a model, in one line naming the shard (the framing is walked; nothing is unpickled)."""
    import tensorflow as tf

    from i3d_keras.data import tfrecord

    frames = [tfrecord.encode_jpeg(np.full((16, 16, 3), value, np.uint8)) for value in (0, 128)]
    clip = tfrecord.clip_example(frames, 3, "golf putting", "clip", 25.0)
    good = tmp_path / "good.tfrecord"
    write_records(good, [clip, clip, clip])
    tfrecord.check_shards([str(good)])  # a good shard passes
    data = good.read_bytes()
    other = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[frames[0]]))})).SerializeToString()
    damaged = {"random.tfrecord": (np.random.default_rng(0).bytes(5000), "not a TFRecord file"),
               "cut_short.tfrecord": (data[:len(data) - 40], "TFRecord file cut short: record 3 starts at byte"),
               "another_format.tfrecord": (None, "its first record holds no 'image/encoded' frames")}
    for name, (content, cause) in damaged.items():
        path = tmp_path / name
        write_records(path, [other]) if content is None else path.write_bytes(content)
        with pytest.raises(ValueError, match=f"^{path}: {cause}"):
            tfrecord.check_shards([str(good), str(path)])
    with pytest.raises(ValueError, match=f"^{good}: its first record holds no 'flow/encoded' frames: not a "
                                         r"TFRecord of `i3d build-tfrecords --flow`"):
        tfrecord.check_shards([str(good)], tfrecord.FLOW_KEY)  # flow training on RGB-only records

    records = tmp_path / "records"  # the command: one line, exit 2, before the model is loaded, nothing written
    records.mkdir()
    (records / "train-00000-of-00002.tfrecord").write_bytes(data)
    (records / "train-00001-of-00002.tfrecord").write_bytes(data[:len(data) - 40])
    result = run_batch("evaluate", "--model", "kinetics400", "--tfrecords", records, "--out", tmp_path / "report")
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"error: {records / 'train-00001-of-00002.tfrecord'}: TFRecord file cut short")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("content, cause", [
    ("{not json", "not a flow folder's flow.json (not JSON: "),
    ('{"fields": 3, "format": "gif", "fps": 25}', "not a flow folder's flow.json written by `i3d flow` (image "
                                                   "format not one of png, jpg)"),
    ("[1, 2]", "not a flow folder's flow.json written by `i3d flow` (not a JSON object)"),
])
def test_a_damaged_flow_folder_is_one_line_naming_its_file(tmp_path, content, cause):
    import re

    from i3d_keras import inference
    from i3d_keras.data import flow

    video = tmp_path / "clip.avi"
    folder = flow.folder_for(str(video), str(tmp_path / "flow"))
    os.makedirs(folder)
    info = os.path.join(folder, flow.INFO_FILE)
    with open(info, "w", encoding="utf-8") as out:
        out.write(content)
    with pytest.raises(ValueError, match="^" + re.escape(f"{info}: {cause}")):
        next(inference.flow_windows(str(video), str(tmp_path / "flow")))


def test_a_flow_image_of_another_size_is_named(tmp_path):
    import cv2

    from i3d_keras.data import flow

    folder = tmp_path / "clip"
    flow.write_flow_folder(str(folder), [np.zeros((8, 10, 2), np.uint8)])
    cv2.imwrite(str(folder / "y_00000.png"), np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=f"^{folder / 'y_00000.png'}: a flow image of 9x8 pixels beside an x image "
                                         "of 10x8"):
        flow.read_flow_folder(str(folder))
