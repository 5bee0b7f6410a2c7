"""A synthetic action data set whose classes differ only in motion: no single frame can tell them apart.

Each clip shows one two-tone shape (square, triangle, bar or cross, random colours) on a static
random-texture background. The classes are motions; every class draws the middle frame from the same distribution
(position, size and angle), so only time tells them apart. No two classes are horizontal mirror images
of each other (Kinetics training used flips): both senses of rotation share one class, and translation
directions are uniform.
"""

import os

import numpy as np

CLASSES = ("growing", "shrinking", "rotating", "sliding", "shaking", "bouncing")
SHAPES = ("square", "triangle", "bar", "cross")


def _shape_points(shape, size, angle):
    """Polygon of ``shape`` (``[N, 2]``, centred on 0) with half-size ``size`` rotated by ``angle``."""
    if shape == "square":
        points = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    elif shape == "triangle":
        t = np.array([0.5, 0.5 + 2 / 3, 0.5 + 4 / 3]) * np.pi
        points = np.stack([np.cos(t), np.sin(t)], axis=1)
    elif shape == "bar":
        points = np.array([[-1.6, -0.45], [1.6, -0.45], [1.6, 0.45], [-1.6, 0.45]])
    else:  # cross
        a, b = 1.2, 0.4
        points = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b]])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T * size


def _trajectory(label, frames, rng, size):
    """Per-frame (offset x, offset y, scale, angle offset) relative to the middle frame, for class ``label``."""
    t = np.arange(frames) - (frames - 1) / 2  # time relative to the middle frame
    zero = np.zeros(frames)
    direction = rng.uniform(0, 2 * np.pi)
    name = CLASSES[label]
    if name in ("growing", "shrinking"):
        rate = rng.uniform(0.05, 0.07) * (1 if name == "growing" else -1)
        return zero, zero, np.exp(rate * t), zero
    if name == "rotating":
        return zero, zero, np.ones(frames), rng.choice([-1, 1]) * rng.uniform(0.15, 0.25) * t
    if name == "bouncing":  # horizontal drift plus a bounce, floor below the middle position
        speed = rng.uniform(0.8, 1.2) * rng.choice([-1, 1])
        period = rng.uniform(8, 12)
        phase = rng.uniform(0, 1)
        height = size * 1.2
        bounce = -height * np.abs(np.sin(np.pi * (t / period + phase)))
        return speed * t, bounce - bounce[frames // 2], np.ones(frames), zero
    if name == "shaking":  # fast back-and-forth along a random axis
        amplitude, period = size * rng.uniform(0.35, 0.5), rng.uniform(3.5, 5)
        wobble = amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        wobble -= wobble[frames // 2]
        return wobble * np.cos(direction), wobble * np.sin(direction), np.ones(frames), zero
    speed = rng.uniform(3.0, 4.0)
    return speed * np.cos(direction) * t, speed * np.sin(direction) * t, np.ones(frames), zero


def render_clip(label, frames=16, size=112, seed=0):
    """One clip of class index ``label``: ``uint8 [frames, size, size, 3]``, deterministic in ``seed``."""
    import cv2

    rng = np.random.default_rng(seed)
    background = np.full(3, 128.0) + rng.uniform(-20, 20, size=3)
    texture = cv2.GaussianBlur(rng.normal(0, 25, (size, size, 3)), (0, 0), 2.0)
    base = np.clip(background + texture, 0, 255).astype(np.uint8)
    colour = tuple(float(c) for c in rng.choice([rng.uniform(0, 70), rng.uniform(185, 255)]) + rng.uniform(-30, 30, 3).clip(-30, 30))
    inner_colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
    shape = SHAPES[rng.integers(len(SHAPES))]
    half_size = size * rng.uniform(0.15, 0.2)
    centre = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
    angle = rng.uniform(0, 2 * np.pi)
    dx, dy, scale, spin = _trajectory(label, frames, rng, half_size)
    clip = np.empty((frames, size, size, 3), np.uint8)
    shift = 4  # sub-pixel drawing precision
    for i in range(frames):
        frame = base.copy()
        for fraction, fill in ((1.0, colour), (0.5, inner_colour)):
            points = _shape_points(shape, half_size * scale[i] * fraction, angle + spin[i]) + centre + (dx[i], dy[i])
            cv2.fillPoly(frame, [np.round(points * (1 << shift)).astype(np.int32)], fill, cv2.LINE_AA, shift)
        clip[i] = frame
    return clip


def make_dataset(clips_per_class, frames=16, size=112, seed=0):
    """``(clips uint8 [N, frames, size, size, 3], labels int [N])``, classes interleaved, deterministic."""
    labels = np.tile(np.arange(len(CLASSES)), clips_per_class)
    clips = np.stack([render_clip(int(label), frames, size, seed * 100_003 + i) for i, label in enumerate(labels)])
    return clips, labels


def single_frame_clips(clips):
    """Each clip replaced by its middle frame repeated: the same pipeline with no motion to see."""
    middle = clips[:, clips.shape[1] // 2]
    return np.repeat(middle[:, None], clips.shape[1], axis=1)


def write_video(path, frames, fps=25.0):
    """Writes RGB ``uint8`` frames ``[T, H, W, 3]`` as a video OpenCV reads back (MJPG in ``.avi``, else mp4v)."""
    import cv2

    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if str(path).endswith(".avi") else "mp4v"))
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write this video")
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path


def write_dataset(root, clips_per_class, frames=16, size=112, seed=0):
    """Writes ``make_dataset``'s clips as videos in class folders, ``root/<class>/<class>_<i>.avi`` (the layout
    ``data.datasets.from_folder`` reads); returns ``root``. Another ``seed`` gives another split."""
    clips, labels = make_dataset(clips_per_class, frames, size, seed)
    for index, (clip, label) in enumerate(zip(clips, labels)):
        name = CLASSES[label]
        os.makedirs(os.path.join(root, name), exist_ok=True)
        write_video(os.path.join(root, name, f"{name}_{index // len(CLASSES):03d}.avi"), clip)
    return root
