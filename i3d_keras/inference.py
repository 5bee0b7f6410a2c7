"""Running a model over whole videos in bounded memory: windows of frames in, averaged outputs out.

A video is decoded as a stream (``data.decoding``), cut into windows of ``window`` frames ``stride`` apart,
and each window goes through the model on its own, so peak memory depends on the window, not the video.
Windows are averaged, which for a video no longer than one window is exactly DeepMind's whole-clip logits.
"""

import os
import weakref

import numpy as np

from i3d_keras.data import decoding
from i3d_keras.model import MIN_FRAMES_WITH_TOP
from i3d_keras.preprocessing import preprocess_input

DEFAULT_WINDOW = 250  # 10 s at 25 fps: a whole Kinetics clip in one pass
DEFAULT_STRIDE = 125


def _windows(frames, window, stride):
    """``uint8`` frames (RGB or quantised flow) -> windows ``[1, T, H, W, C]`` in [-1, 1]."""
    for clip in decoding.iter_windows(frames, window, stride, min_frames=MIN_FRAMES_WITH_TOP):
        yield preprocess_input(clip[None])


def video_windows(path, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE, fps=decoding.DEFAULT_FPS, size=decoding.CROP_SIZE):
    """Yields preprocessed windows ``[1, T, size, size, 3]`` in [-1, 1] of the video at ``path``."""
    yield from _windows(decoding.iter_frames(path, fps=fps, short_side=decoding.short_side_for(size), crop=size), window, stride)


def flow_windows(path, flow_root=None, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE, fps=decoding.DEFAULT_FPS,
                 size=decoding.CROP_SIZE):
    """Yields flow windows ``[1, T, size, size, 2]`` in [-1, 1] of the video at ``path``: read from its ``i3d flow``
    folder under ``flow_root`` when there is one, else TV-L1 computed now (``data.tvl1``: about 0.1 s per frame pair at 256x340 on 2 cores)."""
    from i3d_keras.data import flow

    folder = flow.folder_for(path, flow_root) if flow_root else None
    if folder and os.path.exists(os.path.join(folder, flow.INFO_FILE)):
        info = flow.read_flow_info(folder)
        if fps and info["fps"] != fps:
            raise ValueError(f"{folder}: flow computed at {info['fps']} fps, {fps} fps asked for")
        fields = flow.iter_flow_folder(folder)
    else:
        fields = flow.video_flow(path, fps=fps, short_side=decoding.short_side_for(size))
    cropped = (decoding.center_crop(field, size) for field in fields)
    yield from _windows(cropped, window, stride)


_GRAPHS = weakref.WeakKeyDictionary()


def forward(model):
    """``model``'s inference call (``training=False``) as one TensorFlow graph, built once per model (on the JAX
    and PyTorch backends: ``predict_on_batch``).

    On a CPU a Keras model called eagerly takes 1.4x longer and 0.9 GiB more memory per 64-frame clip
    (``benchmarks/inference.py``). Anything that is not a Keras model (an exported module) is called as it is.
    """
    import keras

    if not isinstance(model, keras.Model):
        return lambda clip: model(clip, training=False)
    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch  # Keras' own compiled call: jax.jit on JAX (once per clip shape)
    if model not in _GRAPHS:
        import tensorflow as tf

        model_ref = weakref.ref(model)  # the cache must not keep the model alive
        _GRAPHS[model] = tf.function(lambda clip: model_ref()(clip, training=False), reduce_retracing=True)
    return _GRAPHS[model]


def model_outputs(model, windows, on_window=None):
    """The model's output for each window (``[1, T, H, W, C]``), as a numpy array ``[windows, ...]``.

    ``on_window(index)`` is called after each window (for progress reports).
    """
    outputs, call = [], forward(model)
    for index, clip in enumerate(windows):
        outputs.append(np.asarray(call(clip), np.float32)[0])  # endpoints of a mixed-precision model are 16-bit
        if on_window:
            on_window(index)
    return np.stack(outputs)


def window_outputs(model, path, on_window=None, **window_options):
    """The model's output for each window of the video at ``path``, as a numpy array ``[windows, ...]``."""
    return model_outputs(model, video_windows(path, **window_options), on_window)


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
