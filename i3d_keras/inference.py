"""Running a model over whole videos in bounded memory: windows of frames in, averaged outputs out.

A video is decoded as a stream (``data.decoding``), cut into windows of ``window`` frames ``stride`` apart,
and each window goes through the model on its own, so peak memory depends on the window, not the video.
Windows are averaged, which for a video no longer than one window is exactly DeepMind's whole-clip logits.
"""

import numpy as np

from i3d_keras.data import decoding
from i3d_keras.model import MIN_FRAMES_WITH_TOP
from i3d_keras.preprocessing import preprocess_input

DEFAULT_WINDOW = 250  # 10 s at 25 fps: a whole Kinetics clip in one pass
DEFAULT_STRIDE = 125


def video_windows(path, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE, fps=decoding.DEFAULT_FPS, size=decoding.CROP_SIZE):
    """Yields preprocessed windows ``[1, T, size, size, 3]`` in [-1, 1] of the video at ``path``."""
    frames = decoding.iter_frames(path, fps=fps, short_side=round(size * decoding.SHORT_SIDE / decoding.CROP_SIZE), crop=size)
    for clip in decoding.iter_windows(frames, window, stride, min_frames=MIN_FRAMES_WITH_TOP):
        yield preprocess_input(clip[None])


def window_outputs(model, path, on_window=None, **window_options):
    """The model's output for each window of the video, as a numpy array ``[windows, ...]``.

    ``on_window(index)`` is called after each window (for progress reports).
    """
    outputs = []
    for index, clip in enumerate(video_windows(path, **window_options)):
        outputs.append(np.asarray(model(clip, training=False))[0])
        if on_window:
            on_window(index)
    return np.stack(outputs)


def predict_video(model, path, **options):
    """The video's logits ``[classes]``: the mean over its windows of ``model``'s logits."""
    return window_outputs(model, path, **options).mean(axis=0)


def video_features(feature_model, path, per_window=False, **options):
    """Features of a video from a model that outputs ``[1, T, H, W, C]`` (an endpoint) or ``[1, C]``.

    Each window's output is averaged over time and space; the result is ``[C]`` for the whole video
    (the mean over windows) or ``[windows, C]`` with ``per_window``.
    """
    per_window_features = window_outputs(feature_model, path, **options)
    if per_window_features.ndim > 2:
        per_window_features = per_window_features.reshape(len(per_window_features), -1, per_window_features.shape[-1]).mean(axis=1)
    return per_window_features if per_window else per_window_features.mean(axis=0)
