"""Clip sampling and augmentation in pure TensorFlow ops (graph-friendly, used inside ``tf.data``).

Clips are ``[T, H, W, C]``: ``uint8`` RGB frames or quantised flow fields (see ``data.flow``), both turned into
[-1, 1] by ``x / 127.5 - 1``. Training: a random temporal window (short videos looped), a random crop (or a
random-resized crop), a random horizontal flip that also negates flow's x channel. Evaluation: the centred
window (or every frame) and the centre crop.
"""

import tensorflow as tf

# area and aspect-ratio ranges of the random-resized crop, as the TF Model Garden's video recipes use them
CROP_AREA_RANGE = (0.3, 1.0)
CROP_ASPECT_RANGE = (0.5, 2.0)


def window_indices(length, num_frames, training, seed=None):
    """``num_frames`` consecutive frame indices into a video of ``length`` frames: a random start when
    ``training``, else the centred window; indices wrap around, so videos shorter than the window are looped."""
    slack = tf.maximum(length - num_frames, 0)
    if training:
        start = tf.random.uniform([], 0, slack + 1, dtype=tf.int32, seed=seed)
    else:
        start = slack // 2
    return (start + tf.range(num_frames)) % length


def normalize(clip):
    """``uint8`` (RGB values or quantised flow) -> float32 in [-1, 1]."""
    return tf.cast(clip, tf.float32) / 127.5 - 1.0


def ensure_min_side(clip, size):
    """Upscales ``clip`` (bilinear) when its shorter side is below ``size``, so a ``size`` crop fits."""
    clip = tf.convert_to_tensor(clip)
    height, width = tf.shape(clip)[1], tf.shape(clip)[2]
    short = tf.minimum(height, width)

    def upscale():
        scale = tf.cast(size, tf.float32) / tf.cast(short, tf.float32)
        new_size = tf.cast(tf.math.ceil(tf.cast(tf.stack([height, width]), tf.float32) * scale), tf.int32)
        return tf.cast(tf.image.resize(clip, new_size, method="bilinear"), clip.dtype)

    return tf.cond(short < size, upscale, lambda: clip)


def center_crop(clip, size):
    """The central ``size`` x ``size`` square of every frame."""
    clip = ensure_min_side(clip, size)
    top, left = crop_offset(tf.shape(clip)[1], tf.shape(clip)[2], size, training=False)
    return clip[:, top:top + size, left:left + size, :]


def crop_offset(height, width, size, training, seed=None):
    """``(top, left)`` of a ``size`` square inside ``height`` x ``width``: uniformly random when ``training``,
    else centred."""
    if not training:
        return (height - size) // 2, (width - size) // 2
    top = tf.random.uniform([], 0, height - size + 1, dtype=tf.int32, seed=seed)
    left = tf.random.uniform([], 0, width - size + 1, dtype=tf.int32, seed=seed)
    return top, left


def random_crop(clip, size, seed=None):
    """One random ``size`` x ``size`` square, the same for every frame."""
    clip = ensure_min_side(clip, size)
    top, left = crop_offset(tf.shape(clip)[1], tf.shape(clip)[2], size, training=True, seed=seed)
    return clip[:, top:top + size, left:left + size, :]


def random_resized_crop(clip, size, area_range=CROP_AREA_RANGE, aspect_range=CROP_ASPECT_RANGE, seed=None):
    """A random box (area fraction and aspect ratio jittered), the same for every frame, resized to ``size``."""
    shape = tf.shape(clip)
    begin, box_size, _ = tf.image.sample_distorted_bounding_box(
        shape[1:], bounding_boxes=tf.zeros([1, 0, 4]), min_object_covered=0.0, aspect_ratio_range=aspect_range,
        area_range=area_range, max_attempts=100, use_image_if_no_bounding_boxes=True, seed=seed or 0)
    crop = clip[:, begin[0]:begin[0] + box_size[0], begin[1]:begin[1] + box_size[1], :]
    return tf.cast(tf.image.resize(crop, [size, size], method="bilinear"), clip.dtype)


def flip(clip, is_flow):
    """Mirrors a clip left-right; for flow the x component changes sign too (``255 - q`` in the uint8 code,
    which is exactly ``-x`` after ``normalize``)."""
    clip = tf.reverse(clip, axis=[2])
    if is_flow:
        x = 255 - clip[..., :1] if clip.dtype == tf.uint8 else -clip[..., :1]
        clip = tf.concat([x, clip[..., 1:]], axis=-1)
    return clip


CROP_KINDS = ("center", "resize", "5", "10")


def multi_crop(clip, kind, size, is_flow):
    """The views of ``clip`` ``[T, H, W, C]`` that a feature convention takes, as ``[views, T, size, size, C]``:
    ``center`` (one centre crop), ``resize`` (the whole frame resized to ``size`` x ``size``), ``5`` (the four
    corners, then the centre) or ``10`` (those five, then their mirror images, flow's x negated)."""
    if kind not in CROP_KINDS:
        raise ValueError(f"unknown crops {kind!r}; choose one of {', '.join(CROP_KINDS)}")
    clip = tf.convert_to_tensor(clip)
    if kind == "resize":
        resized = tf.image.resize(tf.cast(clip, tf.float32), [size, size], method="bilinear")
        return tf.cast(tf.round(resized) if clip.dtype == tf.uint8 else resized, clip.dtype)[None]
    clip = ensure_min_side(clip, size)
    if kind == "center":
        return center_crop(clip, size)[None]
    height, width = tf.shape(clip)[1], tf.shape(clip)[2]
    corners = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size),
               crop_offset(height, width, size, training=False)]
    views = [clip[:, top:top + size, left:left + size, :] for top, left in corners]
    if kind == "10":
        views += [flip(view, is_flow) for view in views]
    return tf.stack(views)


def random_flip(clip, is_flow, seed=None):
    """``flip`` with probability 1/2."""
    return tf.cond(tf.random.uniform([], seed=seed) < 0.5, lambda: flip(clip, is_flow), lambda: clip)


def augment(clip, training, crop_size, is_flow, resized_crop=False, to_float=True):
    """A uint8 clip ``[T, H, W, C]`` -> ``[T, crop, crop, C]``, augmented when ``training``: float32 in [-1, 1],
    or still uint8 with ``to_float=False`` (a quarter of the bytes; normalise on the accelerator)."""
    if not training:
        clip = center_crop(clip, crop_size)
    else:
        clip = random_resized_crop(clip, crop_size) if resized_crop else random_crop(clip, crop_size)
    return finish(clip, training, is_flow, to_float)


def finish(clip, training, is_flow, to_float=True):
    """The steps after cropping: the random flip when ``training``, then ``normalize`` when ``to_float``."""
    if training:
        clip = random_flip(clip, is_flow)
    return normalize(clip) if to_float else clip
