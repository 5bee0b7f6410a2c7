"""Decoding videos into RGB ``uint8`` frames with OpenCV, resampled to a fixed frame rate, in bounded memory.

DeepMind's preprocessing: frames at 25 fps, the short side resized to 256 (bilinear), a centre crop of 224.
``iter_frames`` streams frames; ``iter_windows`` streams fixed-length windows of them, so a long video never
sits in memory whole. OpenCV is imported lazily. Every problem a user can cause raises ``VideoError``, whose
message names the file and the cause.
"""

import collections
import itertools
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_FPS = 25.0
SHORT_SIDE = 256
CROP_SIZE = 224


class VideoError(ValueError):
    """A video that cannot be used; ``str(error)`` is one line: ``<file>: <cause>``."""

    def __init__(self, path, cause):
        super().__init__(f"{path}: {cause}")
        self.path, self.cause = path, cause

    def __reduce__(self):  # survives the trip back from a worker process
        return VideoError, (self.path, self.cause)


def _cv2():
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own messages; VideoError says what went wrong
    import cv2

    return cv2


def resize_short_side(frame, size=SHORT_SIDE):
    """Resizes ``frame`` (``[H, W, C]``) bilinearly so that its shorter side is ``size``, keeping the aspect ratio."""
    height, width = frame.shape[:2]
    scale = size / min(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))  # OpenCV wants (width, height)
    if new_size == (width, height):
        return frame
    resized = _cv2().resize(frame, new_size, interpolation=_cv2().INTER_LINEAR)
    return resized.reshape(new_size[1], new_size[0], *frame.shape[2:])


def center_crop(frame, size=CROP_SIZE):
    """The central ``size`` x ``size`` square of ``frame`` (``[H, W, C]``); both sides must be at least ``size``."""
    height, width = frame.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return frame[top:top + size, left:left + size]


def _to_rgb(frame):
    cv2 = _cv2()
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def open_video(path):
    """An opened ``cv2.VideoCapture`` and its frame rate; ``VideoError`` if the file is missing or no video."""
    if not os.path.exists(path):
        raise VideoError(path, "no such file")
    if os.path.isdir(path):
        raise VideoError(path, "is a folder, not a video")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "no permission to read it")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")
    capture = _cv2().VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoError(path, "not a video OpenCV can decode (unknown format or damaged header)")
    fps = capture.get(_cv2().CAP_PROP_FPS)
    return capture, fps if 0 < fps < 1000 else None


def frame_count(path, fps=DEFAULT_FPS, start=None, end=None):
    """The number of frames ``iter_frames`` should yield, from the container's metadata (None if unknown).

    Containers can be wrong about it (truncated files, variable frame rates), so treat it as an estimate.
    """
    capture, native_fps = open_video(path)
    stated = capture.get(_cv2().CAP_PROP_FRAME_COUNT)
    capture.release()
    if not native_fps or stated <= 0:
        return None
    seconds = stated / native_fps
    seconds = min(seconds, end if end is not None else seconds) - (start or 0.0)
    return max(0, int(seconds * (fps or native_fps)))


def _timed_frames(capture, frame_seconds):
    """Yields ``(seconds, BGR frame)`` of every decoded frame, timed from the first: the container's timestamp, or
    the previous time plus ``frame_seconds`` where timestamps are missing or do not increase."""
    first = previous = None
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        if frame is None or frame.size == 0:
            continue
        stamp = capture.get(_cv2().CAP_PROP_POS_MSEC) / 1000.0
        first = stamp if first is None else first
        seconds = stamp - first
        if previous is not None and not seconds > previous:
            seconds = previous + frame_seconds
        previous = seconds
        yield seconds, frame


def _resampled(timed, fps, frame_seconds):
    """Yields ``(seconds, frame, repeats)`` for every timed frame, ``repeats`` being how many frames at ``fps`` show
    it: those whose times fall from its time up to the next frame's (the last one lasts ``frame_seconds``).
    ``fps`` None: every frame once."""
    emitted, held = 0, None

    def covered(until):  # output frames before ``until`` seconds that are still to come
        nonlocal emitted
        count = 0
        while emitted / fps < until - 1e-3:  # a frame exactly at an output time shows from that time on
            count += 1
            emitted += 1
        return count

    for seconds, frame in timed:
        if not fps:
            yield seconds, frame, 1
            continue
        if held is not None:
            yield held[0], held[1], covered(seconds)
        held = (seconds, frame)
    if held is not None:
        yield held[0], held[1], covered(held[0] + frame_seconds)


def iter_frames(path, fps=DEFAULT_FPS, short_side=SHORT_SIDE, crop=CROP_SIZE, start=None, end=None):
    """Yields the RGB ``uint8`` frames ``[H, W, 3]`` of ``path``.

    Frames are resampled to ``fps`` by their timestamps, so variable frame rates come out even (None keeps every
    decoded frame), resized so the short side is ``short_side`` (None: native size) and centre-cropped to ``crop``
    (None: no crop). ``start`` / ``end`` (seconds) keep only the frames of that segment.
    Raises ``VideoError`` when nothing can be decoded; warns when decoding stops before the stated length.
    """
    capture, native_fps = open_video(path)
    stated_frames = int(capture.get(_cv2().CAP_PROP_FRAME_COUNT) or 0)
    frame_seconds = 1.0 / (native_fps or fps or DEFAULT_FPS)  # a frame's duration where timestamps do not say
    decoded = kept = 0
    last = 0.0
    try:
        for seconds, frame, repeats in _resampled(_timed_frames(capture, frame_seconds), fps, frame_seconds):
            decoded += 1
            last = seconds
            if end is not None and seconds >= end:
                break
            if not repeats or (start is not None and seconds < start):
                continue
            frame = _to_rgb(frame)
            if short_side:
                frame = resize_short_side(frame, short_side)
            if crop:
                if min(frame.shape[:2]) < crop:
                    raise VideoError(path, f"frames of {frame.shape[1]}x{frame.shape[0]} are smaller than the {crop} crop")
                frame = center_crop(frame, crop)
            kept += repeats
            for _ in range(repeats):
                yield frame
    finally:
        capture.release()
    if decoded == 0:
        raise VideoError(path, "no decodable frames (empty or corrupt video stream)")
    if not kept:
        raise VideoError(path, f"no frames between {start} s and {end} s (the video lasts {decoded} frames)")
    stated_seconds = stated_frames / native_fps if native_fps else 0.0
    if end is None and last + frame_seconds < 0.9 * stated_seconds:  # by time: variable frame rates state counts oddly
        log.warning("%s: decoded only %d of %d frames (truncated file?); using what was decoded", path, decoded, stated_frames)


def short_side_for(crop):
    """The short side to resize to before a centre crop of ``crop``: 256 for 224, in proportion for others."""
    return round(crop * SHORT_SIDE / CROP_SIZE)


def load_video(path, max_frames=None, fps=DEFAULT_FPS, size=CROP_SIZE, start=None, end=None):
    """The frames of the video at ``path`` as the pretrained I3D expects them: ``uint8 [T, size, size, 3]``, RGB.

    Resampled to ``fps`` (25, as Kinetics; None keeps the native rate), short side resized to 256 (bilinear;
    in proportion for another ``size``), centre crop of ``size``. ``max_frames`` keeps the first ones, ``start``
    / ``end`` (seconds) a segment. Feed ``preprocess_input(frames[None])`` to the model. The whole result is in
    memory: for long videos ``i3d_keras.inference.video_windows`` streams windows instead. Raises ``VideoError``
    naming the file when it cannot be used.
    """
    frames = iter_frames(path, fps=fps, short_side=short_side_for(size), crop=size, start=start, end=end)
    return np.stack(list(itertools.islice(frames, max_frames)))


def iter_windows(frames, window, stride, min_frames=1):
    """Groups a frame stream into arrays ``[T, H, W, C]`` of ``window`` frames, ``stride`` apart.

    The last window is aligned to the end so every frame is covered. A stream shorter than ``window``
    gives one window of all its frames, looped up to ``min_frames`` (as DeepMind's pipeline loops short clips).
    """
    if not 0 < stride <= window:
        raise ValueError(f"need 0 < stride <= window, got stride={stride}, window={window}")
    buffer = collections.deque(maxlen=window)
    pending, yielded = 0, False  # frames added since the last window; whether one was yielded
    for frame in frames:
        buffer.append(frame)
        pending += 1
        if len(buffer) == window and (not yielded or pending >= stride):
            yield np.stack(buffer)
            pending, yielded = 0, True
    if not yielded and buffer:
        yield loop_to_length(np.stack(buffer), max(min_frames, len(buffer)))
    elif yielded and pending:
        yield np.stack(buffer)


def loop_to_length(clip, frames):
    """Repeats ``clip`` (``[T, ...]``) from its start until it has ``frames`` frames."""
    if len(clip) >= frames:
        return clip
    return np.take(clip, np.arange(frames) % len(clip), axis=0)
