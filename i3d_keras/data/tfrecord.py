"""Videos as sharded TFRecords of ``tf.train.SequenceExample``, with the keys of the TF Model Garden / DMVR readers.

Context: ``clip/label/index`` (int64), ``clip/label/text``, ``video/id``, ``video/fps``, ``clip/data_path``.
Feature lists: ``image/encoded`` (one JPEG per frame, 25 fps, short side 256) and optionally ``flow/encoded``
(one PNG per consecutive frame pair: R = x, G = y quantised as in ``data.flow``, B = 0; PNG because JPEG
would blur the two channels into each other).

``write_shards`` writes ``<name>-00000-of-00016.tfrecord``...: one process per core, each shard written to a
temporary name and renamed when complete, so a rerun skips finished shards and redoes only the others.
Videos that cannot be read are skipped with one line each and counted.
"""

import dataclasses
import functools
import json
import math
import os

import numpy as np

from i3d_keras import files
from i3d_keras.data import decoding, flow, jobs

IMAGE_KEY = "image/encoded"
FLOW_KEY = "flow/encoded"
LABEL_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
VIDEO_ID_KEY = "video/id"
FPS_KEY = "video/fps"
PATH_KEY = "clip/data_path"
SUFFIX = ".tfrecord"
DEFAULT_JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class FrameOptions:
    """How frames are stored: rate, short side, JPEG quality, and whether (and how) flow is added."""

    fps: float = decoding.DEFAULT_FPS
    short_side: int = decoding.SHORT_SIDE
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    with_flow: bool = False
    flow_method: str = "tvl1"


_cv2 = decoding._cv2  # the one lazy OpenCV import (it also quiets FFmpeg's own messages)


def encode_jpeg(frame, quality=DEFAULT_JPEG_QUALITY):
    """RGB ``uint8`` ``[H, W, 3]`` -> JPEG bytes."""
    cv2 = _cv2()
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "OpenCV failed to encode a JPEG"
    return data.tobytes()


def encode_flow_png(field):
    """Quantised flow ``[H, W, 2]`` ``uint8`` -> PNG bytes (R = x, G = y, B = 0)."""
    rgb = np.concatenate([field, np.zeros_like(field[..., :1])], axis=-1)
    ok, data = _cv2().imencode(".png", rgb[..., ::-1], [_cv2().IMWRITE_PNG_COMPRESSION, 1])
    assert ok, "OpenCV failed to encode a PNG"
    return data.tobytes()


def clip_example(jpeg_frames, label, label_text, video_id, fps, data_path="", flow_pngs=None):
    """A serialised ``tf.train.SequenceExample`` of one video."""
    import tensorflow as tf

    def bytes_feature(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    context = tf.train.Features(feature={
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        LABEL_TEXT_KEY: bytes_feature([label_text.encode()]),
        VIDEO_ID_KEY: bytes_feature([video_id.encode()]),
        FPS_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[fps])),
        PATH_KEY: bytes_feature([data_path.encode()]),
    })
    lists = {IMAGE_KEY: tf.train.FeatureList(feature=[bytes_feature([frame]) for frame in jpeg_frames])}
    if flow_pngs is not None:
        lists[FLOW_KEY] = tf.train.FeatureList(feature=[bytes_feature([field]) for field in flow_pngs])
    example = tf.train.SequenceExample(context=context, feature_lists=tf.train.FeatureLists(feature_list=lists))
    return example.SerializeToString()


def video_example(sample, label_text, options=FrameOptions()):
    """The serialised example of one ``datasets.Sample``: its frames as JPEG (and its flow as PNG)."""
    frames = list(decoding.iter_frames(sample.path, fps=options.fps, short_side=options.short_side, crop=None,
                                       start=sample.start, end=sample.end))
    flow_pngs = None
    if options.with_flow:
        if len(frames) < 2:
            raise decoding.VideoError(sample.path, "only one frame: optical flow needs at least two")
        flow_pngs = [encode_flow_png(flow.quantize(field)) for field in flow.iter_flow(frames, options.flow_method)]
    jpegs = [encode_jpeg(frame, options.jpeg_quality) for frame in frames]
    return clip_example(jpegs, sample.label, label_text, sample.video_id, options.fps or 0.0, sample.path, flow_pngs)


def shard_paths(folder, name, count):
    """The ``count`` shard file names of data set ``name`` in ``folder``."""
    return [os.path.join(folder, f"{name}-{index:05d}-of-{count:05d}{SUFFIX}") for index in range(count)]


def default_shard_count(videos, workers):
    """Enough shards to keep every worker busy and to auto-shard by file across machines, <= 256 videos each."""
    return max(1, min(videos, max(4 * workers, math.ceil(videos / 256))))


def write_shard(job, options):
    """Worker job: writes one shard atomically from ``(path, [(sample, label_text), ...])``.

    Returns ``(written, skipped)``; ``skipped`` lists one ``"<file>: <cause>"`` line per unreadable video.
    """
    import tensorflow as tf

    path, entries = job
    written, skipped = 0, []
    files.remove_leftovers(path)  # of a killed earlier run
    with files.atomic_path(path, suffix=SUFFIX) as tmp:
        with files.writing(path, also=(tf.errors.OpError,)), tf.io.TFRecordWriter(tmp) as writer:
            for sample, label_text in entries:
                try:
                    example = video_example(sample, label_text, options)
                except Exception as error:  # a bad video is skipped, the shard goes on
                    message = str(error) if str(error).startswith(sample.path) else f"{sample.path}: {error}"
                    skipped.append(message)
                    continue
                writer.write(example)  # a full disk is no bad video: it raises OutputError
                written += 1
        # the shard's summary goes first: a shard that has its final name always has its summary
        with files.atomic_path(path + ".json") as summary, open(summary, "w", encoding="utf-8") as out:
            json.dump({"videos": written, "skipped": skipped}, out, indent=1)
    return written, skipped


def shard_summary(path):
    """``{"videos": n, "skipped": [...]}`` of a shard written by ``write_shard``."""
    with open(path + ".json", encoding="utf-8") as summary:
        return json.load(summary)


def count_videos(source):
    """The number of videos in the TFRecords ``source`` (from the shard summaries; counted when absent)."""
    import tensorflow as tf

    total = 0
    for path in list_shards(source):
        try:
            total += shard_summary(path)["videos"]
        except OSError:
            total += sum(1 for _ in tf.data.TFRecordDataset(path))
    return total


@dataclasses.dataclass
class BuildReport:
    """What ``write_shards`` did: shards written now and found complete, videos written, skipped lines."""

    shards: list
    written_shards: int = 0
    existing_shards: int = 0
    videos: int = 0
    skipped: list = dataclasses.field(default_factory=list)
    failed_shards: list = dataclasses.field(default_factory=list)

    def describe(self):
        return (f"{len(self.shards)} shards ({self.written_shards} written now, {self.existing_shards} already "
                f"complete), {self.videos} videos written, {len(self.skipped)} skipped, "
                f"{len(self.failed_shards)} shards failed")

    def total_videos(self):
        """Videos in all complete shards, this run's and earlier runs'."""
        return sum(shard_summary(path)["videos"] for path in self.shards if os.path.exists(path))


def write_shards(dataset, folder, name="train", shards=None, workers=None, options=FrameOptions(), on_shard=None):
    """Writes ``dataset`` (a ``datasets.VideoDataset``) as TFRecord shards in ``folder``, plus ``labels.txt``.

    Shard ``k`` holds videos ``k, k + shards, ...``, so every shard mixes the classes. Existing shards are kept
    (resume). ``on_shard(report)`` is called after each shard. Returns a ``BuildReport``.
    """
    if not len(dataset):
        raise ValueError(f"{dataset.name}: no videos to write")
    workers = workers or jobs.default_workers()
    shards = shards or default_shard_count(len(dataset), workers)
    os.makedirs(folder, exist_ok=True)
    dataset.labels.save(os.path.join(folder, "labels.txt"))
    paths = shard_paths(folder, name, shards)
    report = BuildReport(paths)
    todo = []
    for index, path in enumerate(paths):
        if os.path.exists(path):
            report.existing_shards += 1
        else:
            entries = [(sample, dataset.labels.names[sample.label]) for sample in dataset.samples[index::shards]]
            todo.append((path, entries))
    for (path, _), result, error in jobs.run_parallel(functools.partial(write_shard, options=options), todo, workers,
                                                      tensorflow=True):
        if isinstance(error, files.OutputError):
            raise error  # the machine's fault: the other shards would fail alike; a rerun keeps the finished ones
        if error is not None:
            report.failed_shards.append(f"{path}: {type(error).__name__}: {error}")
        else:
            report.written_shards += 1
            report.videos += result[0]
            report.skipped += result[1]
        if on_shard:
            on_shard(report)
    return report


def list_shards(source):
    """TFRecord files named by ``source``: a folder (its ``*.tfrecord``), a glob pattern, a file, or a list."""
    import glob

    if isinstance(source, (list, tuple)):
        return sorted(path for item in source for path in list_shards(item))
    source = os.fspath(source)
    pattern = os.path.join(source, "*" + SUFFIX) if os.path.isdir(source) else source
    found = sorted(glob.glob(pattern))
    if not found:
        raise ValueError(f"{source}: no TFRecord files")
    return found


def parse_example(serialized, key=IMAGE_KEY):
    """TF op: a serialised example -> ``(encoded frames [T] string, label int32, video id string)``."""
    import tensorflow as tf

    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
                          VIDEO_ID_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")},
        sequence_features={key: tf.io.FixedLenSequenceFeature([], tf.string)})
    return sequence[key], tf.cast(context[LABEL_KEY], tf.int32), context[VIDEO_ID_KEY]


def decode_frames(encoded, is_flow):
    """TF op: encoded images ``[T]`` -> ``uint8`` ``[T, H, W, C]`` (3 RGB channels, or 2 flow channels)."""
    import tensorflow as tf

    if is_flow:
        decode = lambda data: tf.io.decode_png(data, channels=3)[..., :2]  # noqa: E731
    else:
        decode = lambda data: tf.io.decode_jpeg(data, channels=3)  # noqa: E731
    return tf.map_fn(decode, encoded, fn_output_signature=tf.uint8)


def decode_cropped_frames(encoded, size, training):
    """TF op: JPEG frames ``[T]`` -> ``uint8`` ``[T, size, size, 3]``, one square (random when ``training``, else
    centred) decoded straight out of each JPEG: no full frame is decoded or copied (about 1.5x faster)."""
    import tensorflow as tf

    from i3d_keras.data import transforms

    shape = tf.io.extract_jpeg_shape(encoded[0])

    def crop_while_decoding():
        top, left = transforms.crop_offset(shape[0], shape[1], size, training)
        window = tf.stack([top, left, size, size])
        decode = lambda data: tf.io.decode_and_crop_jpeg(data, window, channels=3)  # noqa: E731
        return tf.map_fn(decode, encoded, fn_output_signature=tf.uint8)

    def decode_then_crop():  # frames stored smaller than the crop: upscale first
        frames = decode_frames(encoded, is_flow=False)
        return transforms.random_crop(frames, size) if training else transforms.center_crop(frames, size)

    return tf.cond(tf.reduce_min(shape[:2]) >= size, crop_while_decoding, decode_then_crop)
