"""Snippet features, the way downstream research uses I3D: fixed-length snippets at a stride, crops, two streams,
timestamps, one file per video; the communities' conventions as named presets.

Snippet ``s`` covers frames ``[s * stride, s * stride + snippet)`` of the video at ``fps`` (its native rate, or
resampled); its timestamps are ``start / fps`` and ``end / fps`` seconds. With ``last="drop"`` a partial last
snippet is dropped, so ``floor((N - snippet) / stride) + 1`` snippets come out of ``N`` frames; ``"pad"`` adds
one more snippet over the remaining frames, its missing frames repeating the last one.

A snippet's feature (endpoint ``Mixed_5c``): Mixed_5c, average pool 2x7x7 (VALID, stride 1), mean over what
remains, i.e. DeepMind's classifier input before dropout. Other endpoints: their mean over time and space.
Flow: field ``i`` is the TV-L1 flow from frame ``i`` to frame ``i + 1``, so a video of ``N`` frames has ``N - 1``
fields; the flow snippet aligned with RGB frames ``[a, b)`` takes fields ``[a, b)``, and the last frame, which has
no next frame, repeats the last field. Two streams are concatenated RGB first.
"""

import collections
import dataclasses
import io
import itertools
import json
import os

import numpy as np

from i3d_keras import __version__, files
from i3d_keras.data import decoding

SIZE = 224
LAST_POLICIES = ("drop", "pad")
LAYOUTS = ("npz", "npz+npy")  # npz+npy: also <name>_rgb.npy / <name>_flow.npy, as BMT and video_features load


@dataclasses.dataclass(frozen=True)
class SnippetOptions:
    """Everything that decides a video's snippet features."""

    snippet: int = 16
    stride: int = 16
    fps: float | None = decoding.DEFAULT_FPS  # None: the native rate
    crops: str = "center"  # see data.transforms.multi_crop
    streams: tuple = ("rgb",)
    average_crops: bool = True  # False keeps [S, crops, D]
    last: str = "drop"
    endpoint: str = "Mixed_5c"
    layout: str = "npz"

    def check(self):
        from i3d_keras.data.transforms import CROP_KINDS

        if self.snippet < 1 or self.stride < 1:
            raise ValueError(f"snippet and stride must be positive, got {self.snippet} and {self.stride}")
        if self.crops not in CROP_KINDS:
            raise ValueError(f"unknown crops {self.crops!r}; choose one of {', '.join(CROP_KINDS)}")
        if not self.streams or set(self.streams) - {"rgb", "flow"} or len(set(self.streams)) < len(self.streams):
            raise ValueError(f"streams must be rgb, flow or rgb,flow; got {','.join(self.streams)}")
        if self.last not in LAST_POLICIES or self.layout not in LAYOUTS:
            raise ValueError(f"last must be one of {LAST_POLICIES} and layout one of {LAYOUTS}")
        return self


Preset = collections.namedtuple("Preset", "options source")

PRESETS = {
    "thumos-i3d": Preset(
        SnippetOptions(snippet=16, stride=4, fps=None, crops="10", streams=("rgb", "flow")),
        "temporal action localization on THUMOS14 (ActionFormer, TriDet; the CMCS features): two streams, 16-frame "
        "snippets every 4 frames at the native 30 fps, 10 crops averaged, 2048-d (RGB then flow); snippet s sits at "
        "(s * 4 + 8) / fps seconds, the features' position formula (t * fps - 8) / 4 inverted",
    ),
    "anet-i3d": Preset(
        SnippetOptions(snippet=16, stride=16, fps=None, crops="center", streams=("rgb", "flow")),
        "temporal action localization on ActivityNet-1.3: two streams, 16-frame snippets every 16 frames at the "
        "native rate, centre crop, 2048-d (RGB then flow)",
    ),
    "bmt": Preset(
        SnippetOptions(snippet=24, stride=24, fps=25.0, crops="center", streams=("rgb", "flow"), layout="npz+npy"),
        "dense video captioning (BMT, MDVC): two streams at 25 fps, 24-frame snippets every 24 frames, centre crop; "
        "<name>_rgb.npy and <name>_flow.npy [S, 1024] as those models load them",
    ),
    "video-features": Preset(
        SnippetOptions(snippet=64, stride=64, fps=None, crops="center", streams=("rgb", "flow"), layout="npz+npy"),
        "the video_features extractor's I3D defaults: 64-frame stacks every 64 frames at the native rate, the "
        "partial last stack dropped, RGB and flow as separate arrays [S, 1024] (<name>_rgb.npy, <name>_flow.npy) "
        "with fps and per-stack timestamps in the .npz",
    ),
}


def snippet_starts(frames, snippet, stride, last="drop"):
    """The first frame of every snippet of a video of ``frames`` frames (see the module docstring)."""
    starts = list(range(0, frames - snippet + 1, stride))
    if last == "pad" and frames > (starts[-1] + snippet if starts else 0):  # frames no snippet covers
        starts.append(starts[-1] + stride if starts else 0)
    return starts


def snippet_timestamps(starts, snippet, fps, frames):
    """``[S, 2]`` start and end (seconds) of each snippet; a padded last snippet ends with the video."""
    starts = np.asarray(starts, np.float64)
    return np.stack([starts, np.minimum(starts + snippet, frames)], axis=-1).reshape(-1, 2) / fps


def iter_snippets(items, snippet, stride, last="drop"):
    """Yields ``(start, [snippet items])`` from a stream of frames (or pairs of frames and flow fields) in bounded
    memory, in the order of ``snippet_starts``; the last element yielded is ``(None, frame count)``."""
    window = collections.deque(maxlen=snippet)
    start, count, covered = 0, 0, 0
    for count, item in enumerate(items, start=1):
        window.append(item)
        if count == start + snippet:
            yield start, list(window)
            start, covered = start + stride, count
    if last == "pad" and count > covered:
        tail = list(window)[-(count - start):]
        yield start, tail + tail[-1:] * (snippet - len(tail))
    yield None, count


def feature_model(weights, modality, endpoint="Mixed_5c", dtype=None):
    """The snippet feature extractor of one stream: ``[batch, T, 224, 224, C]`` in [-1, 1] -> ``[batch, D]``."""
    import keras

    from i3d_keras.functional import LeanFunctional
    from i3d_keras.model import I3D, MODALITY_CHANNELS

    if endpoint != "Mixed_5c":
        return I3D(weights=weights, modality=modality, include_top=False, final_endpoint=endpoint, pooling="avg", dtype=dtype)
    full = I3D(weights=weights, modality=modality, input_shape=(None, SIZE, SIZE, MODALITY_CHANNELS[modality]), dtype=dtype)
    pooled = keras.layers.GlobalAveragePooling3D(name="snippet_mean", dtype="float32")(full.get_layer("Logits_avg_pool").output)
    return LeanFunctional(full.input, pooled, name=f"{full.name}_snippet_features")


def _flow_items(path, options, flow_root):
    """The flow fields of the video, one per RGB frame (the last field repeated for the last frame)."""
    from i3d_keras.data import flow

    folder = flow.folder_for(path, flow_root) if flow_root else None
    if folder and os.path.exists(os.path.join(folder, flow.INFO_FILE)):
        stored = flow.read_flow_info(folder)["fps"]
        if stored != options.fps:
            raise ValueError(f"{folder}: flow computed at {stored or 'the native'} fps, snippets at "
                             f"{options.fps or 'the native'} fps (i3d flow --fps)")
        fields = flow.iter_flow_folder(folder)
    else:
        fields = flow.video_flow(path, fps=options.fps, short_side=decoding.SHORT_SIDE)
    last = None
    for last in fields:
        yield last
    if last is not None:
        yield last


def _video_fps(path, options):
    if options.fps:
        return float(options.fps)
    capture, native = decoding.open_video(path)
    capture.release()
    if not native:
        raise decoding.VideoError(path, "the frame rate is unknown; give a rate (--fps) instead of the native one")
    return float(native)


class _Batcher:
    """Runs the views of many snippets through a stream's model, ``batch_size`` clips per graph call."""

    def __init__(self, model, batch_size, average_crops):
        from i3d_keras import inference

        self.call, self.batch_size, self.average_crops = inference.forward(model), batch_size, average_crops
        self.pending, self.features = [], []  # features: one [D] (crops averaged) or [crops, D] per snippet

    def add(self, views):
        self.pending.append(views)
        if sum(len(v) for v in self.pending) >= self.batch_size:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        from i3d_keras.preprocessing import preprocess_input

        clips = np.concatenate(self.pending)
        outputs = np.asarray(self.call(preprocess_input(clips)), np.float32)
        per_snippet = np.split(outputs, np.cumsum([len(v) for v in self.pending])[:-1])
        self.features += [views.mean(axis=0) if self.average_crops else views for views in per_snippet]
        self.pending = []


def _in_step(path, streams):
    """Tuples of one item per stream; a stream that ends before the others is an error naming the video."""
    missing = object()
    for items in itertools.zip_longest(*streams, fillvalue=missing):
        if any(item is missing for item in items):
            raise ValueError(f"{path}: the flow does not have one field per frame at this rate (a flow folder of "
                             "another video or frame rate?)")
        yield items


def extract(path, models, options, flow_root=None, batch_size=8, on_snippet=None):
    """Snippet features of the video at ``path``: ``{"features": [S, D] or [S, crops, D], "per_stream": {stream:
    ...}, "timestamps": [S, 2], "fps", "frames"}``. ``models``: ``{stream: feature_model(...)}``."""
    from i3d_keras.data.transforms import multi_crop

    options.check()
    fps = _video_fps(path, options)
    rgb = decoding.iter_frames(path, fps=options.fps, short_side=decoding.SHORT_SIDE, crop=None)
    streams = {"rgb": rgb} if "rgb" in options.streams else {}
    if "flow" in options.streams:
        streams["flow"] = _flow_items(path, options, flow_root)
        if "rgb" not in options.streams:  # the frames still set the snippets' length; flow has one per frame
            streams = {"frames": rgb, "flow": streams["flow"]}
    items = _in_step(path, streams.values())
    batchers = {stream: _Batcher(models[stream], batch_size, options.average_crops) for stream in options.streams}
    starts = []
    for start, snippet in iter_snippets(items, options.snippet, options.stride, options.last):
        if start is None:
            frames = snippet
            break
        starts.append(start)
        for position, name in enumerate(streams):
            if name == "frames":
                continue
            clip = np.stack([item[position] for item in snippet])
            batchers[name].add(np.asarray(multi_crop(clip, options.crops, SIZE, is_flow=name == "flow")))
        if on_snippet:
            on_snippet(len(starts))
    if not starts:
        raise decoding.VideoError(path, f"{frames} frames at {fps:g} fps: shorter than one {options.snippet}-frame "
                                  "snippet (use --last pad)")
    per_stream = {}
    for name, batcher in batchers.items():
        batcher.flush()
        per_stream[name] = np.stack(batcher.features)  # [S, D] or [S, crops, D]
    return {"features": np.concatenate([per_stream[s] for s in options.streams], axis=-1), "per_stream": per_stream,
            "timestamps": snippet_timestamps(starts, options.snippet, fps, frames), "fps": fps, "frames": frames}


def output_paths(out, name, options):
    """The files one video's features go to: ``<name>.npz`` last (it marks the video as done)."""
    paths = [os.path.join(out, f"{name}_{stream}.npy") for stream in options.streams] if options.layout == "npz+npy" else []
    return paths + [os.path.join(out, f"{name}.npz")]


def save(out, name, result, options, source, weights):
    """Writes one video's features (atomically, the ``.npz`` last); returns the ``.npz`` path."""
    paths = output_paths(out, name, options)
    for stream, path in zip(options.streams, paths[:-1]):
        files.save_npy(path, result["per_stream"][stream].astype(np.float32))
    buffer = io.BytesIO()
    np.savez(buffer, features=result["features"].astype(np.float32), timestamps=result["timestamps"],
             fps=np.float64(result["fps"]), frames=np.int64(result["frames"]), snippet=np.int64(options.snippet),
             stride=np.int64(options.stride), crops=np.str_(options.crops), average_crops=np.bool_(options.average_crops),
             streams=np.str_(",".join(options.streams)), endpoint=np.str_(options.endpoint), last=np.str_(options.last),
             weights=np.str_(json.dumps(weights)), source=np.str_(source), version=np.str_(__version__))
    files.write_bytes(paths[-1], buffer.getvalue())
    return paths[-1]


def write_index(out):
    """``<out>/index.json``: every video's ``.npz`` in ``out`` with its source, snippets, frames, fps and feature
    shape, rebuilt from the files (so it is right after any resume)."""
    entries = {}
    for name in sorted(os.listdir(out)):
        if name.endswith(".npz") and not name.startswith("."):
            with np.load(os.path.join(out, name), allow_pickle=False) as data:
                if "features" not in data.files:
                    continue
                entries[name] = {"source": str(data["source"]), "snippets": int(data["features"].shape[0]),
                                 "shape": list(data["features"].shape), "frames": int(data["frames"]),
                                 "fps": float(data["fps"]), "snippet": int(data["snippet"]), "stride": int(data["stride"]),
                                 "crops": str(data["crops"]), "streams": str(data["streams"])}
    path = os.path.join(out, "index.json")
    files.write_bytes(path, json.dumps(entries, indent=1).encode())
    return path
