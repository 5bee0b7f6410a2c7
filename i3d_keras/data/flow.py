"""Optical flow as I3D's flow stream saw it: TV-L1 on grayscale frames, clipped to +-20 px, stored as uint8.

The recipe (Carreira & Zisserman 2017): frames at 25 fps, short side resized to 256, converted to grayscale
*after* the resize, TV-L1 (OpenCV contrib ``DualTVL1OpticalFlow``, default parameters) between consecutive
frames, values clipped to [-20, 20] and rescaled to [-1, 1]. The default method, ``tvl1``, is the same TV-L1 in
TensorFlow (``data.tvl1``: OpenCV's algorithm and defaults, batched and compiled by XLA, on the CPU or a GPU),
equal to OpenCV's output within OpenCV's own noise and several times faster; ``tvl1-opencv`` is OpenCV's own,
kept for comparison. We store each field quantised to uint8,
``q = round((f + 20) / 40 * 255)`` (a 0.078 px step), so a stored field ``q`` enters the model as
``q / 127.5 - 1``, the same formula as RGB. Fields are ``[H, W, 2]`` float32 pixels, x (rightwards) first.

A flow folder holds ``x_00000.png`` / ``y_00000.png`` (grayscale, one pair per consecutive frame pair) and
``flow.json`` (method, frame count, size); it is written to a temporary name and renamed, so a folder
that exists is complete; ``flow.json`` names the method that made it. ``dis`` and ``farneback`` are much faster
but are *not* what the pretrained flow weights saw.
"""

import json
import os

import numpy as np

from i3d_keras import files
from i3d_keras.data import decoding
from i3d_keras.data.tvl1 import tvl1_batch  # the default method (TensorFlow is imported when it first runs)
from i3d_keras.preprocessing import FLOW_BOUND

METHODS = ("tvl1", "tvl1-opencv", "dis", "farneback")
CHUNK = 32  # frame pairs computed together: memory stays bounded however long the video
IMAGE_FORMATS = ("png", "jpg")
INFO_FILE = "flow.json"


_cv2 = decoding._cv2  # the one lazy OpenCV import (it also quiets FFmpeg's own messages)


def folder_for(video, root):
    """The flow folder of ``video`` under ``root``: ``root/<video file name without extension>``."""
    return os.path.join(root, os.path.splitext(os.path.basename(video))[0])


def estimator(method="tvl1"):
    """A function ``(previous, following) -> flow [B, H, W, 2]`` float32 (pixels) for ``method``, taking two
    stacks of grayscale ``uint8`` frames ``[B, H, W]``."""
    if method == "tvl1":
        return tvl1_batch
    cv2 = _cv2()
    if method == "tvl1-opencv":
        calc = cv2.optflow.DualTVL1OpticalFlow_create().calc
    elif method == "dis":
        calc = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc
    elif method == "farneback":
        calc = lambda previous, following, out: cv2.calcOpticalFlowFarneback(  # noqa: E731
            previous, following, out, 0.5, 5, 15, 3, 5, 1.2, 0)
    else:
        raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}")
    return lambda previous, following: np.stack([calc(a, b, None) for a, b in zip(previous, following)])


def default_workers(method):
    """Local worker processes for ``method``: 1 for ``tvl1`` (TensorFlow runs each pair on every core, and each
    process compiles its own), else 0 (one per core, OpenCV's methods being single-threaded)."""
    return 1 if method == "tvl1" else 0


def to_gray(frame):
    """RGB ``uint8`` ``[H, W, 3]`` -> grayscale ``uint8`` ``[H, W]``."""
    cv2 = _cv2()
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def iter_flow(frames, method="tvl1", chunk=CHUNK):
    """Yields the flow ``[H, W, 2]`` (pixels) between each pair of consecutive RGB frames of ``frames``,
    computed ``chunk`` pairs at a time. Frames of another size than the first raise ``ValueError``."""
    calc = estimator(method)
    grays = []
    for index, frame in enumerate(frames):
        gray = to_gray(frame)
        if grays and gray.shape != grays[0].shape:
            raise ValueError(f"frame {index} is {gray.shape[1]}x{gray.shape[0]}, frame 0 was "
                             f"{grays[0].shape[1]}x{grays[0].shape[0]}: flow needs frames of one size")
        grays.append(gray)
        if len(grays) == chunk + 1:
            yield from calc(np.stack(grays[:-1]), np.stack(grays[1:]))
            grays = grays[-1:]
    if len(grays) > 1:
        yield from calc(np.stack(grays[:-1]), np.stack(grays[1:]))


def quantize(flow):
    """Flow in pixels -> ``uint8``: clipped to +-20 px, then ``round((f + 20) / 40 * 255)``."""
    scaled = (np.clip(flow, -FLOW_BOUND, FLOW_BOUND) + FLOW_BOUND) / (2 * FLOW_BOUND) * 255.0
    return np.round(scaled).astype(np.uint8)


def dequantize(quantized):
    """``uint8`` stored flow -> pixels (float32); the inverse of ``quantize`` up to its 0.078 px step."""
    return quantized.astype(np.float32) / 255.0 * (2 * FLOW_BOUND) - FLOW_BOUND


def video_flow(path, method="tvl1", fps=decoding.DEFAULT_FPS, short_side=decoding.SHORT_SIDE):
    """Yields the quantised flow ``[H, W, 2]`` ``uint8`` of the video at ``path``, frames decoded as DeepMind did.

    A one-frame video, or frames that change size, raise ``VideoError`` naming the file.
    """
    count = 0
    try:
        for field in iter_flow(decoding.iter_frames(path, fps=fps, short_side=short_side, crop=None), method):
            count += 1
            yield quantize(field)
    except decoding.VideoError:
        raise
    except ValueError as error:
        raise decoding.VideoError(path, str(error)) from None
    if not count:
        raise decoding.VideoError(path, "only one frame: optical flow needs at least two")


def write_flow_folder(folder, fields, method="tvl1", fps=decoding.DEFAULT_FPS, image_format="png", on_field=None):
    """Writes quantised ``fields`` (an iterable of ``[H, W, 2]`` ``uint8``) into ``folder``, atomically.

    PNG is lossless; JPEG (quality 95) is smaller and adds a small error (see the flow benchmark).
    ``on_field(count)`` is called after each field. Returns the number of fields written.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"unknown flow image format {image_format!r}; choose png or jpg")
    cv2 = _cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    count, shape = 0, None
    with files.atomic_folder(folder) as staging:
        for count, field in enumerate(fields, start=1):
            shape = field.shape[:2]
            for channel, axis in enumerate("xy"):
                name = os.path.join(staging, f"{axis}_{count - 1:05d}.{image_format}")
                encoded, image = cv2.imencode("." + image_format, field[..., channel], params)
                if not encoded:
                    raise ValueError(f"{name}: OpenCV cannot encode a {field.shape} flow field as {image_format}")
                with files.writing(folder), open(name, "wb") as out:
                    out.write(image.tobytes())
            if on_field:
                on_field(count)
        info = {"method": method, "fields": count, "fps": fps, "height": shape and shape[0], "width": shape and shape[1],
                "format": image_format, "encoding": "uint8 = round((clip(flow_px, -20, 20) + 20) / 40 * 255)"}
        with open(os.path.join(staging, INFO_FILE), "w", encoding="utf-8") as out:
            json.dump(info, out, indent=1)
    return count


def read_flow_info(folder):
    """The ``flow.json`` of a flow folder written by ``write_flow_folder`` (``OSError`` if absent); a file that
    is not JSON, or lacks what reading the folder needs, is a ``ValueError`` naming it."""
    path = os.path.join(folder, INFO_FILE)
    with open(path, encoding="utf-8") as info:
        try:
            info = json.load(info)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a flow folder's {INFO_FILE} (not JSON: {error})") from None
    problems = [] if isinstance(info, dict) else ["not a JSON object"]
    if not problems:
        if not (isinstance(info.get("fields"), int) and info["fields"] >= 0):
            problems.append("no field count")
        if info.get("format") not in IMAGE_FORMATS:
            problems.append(f"image format not one of {', '.join(IMAGE_FORMATS)}")
        if "fps" not in info or not isinstance(info["fps"], (int, float, type(None))):  # None: the native rate
            problems.append("no fps")
    if problems:
        raise ValueError(f"{path}: not a flow folder's {INFO_FILE} written by `i3d flow` ({'; '.join(problems)})")
    return info


def iter_flow_folder(folder, indices=None):
    """Yields the quantised fields ``[H, W, 2]`` ``uint8`` stored in ``folder`` one at a time (all, or ``indices``)."""
    cv2 = _cv2()
    info = read_flow_info(folder)
    for index in range(info["fields"]) if indices is None else indices:
        channels = []
        for axis in "xy":
            name = os.path.join(folder, f"{axis}_{index:05d}.{info['format']}")
            image = cv2.imread(name, cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise OSError(f"{name}: missing or unreadable flow image")
            if channels and image.shape != channels[0].shape:
                raise ValueError(f"{name}: a flow image of {image.shape[1]}x{image.shape[0]} pixels beside an x "
                                 f"image of {channels[0].shape[1]}x{channels[0].shape[0]}")
            channels.append(image)
        yield np.stack(channels, axis=-1)


def read_flow_folder(folder, indices=None):
    """The quantised flow ``[T, H, W, 2]`` ``uint8`` stored in ``folder`` (only the fields ``indices`` if given)."""
    return np.stack(list(iter_flow_folder(folder, indices)))


def flow_to_color(flow, max_magnitude=None):
    """Flow ``[H, W, 2]`` (pixels) -> RGB ``uint8`` image: hue = direction, brightness = speed (the usual wheel).

    ``max_magnitude`` (pixels) maps to full brightness; None uses the field's own maximum.
    """
    cv2 = _cv2()
    flow = np.asarray(flow, np.float32)
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    top = max_magnitude or max(float(magnitude.max()), 1e-6)
    hsv = np.zeros(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)  # OpenCV hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / top * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def color_wheel(size=64):
    """The key of ``flow_to_color``: each pixel coloured as the flow pointing from the centre to it."""
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    x, y = np.meshgrid(coords, coords)
    flow = np.stack([x, y], axis=-1) * (np.hypot(x, y) <= 1)[..., None]
    return flow_to_color(flow, max_magnitude=1.0)


def spread(length, count):
    """Up to ``count`` evenly spaced indices into a sequence of ``length`` items, first and last included."""
    return np.unique(np.linspace(0, length - 1, min(count, length)).round().astype(int))


def flow_strip(quantized):
    """A picture for humans: the fields ``quantized`` (``[T, H, W, 2]``) in colour side by side, then the colour
    wheel. Brightness is relative to the largest motion shown."""
    fields = dequantize(np.asarray(quantized))
    top = max(float(np.hypot(fields[..., 0], fields[..., 1]).max()), 1e-6)
    height = fields.shape[1]
    tiles = [flow_to_color(field, top) for field in fields] + [color_wheel(height)]
    return np.concatenate([np.pad(tile, ((0, 0), (0, 4), (0, 0)), constant_values=255) for tile in tiles], axis=1)


def write_flow_picture(folder, path, count=8):
    """Writes ``flow_strip`` of ``count`` evenly spaced fields of a flow folder as an image at ``path``."""
    quantized = read_flow_folder(folder, spread(read_flow_info(folder)["fields"], count))
    _, extension = os.path.splitext(path)
    with files.atomic_path(path, suffix=extension) as tmp:
        if not _cv2().imwrite(tmp, flow_strip(quantized)[..., ::-1]):
            raise OSError(f"{path}: cannot write image")
    return path


def compute_flow_folder(video, folder, method="tvl1", fps=decoding.DEFAULT_FPS, short_side=decoding.SHORT_SIDE,
                        image_format="png"):
    """Computes the flow of ``video`` into the flow folder ``folder`` (atomically); returns the field count."""
    files.remove_leftovers(folder)  # of a killed earlier run
    return write_flow_folder(folder, video_flow(video, method, fps, short_side), method, fps, image_format)
