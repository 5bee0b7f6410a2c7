"""``build_dataset``: a data set (raw videos or TFRecords) -> ``tf.data.Dataset`` of ``(clip, label)`` for ``model.fit``.

Clips are float32 ``[batch, T, crop, crop, C]`` in [-1, 1], channels-last (or uint8 in [0, 255] with
``dtype="uint8"``, for normalising on the accelerator: ``data.transforms.normalize``); labels int32 ``[batch]``.

- TFRecords (``data.tfrecord``): parallel interleave over shards, parse, pick the window's frame indices, decode
  only those JPEG/PNG frames, augment, all in TensorFlow ops.
- Raw videos (``data.datasets.VideoDataset``): OpenCV decodes in TensorFlow's parallel map threads (OpenCV
  releases the GIL), keeping only a window of frames in memory; flow comes from ``i3d flow`` folders.

A video that cannot be read is skipped with one warning line naming it and counted in ``skipped``
(a ``SkippedVideos``), so an epoch always completes. Under ``tf.distribute``, pass the global batch size to
``build_dataset`` and let Keras split it, or use ``distributed_dataset`` (one pipeline per worker).
"""

import collections
import logging
import threading

import numpy as np
import tensorflow as tf

from i3d_keras.data import datasets, decoding, flow, tfrecord, transforms

log = logging.getLogger(__name__)

DEFAULT_NUM_FRAMES = 64
AUTOTUNE = tf.data.AUTOTUNE


class SkippedVideos:
    """Thread-safe count of videos skipped while iterating; each file is warned about once."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0
        self.files = collections.OrderedDict()  # path -> cause

    def add(self, path, cause):
        with self._lock:
            self.count += 1
            if path not in self.files:
                self.files[path] = cause
                log.warning("skipping %s", cause if str(cause).startswith(str(path)) else f"{path}: {cause}")

    def reset(self):
        """Starts a new count (e.g. at the start of an epoch); the files already warned about stay quiet."""
        with self._lock:
            self.count = 0

    def describe(self):
        return f"{self.count} videos skipped" + (f" ({len(self.files)} distinct files)" if self.files else "")


def build_dataset(source, training, batch_size, num_frames=DEFAULT_NUM_FRAMES, crop_size=decoding.CROP_SIZE,
                  modality="rgb", full_video=False, resized_crop=False, shuffle_buffer=64, cache=False,
                  flow_root=None, short_side=decoding.SHORT_SIDE, skipped=None, input_context=None,
                  drop_remainder=None, seed=None, dtype="float32", with_ids=False):
    """A ``tf.data.Dataset`` of ``(clips, labels)`` batches.

    ``source``: a ``VideoDataset`` (raw videos), or TFRecords (a folder, glob, file or list of them).
    ``training``: random window / crop / flip and shuffling; otherwise the centred window and centre crop,
    deterministic. ``full_video`` (evaluation only, ``batch_size=1``): every frame instead of one window.
    ``modality``: ``"rgb"`` or ``"flow"`` (raw videos then need ``flow_root``, the ``i3d flow`` output folder).
    ``short_side``: raw videos are decoded at this size before cropping (TFRecords keep their stored size).
    ``shuffle_buffer``: records (whole videos) shuffled when training TFRecords (raw videos shuffle the list).
    ``cache``: keep the serialised records in memory (True) or in a file (a path) after the first epoch.
    ``input_context``: a ``tf.distribute.InputContext`` (from ``distributed_dataset``) to read only this
    worker's part. ``drop_remainder`` defaults to ``training``. ``dtype="uint8"`` skips the normalisation.
    ``with_ids``: batches are ``(clips, labels, video ids)`` (to line up two streams' predictions).
    """
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    if modality not in ("rgb", "flow"):
        raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
    if full_video and (training or batch_size != 1):
        raise ValueError("full_video is for evaluation with batch_size=1 (videos differ in length)")
    window = None if full_video else num_frames
    is_flow = modality == "flow"
    if isinstance(source, datasets.VideoDataset):
        crop_when_decoding = None
        elements, shard_policy = _raw_video_elements(source, training, window, is_flow, flow_root, short_side,
                                                     skipped or SkippedVideos(), input_context, seed)
    else:
        crop_when_decoding = None if (is_flow or resized_crop) else crop_size
        elements, shard_policy = _tfrecord_elements(source, training, window, is_flow, input_context, shuffle_buffer,
                                                    cache, seed, crop_when_decoding)

    def finish(clip, label, video_id):
        if crop_when_decoding:
            clip = transforms.finish(clip, training, is_flow, to_float=dtype == "float32")
        else:
            clip = transforms.augment(clip, training, crop_size, is_flow, resized_crop, to_float=dtype == "float32")
        clip.set_shape([window, crop_size, crop_size, 2 if is_flow else 3])
        return (clip, label, video_id) if with_ids else (clip, label)

    batches = elements.map(finish, num_parallel_calls=AUTOTUNE, deterministic=not training)
    batches = batches.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy
    options.deterministic = not training
    return batches.with_options(options).prefetch(AUTOTUNE)


def distributed_dataset(strategy, source, global_batch_size, **options):
    """``build_dataset`` once per input pipeline of ``strategy``, each with its per-replica batch size and its
    share of the files; the result feeds ``model.fit`` or a custom loop under ``strategy``."""

    def dataset_fn(input_context):
        batch = input_context.get_per_replica_batch_size(global_batch_size)
        return build_dataset(source, batch_size=batch, input_context=input_context, **options)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _tfrecord_elements(source, training, window, is_flow, input_context, shuffle_buffer, cache, seed, crop_size):
    paths = tfrecord.list_shards(source)
    if input_context and input_context.num_input_pipelines > 1:
        paths = paths[input_context.input_pipeline_id::input_context.num_input_pipelines]
        if not paths:
            raise ValueError("fewer TFRecord files than input pipelines; write more shards")
    key = tfrecord.FLOW_KEY if is_flow else tfrecord.IMAGE_KEY
    tfrecord.check_shards(paths, key)  # each input pipeline checks the shards it reads
    files = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    records = files.interleave(tf.data.TFRecordDataset, cycle_length=min(len(paths), 8),
                               num_parallel_calls=AUTOTUNE, deterministic=not training)
    if cache:
        records = records.cache(cache if isinstance(cache, str) else "")
    if training:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def select_and_decode(serialized):
        encoded, label, video_id = tfrecord.parse_example(serialized, key)
        if window is not None:
            encoded = tf.gather(encoded, transforms.window_indices(tf.shape(encoded)[0], window, training))
        if crop_size:
            return tfrecord.decode_cropped_frames(encoded, crop_size, training), label, video_id
        return tfrecord.decode_frames(encoded, is_flow), label, video_id

    elements = records.map(select_and_decode, num_parallel_calls=AUTOTUNE, deterministic=not training)
    # a damaged record loses that clip, not the epoch (TensorFlow logs a warning)
    return elements.ignore_errors(log_warning=True), tf.data.experimental.AutoShardPolicy.FILE


def _raw_video_elements(dataset, training, window, is_flow, flow_root, short_side, skipped, input_context, seed):
    if is_flow and not flow_root:
        raise ValueError("flow from raw videos needs flow_root: the folder written by `i3d flow`")
    samples = dataset.samples
    if input_context and input_context.num_input_pipelines > 1:
        samples = samples[input_context.input_pipeline_id::input_context.num_input_pipelines]
    if not samples:
        raise ValueError(f"{dataset.name}: the data set has no videos")
    channels = 2 if is_flow else 3
    video_ids = tf.constant([sample.video_id for sample in samples])

    def load(index, position):
        sample = samples[int(index)]
        try:
            if is_flow:
                clip = _flow_window(sample, flow_root, window, float(position))
            else:
                clip = _frame_window(sample, window, float(position), short_side)
            return clip, np.int32(sample.label), True
        except Exception as error:  # any unreadable video is skipped and counted, never fatal
            skipped.add(sample.path, error)
            return np.zeros((0, 0, 0, channels), np.uint8), np.int32(sample.label), False

    def load_op(index):
        # where the window starts, as a fraction of the free range: random when training, centred (-1) otherwise
        position = tf.random.uniform([], seed=seed) if training else tf.constant(-1.0)
        clip, label, ok = tf.numpy_function(load, [index, position], [tf.uint8, tf.int32, tf.bool], stateful=training)
        clip.set_shape([None, None, None, channels])
        label.set_shape([])
        return clip, label, tf.gather(video_ids, index), ok

    indices = tf.data.Dataset.range(len(samples))
    if training:
        indices = indices.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
    elements = indices.map(load_op, num_parallel_calls=AUTOTUNE, deterministic=not training)
    return elements.filter(_is_ok).map(_without_ok), tf.data.experimental.AutoShardPolicy.DATA


def _is_ok(clip, label, video_id, ok):
    return ok


def _without_ok(clip, label, video_id, ok):
    return clip, label, video_id


def _window_start(length, window, position):
    """The first frame of a window: centred for ``position < 0`` (as ``transforms.window_indices``), else the
    fraction ``position`` in [0, 1) of the free range."""
    slack = max(length - window, 0)
    return slack // 2 if position < 0 else min(int(position * (slack + 1)), slack)


def _frame_window(sample, window, position, short_side):
    """``window`` frames (all when None) of a video, decoded at ``short_side``; memory stays O(window)."""
    frames = decoding.iter_frames(sample.path, short_side=short_side, crop=None, start=sample.start, end=sample.end)
    if window is None:
        return np.stack(list(frames))
    estimated = decoding.frame_count(sample.path, start=sample.start, end=sample.end) or window
    stop = _window_start(estimated, window, position) + window
    kept = collections.deque(maxlen=window)  # if the stated length was too long, the video's last frames
    for count, frame in enumerate(frames, start=1):
        kept.append(frame)
        if count >= stop:
            break
    return decoding.loop_to_length(np.stack(kept), window)


def _flow_window(sample, flow_root, window, position):
    """``window`` quantised flow fields (all when None) from the ``i3d flow`` folder of ``sample``."""
    folder = flow.folder_for(sample.path, flow_root)
    try:
        length = flow.read_flow_info(folder)["fields"]
    except OSError:
        raise decoding.VideoError(sample.path, f"no flow folder {folder} (run `i3d flow` first)") from None
    if window is None:
        return flow.read_flow_folder(folder)
    start = _window_start(length, window, position)
    return flow.read_flow_folder(folder, [(start + i) % length for i in range(window)])

