"""TFRecords and the tf.data pipeline: the stored keys and frames, raw-video and TFRecord clips agreeing, bad videos
skipped and counted, flow in both paths, tf.distribute batching, and ``i3d build-tfrecords`` killed mid-run."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import clip_frames, error_lines, i3d, i3d_killed_when, write_video
from i3d_keras.data import beam, datasets, decoding, flow, pipeline, tfrecord

SIDE, CROP, FRAMES = 64, 48, 8
OPTIONS = tfrecord.FrameOptions(short_side=SIDE)


@pytest.fixture(scope="module")
def video_tree(tmp_path_factory):
    """Two classes, three videos each (12, 20 and 5 frames: the last shorter than a window)."""
    root = tmp_path_factory.mktemp("tree")
    for label, name in enumerate(("left", "right")):
        (root / name).mkdir()
        for index, count in enumerate((12, 20, 5)):
            write_video(root / name / f"{name}{index}.avi", clip_frames(count, label, seed=10 * label + index))
    return root


@pytest.fixture(scope="module")
def shards(video_tree, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    options = tfrecord.FrameOptions(short_side=SIDE, with_flow=True)
    report = tfrecord.write_shards(datasets.from_folder(video_tree), folder, shards=2,
                                   pipeline_options=beam.pipeline_options(workers=1), options=options)
    assert report.done == 6 and not report.failures and tfrecord.count_videos(folder) == 6
    return folder


def test_records_use_the_model_garden_keys_and_hold_the_frames(video_tree, shards):
    assert (shards / "labels.txt").read_text() == "left\nright\n"
    records = [tf.train.SequenceExample.FromString(r.numpy()) for r in tf.data.TFRecordDataset(tfrecord.list_shards(shards))]
    assert len(records) == 6
    by_id = {r.context.feature["video/id"].bytes_list.value[0].decode(): r for r in records}
    record = by_id["right1"]
    context = record.context.feature
    assert context["clip/label/index"].int64_list.value == [1]
    assert context["clip/label/text"].bytes_list.value == [b"right"]
    assert context["video/fps"].float_list.value == [25.0]
    assert context["clip/data_path"].bytes_list.value == [str(video_tree / "right" / "right1.avi").encode()]
    images = record.feature_lists.feature_list["image/encoded"].feature
    fields = record.feature_lists.feature_list["flow/encoded"].feature
    assert len(images) == 20 and len(fields) == 19
    frame = tf.io.decode_jpeg(images[3].bytes_list.value[0]).numpy()
    decoded = list(decoding.iter_frames(str(video_tree / "right" / "right1.avi"), short_side=SIDE, crop=None))[3]
    assert frame.shape == (64, 80, 3) and np.abs(frame.astype(int) - decoded).mean() < 4  # JPEG storage loss
    stored_flow = tf.io.decode_png(fields[3].bytes_list.value[0]).numpy()
    assert stored_flow.shape == (64, 80, 3) and not stored_flow[..., 2].any()
    fields = list(flow.iter_flow(decoding.iter_frames(str(video_tree / "right" / "right1.avi"), short_side=SIDE, crop=None)))
    np.testing.assert_array_equal(stored_flow[..., :2], flow.quantize(fields[3]))  # PNG: exactly the computed flow


def batches_of(dataset):
    clips, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(clips), np.concatenate(labels)


def test_raw_videos_and_tfrecords_give_the_same_evaluation_clips(video_tree, shards):
    raw = pipeline.build_dataset(datasets.from_folder(video_tree), training=False, batch_size=4, num_frames=FRAMES,
                                 crop_size=CROP, short_side=SIDE)
    records = pipeline.build_dataset(shards, training=False, batch_size=4, num_frames=FRAMES, crop_size=CROP)
    raw_clips, raw_labels = batches_of(raw)
    record_clips, record_labels = batches_of(records)
    assert raw_clips.shape == record_clips.shape == (6, FRAMES, CROP, CROP, 3) and raw_clips.dtype == np.float32
    distance = np.abs(raw_clips[:, None] - record_clips[None]).mean(axis=(2, 3, 4, 5))  # [raw, record]
    match = distance.argmin(axis=1)
    assert sorted(match) == list(range(6)) and np.array_equal(record_labels[match], raw_labels)
    assert distance.min(axis=1).max() < 0.03  # JPEG storage only (0.03 = 4 levels of 255)
    as_uint8 = pipeline.build_dataset(shards, training=False, batch_size=4, num_frames=FRAMES, crop_size=CROP, dtype="uint8")
    uint8_clips, uint8_labels = batches_of(as_uint8)
    assert uint8_clips.dtype == np.uint8 and np.array_equal(uint8_labels, record_labels)
    np.testing.assert_allclose(uint8_clips / 127.5 - 1, record_clips, atol=1e-6)
    # the 5-frame video is looped: frame 5 repeats frame 0
    short = raw_clips[(raw_labels == 0) & (np.abs(raw_clips[:, 5] - raw_clips[:, 0]).max(axis=(1, 2, 3)) == 0)]
    assert len(short) == 1


def test_training_batches_are_random_windows_crops_and_flips(shards):
    dataset = pipeline.build_dataset(shards, training=True, batch_size=2, num_frames=FRAMES, crop_size=CROP)
    epochs = [batches_of(dataset) for _ in range(3)]
    for clips, labels in epochs:
        assert clips.shape == (6, FRAMES, CROP, CROP, 3) and sorted(labels) == [0, 0, 0, 1, 1, 1]
        assert clips.min() >= -1 and clips.max() <= 1
    assert not all(np.array_equal(epochs[0][0], other[0]) for other in epochs[1:])
    odd = pipeline.build_dataset(shards, training=True, batch_size=4, num_frames=FRAMES, crop_size=CROP)
    assert batches_of(odd)[0].shape[0] == 4  # the remainder is dropped when training
    resized = pipeline.build_dataset(shards, training=True, batch_size=3, num_frames=4, crop_size=32, resized_crop=True)
    assert batches_of(resized)[0].shape == (6, 4, 32, 32, 3)


def test_flow_clips_from_records_and_from_flow_folders(video_tree, shards, tmp_path):
    dataset = datasets.from_folder(video_tree)
    for sample in dataset.samples:
        name = os.path.splitext(os.path.basename(sample.path))[0]
        flow.compute_flow_folder(sample.path, str(tmp_path / name), short_side=SIDE)
    from_records = pipeline.build_dataset(shards, training=False, batch_size=6, num_frames=FRAMES, crop_size=CROP,
                                          modality="flow")
    from_folders = pipeline.build_dataset(dataset, training=False, batch_size=6, num_frames=FRAMES, crop_size=CROP,
                                          modality="flow", flow_root=str(tmp_path))
    (a, la), (b, lb) = batches_of(from_records), batches_of(from_folders)
    assert a.shape == b.shape == (6, FRAMES, CROP, CROP, 2)
    distance = np.abs(a[:, None] - b[None]).max(axis=(2, 3, 4, 5))
    assert sorted(distance.argmin(axis=1)) == list(range(6)) and not distance.min(axis=1).any()  # identical clips
    assert np.array_equal(lb[distance.argmin(axis=1)], la) and np.abs(a).max() > 0.05  # and not all still
    with pytest.raises(ValueError, match="needs flow_root"):
        pipeline.build_dataset(dataset, training=False, batch_size=1, modality="flow")


def test_full_video_evaluation_keeps_every_frame(shards):
    full = pipeline.build_dataset(shards, training=False, batch_size=1, crop_size=CROP, full_video=True)
    lengths = sorted(int(x.shape[1]) for x, _ in full)
    assert lengths == [5, 5, 12, 12, 20, 20]
    with pytest.raises(ValueError, match="full_video is for evaluation with batch_size=1"):
        pipeline.build_dataset(shards, training=False, batch_size=2, full_video=True)


def test_bad_videos_are_skipped_counted_and_the_epoch_completes(video_tree, tmp_path, caplog):
    good = datasets.from_folder(video_tree)
    bad_paths = {
        "empty": tmp_path / "empty.mp4",
        "garbage": tmp_path / "garbage.avi",
        "truncated": tmp_path / "truncated.mp4",
        "zero_frames": tmp_path / "zero_frames.avi",
    }
    bad_paths["empty"].write_bytes(b"")
    bad_paths["garbage"].write_bytes(np.random.default_rng(0).bytes(5000))
    write_video(tmp_path / "whole.mp4", clip_frames(30, 0, seed=3))
    bad_paths["truncated"].write_bytes((tmp_path / "whole.mp4").read_bytes()[:2000])
    import cv2

    cv2.VideoWriter(str(bad_paths["zero_frames"]), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64)).release()
    bad = [datasets.Sample(str(path), 0) for path in bad_paths.values()]
    mixed = datasets.VideoDataset(good.samples[:3] + bad + good.samples[3:], good.labels)
    skipped = pipeline.SkippedVideos()
    for training in (True, False):
        dataset = pipeline.build_dataset(mixed, training=training, batch_size=1, num_frames=FRAMES, crop_size=CROP,
                                         short_side=SIDE, skipped=skipped)
        with caplog.at_level("WARNING"):
            clips, labels = batches_of(dataset)
        assert clips.shape[0] == 6 and sorted(labels) == [0, 0, 0, 1, 1, 1]
        assert skipped.count == 4 * (1 + (not training))
    assert sorted(skipped.files) == sorted(map(str, bad_paths.values())) and skipped.describe() == "8 videos skipped (4 distinct files)"
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping")]
    assert len(warnings) == 4 and all(any(str(p) in w for p in bad_paths.values()) for w in warnings)

    report = tfrecord.write_shards(mixed, tmp_path / "shards", shards=2, pipeline_options=beam.pipeline_options(workers=1),
                                   options=OPTIONS)
    assert report.done == 6 and len(report.failures) == 4
    assert sorted(path for path, _ in report.failures) == sorted(map(str, bad_paths.values()))


def test_mirrored_strategy_splits_the_global_batch(shards, tmp_path):
    """Two logical CPUs (configured before TensorFlow starts, hence a fresh process)."""
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from i3d_keras.data import pipeline
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        options = dict(training=True, num_frames=4, crop_size=32)
        for batches in (pipeline.distributed_dataset(strategy, {str(shards)!r}, 4, **options),
                        strategy.experimental_distribute_dataset(pipeline.build_dataset({str(shards)!r}, batch_size=4, **options))):
            shapes = [tuple(part.shape) for x, y in batches for part in strategy.experimental_local_results(x)]
            print(shapes)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    per_pipeline, split_by_keras = (eval(line) for line in lines)
    # one pipeline making per-replica batches of 2, dealt round-robin to the two replicas
    assert per_pipeline[:2] == [(2, 4, 32, 32, 3)] * 2 and set(per_pipeline) == {(2, 4, 32, 32, 3)}
    # a global batch of 4 split by the strategy: one step of 2 + 2 (the remainder of 2 dropped)
    assert split_by_keras == [(2, 4, 32, 32, 3)] * 2


def test_build_tfrecords_command_skips_bad_files_and_survives_sigkill(video_tree, tmp_path):
    """Killed while the videos' examples are being made: a rerun keeps what was staged and writes every video once."""
    tree = tmp_path / "tree"
    shutil.copytree(video_tree, tree)
    out = tmp_path / "records"
    args = ("build-tfrecords", "--folder", tree, "--out", out, "--short_side", SIDE, "--shards", 3, "--workers", 2,
            "--flow")
    shard_files = tfrecord.shard_paths(str(out), "train", 3)
    staged = lambda: [name for shard in shard_files if os.path.isdir(tfrecord.staging_folder(shard))  # noqa: E731
                      for name in os.listdir(tfrecord.staging_folder(shard)) if name.endswith(".example")]
    i3d_killed_when(lambda: len(staged()) >= 2, *args)
    assert not any(os.path.exists(path) for path in shard_files)  # shards are written once every example is made
    result = i3d(*args)
    assert result.returncode == 0, result.stderr
    assert "6 videos in" in result.stderr and "0 already done; 0 failed" in result.stderr
    records = [tf.train.SequenceExample.FromString(r.numpy()) for r in tf.data.TFRecordDataset(shard_files)]
    ids = sorted(r.context.feature[tfrecord.VIDEO_ID_KEY].bytes_list.value[0].decode() for r in records)
    assert len(ids) == 6 and len(set(ids)) == 6  # every video exactly once
    assert "6 videos in all complete shards" in result.stderr and tfrecord.count_videos(out) == 6
    assert not [name for name in os.listdir(out) if name.startswith(".")]  # no staged example or temporary left
    (tree / "left" / "broken.mp4").write_bytes(b"\x00" * 64)
    again = i3d("build-tfrecords", "--folder", tree, "--out", tmp_path / "again", "--short_side", SIDE, "--workers", 1)
    assert again.returncode == 1
    assert error_lines(again.stderr) == [f"error: {tree / 'left' / 'broken.mp4'}: not a video OpenCV can decode "
                                         "(unknown format or damaged header)"]
    assert "6 videos in" in again.stderr and "1 failed" in again.stderr
    assert (tmp_path / "again" / "failed.tsv").read_text().startswith(f"{tree / 'left' / 'broken.mp4'}\t")
