"""Videos as sharded TFRecords of ``tf.train.SequenceExample``, with the keys of the TF Model Garden / DMVR readers.

Context: ``clip/label/index`` (int64), ``clip/label/text``, ``video/id``, ``video/fps``, ``clip/data_path``.
Feature lists: ``image/encoded`` (one JPEG per frame, 25 fps, short side 256) and optionally ``flow/encoded``
(one PNG per consecutive frame pair: R = x, G = y quantised as in ``data.flow``, B = 0; PNG because JPEG
would blur the two channels into each other).

``write_shards`` writes ``<name>-00000-of-00016.tfrecord``... as an Apache Beam pipeline (``data.beam``): one
example per video on any worker, then each shard written at once under a temporary name and renamed, so a rerun
keeps finished shards and redoes only the others. Videos that cannot be read are left out and listed.
"""

import dataclasses
import json
import math
import os
import shutil
import typing

import numpy as np

from i3d_keras import files
from i3d_keras.data import beam, decoding, flow

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


class ShardEntry(typing.NamedTuple):
    """One video of a shard: the shard's file, the video's place in it, the sample and its class name."""

    shard: str
    position: int
    sample: object
    label_text: str


def staging_folder(shard):
    """The hidden folder beside ``shard`` where its videos' examples wait for it."""
    folder, name = os.path.split(shard)
    return os.path.join(folder, f".{name}.staged")


def staged_path(shard, position):
    """Where the example of the video at ``position`` in ``shard`` waits for the shard to be written."""
    return os.path.join(staging_folder(shard), f"{position:06d}.example")


@dataclasses.dataclass(frozen=True)
class ExampleJob(beam.VideoJob):
    """Worker job: one ``ShardEntry``'s example, written (atomically) to ``staged_path``; kept from an earlier run."""

    options: FrameOptions = FrameOptions()
    tensorflow = True  # the examples are TensorFlow protos

    def setup(self):
        _cv2().setNumThreads(1)  # one process per core

    def path_of(self, entry):
        return entry.sample.path

    def output(self, entry):
        return staged_path(entry.shard, entry.position)

    def __call__(self, entry):
        path = self.output(entry)
        if not os.path.exists(path):
            files.write_bytes(path, video_example(entry.sample, entry.label_text, self.options))
        return None, 1


def write_shard(shard, positions, skipped):
    """Writes ``shard`` from its staged examples (``positions``, in order) and its summary, atomically, then drops
    the staged examples. A shard that exists already (Beam retried this step) is left as it is."""
    from i3d_keras import quiet

    if os.path.exists(shard):
        return shard
    tf = quiet.import_tensorflow() if quiet.wanted() else __import__("tensorflow")
    with files.atomic_path(shard, suffix=SUFFIX) as tmp:
        with files.writing(shard, also=(tf.errors.OpError,)), tf.io.TFRecordWriter(tmp) as writer:
            for position in sorted(positions):
                with open(staged_path(shard, position), "rb") as example:
                    writer.write(example.read())
        # the shard's summary goes first: a shard that has its final name always has its summary
        with files.atomic_path(shard + ".json") as summary, open(summary, "w", encoding="utf-8") as out:
            json.dump({"videos": len(positions), "skipped": sorted(skipped)}, out, indent=1)
    shutil.rmtree(staging_folder(shard), ignore_errors=True)
    return shard


def shard_summary(path):
    """``{"videos": n, "skipped": [...]}`` of a shard written by ``write_shard``."""
    with open(path + ".json", encoding="utf-8") as summary:
        return json.load(summary)


def count_videos(source):
    """The number of videos in the TFRecords ``source`` (from the shard summaries; counted when absent)."""
    total = 0
    for path in list_shards(source):
        try:
            total += shard_summary(path)["videos"]
        except OSError:
            import tensorflow as tf

            total += sum(1 for _ in tf.data.TFRecordDataset(path))
    return total


def shard_entries(dataset, folder, name, shards):
    """``{shard path: [ShardEntry...]}``: shard ``k`` holds videos ``k, k + shards, ...``, so every shard mixes
    the classes."""
    return {path: [ShardEntry(path, position, sample, dataset.labels.names[sample.label])
                   for position, sample in enumerate(dataset.samples[index::shards])]
            for index, path in enumerate(shard_paths(folder, name, shards))}


def write_shards(dataset, folder, name="train", shards=None, pipeline_options=None, options=FrameOptions(),
                 timeout=None, print_lines=False):
    """Writes ``dataset`` (a ``datasets.VideoDataset``) as TFRecord shards in ``folder``, plus ``labels.txt``, as an
    Apache Beam pipeline (``pipeline_options``: ``beam.pipeline_options(...)``, default the local runner).

    Each video's example is made by one worker and staged; each shard is then written at once from its staged
    examples, so a shard is complete or absent, and a rerun keeps complete shards and staged examples. A video
    that fails is left out of its shard and named in the shard's summary; ``folder/failed.tsv`` lists those of
    every complete shard. Returns a ``beam.JobReport`` (``failures``: this run's; ``existing``: videos in shards
    complete before).
    """
    if not len(dataset):
        raise ValueError(f"{dataset.name}: no videos to write")
    pipeline_options = pipeline_options or beam.pipeline_options()
    shards = shards or default_shard_count(len(dataset), beam.default_workers())
    os.makedirs(folder, exist_ok=True)
    dataset.labels.save(os.path.join(folder, "labels.txt"))
    entries = shard_entries(dataset, folder, name, shards)
    todo, _ = beam.pending({path: path for path in entries})
    items = [entry for path in todo for entry in entries[path]]
    job = ExampleJob(options)
    apache_beam = beam.apache_beam()

    def build(pipeline):
        results = pipeline | "Videos" >> apache_beam.Create(items) | "Examples" >> beam.for_each_video(
            job, timeout, print_lines)
        staged = results.done | "ByShard" >> apache_beam.Map(lambda done: (done[0].shard, done[0].position))
        failed = results.failed | "FailedByShard" >> apache_beam.Map(
            lambda failure: (failure[0].shard, f"{failure[0].sample.path}: {failure[1]}"))
        shards_to_write = (pipeline | "Shards" >> apache_beam.Create(todo)
                           | "Keyed" >> apache_beam.Map(lambda shard: (shard, None)))
        _ = ({"shard": shards_to_write, "staged": staged, "failed": failed}
             | "Group" >> apache_beam.CoGroupByKey()
             | "Write" >> apache_beam.MapTuple(lambda shard, parts: write_shard(shard, list(parts["staged"]),
                                                                                list(parts["failed"]))))

    report = beam.run(build, pipeline_options)
    report.existing = sum(shard_summary(path)["videos"] for path in entries if path not in todo)
    skipped = {path: _skipped(path, entries[path]) for path in entries if os.path.exists(path)}
    report.failures = [failure for path in todo for failure in skipped.get(path, [])]
    beam.write_failure_report(folder, [failure for failures in skipped.values() for failure in failures])
    return report


def _skipped(shard, entries):
    """``[(path, cause)]`` of the videos left out of ``shard`` (its summary's lines, ``"<path>: <cause>"``)."""
    paths = {entry.sample.path for entry in entries}
    return [(path, cause) for path, cause in (line.split(": ", 1) for line in shard_summary(shard)["skipped"])
            if path in paths]


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


def check_shards(paths, key=IMAGE_KEY):
    """Refuses, in one ``ValueError`` naming the file, a shard in ``paths`` that is not a TFRecord file, is cut
    short, or whose first record holds no ``key`` frames (not written by ``build-tfrecords``, or without
    ``--flow`` for ``FLOW_KEY``).

    It walks each file's record framing (length, then the payload and its checksum) without reading the payloads,
    so it costs two small reads per record; a payload damaged inside intact framing is found when it is read
    (TensorFlow's checksum), and that clip is skipped with a warning."""
    for path in paths:
        first = _walk_records(path)
        if first is not None and not _has_frames(first, key):
            made_by = "build-tfrecords --flow" if key == FLOW_KEY else "build-tfrecords"
            raise ValueError(f"{path}: its first record holds no {key!r} frames: not a TFRecord of `i3d {made_by}`")


def _walk_records(path):
    """The first record's payload of the TFRecord file ``path`` (``None`` if it has none), after following the
    framing to the end; ``ValueError`` naming the file where it breaks."""
    size = os.path.getsize(path)
    first, offset, count = None, 0, 0
    with open(path, "rb") as records:
        while offset < size:
            header = records.read(12)  # uint64 length, uint32 checksum of the length
            length = int.from_bytes(header[:8], "little") if len(header) == 12 else None
            end = offset + 12 + (length or 0) + 4
            if length is None or end > size:
                if count == 0:
                    raise ValueError(f"{path}: not a TFRecord file (its first record's framing runs past the end "
                                     f"of the file's {size} bytes)")
                raise ValueError(f"{path}: TFRecord file cut short: record {count + 1} starts at byte {offset} "
                                 f"and runs past the end of the file ({size} bytes); rewrite it with build-tfrecords")
            if first is None:
                first = records.read(length)
            records.seek(end)
            offset, count = end, count + 1
    return first


def _has_frames(serialized, key):
    """Whether a serialised ``SequenceExample`` has a non-empty ``key`` feature list (parsed as a protocol
    buffer; nothing in it is executed)."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        lists = tf.train.SequenceExample.FromString(serialized).feature_lists.feature_list
    except DecodeError:
        return False
    return key in lists and len(lists[key].feature) > 0


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
