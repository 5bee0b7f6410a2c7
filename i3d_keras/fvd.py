"""Fréchet Video Distance (Unterthiner et al., 2018), exactly as the original computes it, and the other protocols
in use, named.

The original (google-research ``frechet_video_distance`` with tf-gan's ``classifier_metrics``) on TF-Hub's
``i3d-kinetics-400``, which ``I3D(weights="kinetics400")`` reproduces to 1e-5:

- videos ``[batch, T, H, W, 3]`` with values 0..255; every frame resized to 224x224 by TF1's bilinear resize
  (``ResizeBilinear``, ``align_corners=False, half_pixel_centers=False``), no crop; then ``2 * x / 255 - 1``;
- embedding: the module's ``default`` output, the 400 Kinetics logits averaged over time (before softmax);
- distance, in float64: ``|mu_r - mu_g|^2 + Tr(S_r) + Tr(S_g) - 2 Tr(sqrt(A S_g A))`` with ``A = sqrt(S_r)``,
  covariances over N - 1, both square roots of symmetric matrices by SVD, singular values below 1e-10 left as they
  are; returned as float32.

Statistics stream: any number of videos in bounded memory, kept as count, mean and the sum of squared deviations
in float64 (merged by Chan et al.'s pairwise rule), saved and loaded as ``.npz``.
"""

import dataclasses
import os

import keras
import numpy as np

from i3d_keras import files

EMBEDDING_SIZE = 400
SIZE = 224
SVD_EPSILON = 1e-10
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One way of computing FVD. Everything that changes the number is a field here."""

    name: str
    resize: str  # "legacy": TF1 bilinear to 224x224 | "bilinear": half-pixel bilinear to 224x224 | "short_side_crop"
    value_range: tuple  # what 0 and 255 map to
    num_frames: int | None  # frames per clip; None: the frames as given
    clip_start: str  # "first" frames, or a "random" offset per video (seeded)
    ddof: int  # covariance over N - ddof
    square_root: str  # "svd" (the original's rule) or "sqrtm" (scipy.linalg.sqrtm of S_r S_g)
    videos: int | None  # videos per side the protocol reports with (None: not fixed)
    source: str


PROTOCOLS = {
    protocol.name: protocol
    for protocol in (
        Protocol("original", "legacy", (-1.0, 1.0), None, "first", 1, "svd", None,
                 "Unterthiner et al. 2018: google-research/frechet_video_distance (TF1 + TF-Hub i3d-kinetics-400) "
                 "with tf-gan classifier_metrics.frechet_classifier_distance_from_activations; the reference's "
                 "batches of 16 are an implementation limit, not part of the metric"),
        Protocol("stylegan-v", "bilinear", (-1.0, 1.0), 16, "random", 0, "sqrtm", 2048,
                 "Skorokhodov et al. 2022 (StyleGAN-V), fvd2048_16f: 2048 real and 2048 generated clips of 16 "
                 "frames, one clip per real video at a random offset, uint8 resized inside the detector (half-pixel "
                 "bilinear, PyTorch's align_corners=False), population covariance, scipy.linalg.sqrtm"),
        Protocol("videogpt", "short_side_crop", (-0.5, 0.5), 16, "first", 1, "svd", None,
                 "Yan et al. 2021 (VideoGPT), followed by TATS: short side resized to 224 and a centre crop; the "
                 "published code feeds the detector values in [-0.5, 0.5] instead of [-1, 1], a known deviation "
                 "kept here so its numbers can be reproduced"),
    )
}


def get_protocol(protocol):
    """A ``Protocol`` from its name (``PROTOCOLS``) or itself."""
    if isinstance(protocol, Protocol):
        return protocol
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown FVD protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]


# -- the distance ---------------------------------------------------------------------------------------------

def symmetric_sqrt(matrix, epsilon=SVD_EPSILON):
    """The square root of a symmetric positive semi-definite matrix by SVD, as tf-gan takes it: singular values
    below ``epsilon`` are left as they are, the others square-rooted."""
    u, s, vh = np.linalg.svd(matrix)
    return (u * np.where(s < epsilon, s, np.sqrt(s))) @ vh


def frechet_distance_from_statistics(real, fake, protocol="original"):
    """FVD between two ``Statistics`` (float; computed in float64, rounded to float32 as the original returns)."""
    protocol = get_protocol(protocol)
    if real.dimension != fake.dimension:
        raise ValueError(f"statistics of {real.dimension}- and {fake.dimension}-dimensional embeddings")
    for side in (real, fake):
        if side.count < 2:
            raise ValueError(f"FVD needs at least 2 videos per side, got {side.count}")
    s_r, s_g = real.covariance(protocol.ddof), fake.covariance(protocol.ddof)
    if protocol.square_root == "svd":
        sqrt_r = symmetric_sqrt(s_r)
        trace_sqrt_product = np.trace(symmetric_sqrt(sqrt_r @ s_g @ sqrt_r))
    else:
        import scipy.linalg

        trace_sqrt_product = np.trace(scipy.linalg.sqrtm(s_r @ s_g).real)
    mean_term = np.sum((real.mean - fake.mean) ** 2)
    return float(np.float32(mean_term + np.trace(s_r) + np.trace(s_g) - 2 * trace_sqrt_product))


def frechet_distance(real_embeddings, fake_embeddings, protocol="original"):
    """FVD between two embedding arrays ``[N, D]``."""
    return frechet_distance_from_statistics(Statistics.of(real_embeddings), Statistics.of(fake_embeddings), protocol)


def merge_moments(count_a, mean_a, m2_a, count_b, mean_b, m2_b, outer):
    """Chan et al.'s pairwise update of (count, mean, sum of squared deviations); works on numpy and TF values."""
    count = count_a + count_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / count)
    m2 = m2_a + m2_b + outer(delta, delta) * (count_a * count_b / count)
    return count, mean, m2


@dataclasses.dataclass
class Statistics:
    """Count, mean and sum of squared deviations (``m2``) of embeddings, in float64; ``covariance(ddof)``."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    protocol: str = ""

    @classmethod
    def empty(cls, dimension=EMBEDDING_SIZE, protocol=""):
        return cls(0, np.zeros(dimension), np.zeros((dimension, dimension)), protocol)

    @classmethod
    def of(cls, embeddings, protocol=""):
        embeddings = np.asarray(embeddings, np.float64)
        if embeddings.ndim != 2 or not len(embeddings):
            raise ValueError(f"embeddings must be a non-empty [N, D] array, got shape {embeddings.shape}")
        mean = embeddings.mean(axis=0)
        centred = embeddings - mean
        return cls(len(embeddings), mean, centred.T @ centred, protocol)

    @property
    def dimension(self):
        return len(self.mean)

    def covariance(self, ddof=1):
        return self.m2 / (self.count - ddof)

    def merge(self, other):
        """The statistics of both sets together."""
        if not other.count:
            return Statistics(self.count, self.mean, self.m2, self.protocol)
        if not self.count:
            return Statistics(other.count, other.mean, other.m2, self.protocol or other.protocol)
        count, mean, m2 = merge_moments(self.count, self.mean, self.m2, other.count, other.mean, other.m2, np.outer)
        return Statistics(count, mean, m2, self.protocol or other.protocol)

    def add(self, embeddings):
        """Merges a batch of embeddings ``[n, D]`` in; returns ``self``."""
        merged = self.merge(Statistics.of(embeddings))
        self.count, self.mean, self.m2 = merged.count, merged.mean, merged.m2
        return self

    def save(self, path):
        """Writes ``.npz`` (``count``, ``mean``, ``m2``, ``protocol``) atomically; no pickles."""
        import io

        buffer = io.BytesIO()
        np.savez(buffer, count=np.int64(self.count), mean=self.mean, m2=self.m2, protocol=np.str_(self.protocol))
        files.write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as data:
            if not {"count", "mean", "m2"} <= set(data.files):
                raise ValueError(f"{path}: not FVD statistics (needs arrays count, mean, m2)")
            protocol = str(data["protocol"]) if "protocol" in data.files else ""
            return cls(int(data["count"]), data["mean"].astype(np.float64), data["m2"].astype(np.float64), protocol)

    @staticmethod
    def is_statistics_file(path):
        if not str(path).endswith(".npz") or not os.path.isfile(path):
            return False
        with np.load(path, allow_pickle=False) as data:
            return {"count", "mean", "m2"} <= set(data.files)


# -- videos in, embeddings out ---------------------------------------------------------------------------------

def preprocess(videos, protocol="original"):
    """Videos ``[batch, T, H, W, 3]`` (uint8, or floats in [0, 255]) -> float32 ``[batch, T, 224, 224, 3]`` in the
    protocol's value range, resized by the protocol's rule. TensorFlow ops (graph-safe)."""
    import tensorflow as tf

    protocol = get_protocol(protocol)
    videos = tf.convert_to_tensor(videos)
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0))
    if protocol.resize == "legacy":  # TF1's tf.image.resize_bilinear, on the input's own dtype as the original
        frames = tf.raw_ops.ResizeBilinear(images=frames, size=[SIZE, SIZE], align_corners=False,
                                           half_pixel_centers=False)
    elif protocol.resize == "bilinear":
        frames = tf.image.resize(tf.cast(frames, tf.float32), [SIZE, SIZE], method="bilinear")
    else:  # short side to 224, centre crop
        height, width = tf.cast(shape[2], tf.float32), tf.cast(shape[3], tf.float32)
        scale = SIZE / tf.minimum(height, width)
        new_size = tf.cast(tf.round(tf.stack([height * scale, width * scale])), tf.int32)
        frames = tf.image.resize(tf.cast(frames, tf.float32), new_size, method="bilinear")
        frames = tf.image.crop_to_bounding_box(frames, (new_size[0] - SIZE) // 2, (new_size[1] - SIZE) // 2, SIZE, SIZE)
    low, high = protocol.value_range
    scaled = (high - low) * tf.cast(frames, tf.float32) / 255.0 + low  # the original: 2 * x / 255 - 1
    return tf.reshape(scaled, tf.concat([shape[:2], [SIZE, SIZE, 3]], axis=0))


def detector(dtype=None):
    """The FVD detector: ``I3D(weights="kinetics400")`` (TF-Hub's ``i3d-kinetics-400``), any clip length."""
    from i3d_keras.model import I3D

    return I3D(weights="kinetics400", input_shape=(None, SIZE, SIZE, 3), dtype=dtype)


def _select_frames(video, protocol, num_frames, rng, name):
    count = num_frames or protocol.num_frames
    if count is None:
        return video
    if len(video) < count:
        raise ValueError(f"{name}: {len(video)} frames, the protocol takes {count}")
    start = int(rng.integers(0, len(video) - count + 1)) if protocol.clip_start == "random" else 0
    return video[start:start + count]


def _video_files(folder):
    names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    return [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]


def _read_file(path):
    """The videos ``[N, T, H, W, 3]`` in a ``.npy`` / ``.npz`` array file (one video ``[T, H, W, 3]`` too), or the
    frames of a video file (RGB, native rate and size)."""
    if path.endswith(ARRAY_SUFFIXES):
        loaded = np.load(path, allow_pickle=False)
        if path.endswith(".npz"):
            with loaded:
                loaded = loaded[loaded.files[0]]
        array = np.asarray(loaded)
        if array.ndim == 4:
            array = array[None]
        if array.ndim != 5 or array.shape[-1] != 3:
            raise ValueError(f"{path}: expected videos [N, T, H, W, 3] or [T, H, W, 3], got shape {array.shape}")
        return array
    from i3d_keras.data import decoding

    return np.stack(list(decoding.iter_frames(path, fps=None, short_side=None, crop=None)))[None]


def iter_videos(videos, on_error=None):
    """Single videos ``(name, [T, H, W, 3])`` from: a ``[N, T, H, W, 3]`` array, a ``tf.data.Dataset`` or an
    iterable of such batches (or of single videos), a folder of video files or ``.npy``/``.npz`` arrays, or one
    array file. A file that cannot be read goes to ``on_error(path, error)`` (raises when None)."""
    if isinstance(videos, (str, os.PathLike)):
        path = os.fspath(videos)
        paths = _video_files(path) if os.path.isdir(path) else [path]
        for path in paths:
            try:
                batch = _read_file(path)
            except (ValueError, OSError) as error:
                if on_error is None:
                    raise
                on_error(path, error)
                continue
            for index, video in enumerate(batch):
                yield (f"{path}[{index}]" if len(batch) > 1 else path), video
        return
    if hasattr(videos, "as_numpy_iterator"):
        videos = videos.as_numpy_iterator()
    if isinstance(videos, np.ndarray) and videos.ndim in (4, 5):
        videos = [videos]
    number = 0
    for batch in videos:
        batch = np.asarray(batch)
        for video in batch if batch.ndim == 5 else [batch]:
            yield f"video {number}", video
            number += 1


def iter_embeddings(videos, protocol="original", model=None, batch_size=16, num_frames=None, max_videos=None,
                    seed=0, on_error=None, on_video=None):
    """Yields embedding batches ``[n, 400]`` (float64) of ``videos`` (see ``iter_videos``), ``batch_size`` clips
    per graph call; clips of other shapes go in separate calls. ``on_video(count)`` after each batch."""
    from i3d_keras import inference

    protocol = get_protocol(protocol)
    call = inference.forward(model or detector())
    rng = np.random.default_rng(seed)
    pending, done = [], 0

    def run(clips):
        return np.asarray(call(preprocess(np.stack(clips), protocol)), np.float64)

    for name, video in iter_videos(videos, on_error):
        if max_videos is not None and done + len(pending) >= max_videos:
            break
        try:
            clip = _select_frames(video, protocol, num_frames, rng, name)
        except ValueError as error:
            if on_error is None:
                raise
            on_error(name, error)
            continue
        if pending and (clip.shape != pending[0].shape or len(pending) == batch_size):
            yield run(pending)
            done += len(pending)
            pending = []
            if on_video:
                on_video(done)
        pending.append(clip)
    if pending:
        yield run(pending)
        if on_video:
            on_video(done + len(pending))


def embeddings(videos, protocol="original", **options):
    """The detector's embeddings ``[N, 400]`` of ``videos`` under ``protocol`` (options: see ``iter_embeddings``)."""
    batches = list(iter_embeddings(videos, protocol, **options))
    return np.concatenate(batches) if batches else np.zeros((0, EMBEDDING_SIZE))


def statistics(videos, protocol="original", **options):
    """``Statistics`` of ``videos`` in one streaming pass, in bounded memory (options: see ``iter_embeddings``)."""
    protocol = get_protocol(protocol)
    result = Statistics.empty(protocol=protocol.name)
    for batch in iter_embeddings(videos, protocol, **options):
        result.add(batch)
    return result


def fvd(real_videos, fake_videos, protocol="original", **options):
    """FVD between two sets of videos (each as ``iter_videos`` takes them, or ``Statistics``)."""
    protocol = get_protocol(protocol)
    model = options.pop("model", None)
    sides = []
    for videos in (real_videos, fake_videos):
        if not isinstance(videos, Statistics):
            model = model or detector()
            videos = statistics(videos, protocol, model=model, **options)
        sides.append(videos)
    return frechet_distance_from_statistics(*sides, protocol)


# -- a Keras metric ---------------------------------------------------------------------------------------------

class FrechetVideoDistance(keras.metrics.Metric):
    """FVD of the generated videos seen by ``update_state`` against fixed real statistics (``Statistics`` or a
    saved ``.npz``), usable in a video generator's ``model.fit`` / ``evaluate`` (TensorFlow backend).

    ``update_state(videos)``, or ``update_state(y_true, y_pred)`` as ``compile(metrics=[...])`` calls it (the
    generated videos are ``y_pred``; ``y_true`` is ignored): uint8 or [0, 255] videos ``[batch, T, H, W, 3]``,
    embedded by the protocol's rule and accumulated in float64 (the protocol's first ``num_frames``);
    ``result()``: FVD as ``frechet_distance_from_statistics`` computes it.
    """

    def __init__(self, real_statistics, protocol="original", model=None, name="fvd", **kwargs):
        super().__init__(name=name, **kwargs)
        self.protocol = get_protocol(protocol)
        self.real = real_statistics if isinstance(real_statistics, Statistics) else Statistics.load(real_statistics)
        self.detector = model or detector()
        size = self.real.dimension
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="count")
        self.mean = self.add_variable(shape=(size,), initializer="zeros", dtype="float64", name="mean")
        self.m2 = self.add_variable(shape=(size, size), initializer="zeros", dtype="float64", name="m2")

    def update_state(self, y_true, y_pred=None, sample_weight=None):
        import tensorflow as tf

        videos = y_true if y_pred is None else y_pred
        if self.protocol.num_frames:
            videos = videos[:, :self.protocol.num_frames]
        batch = tf.cast(self.detector(preprocess(videos, self.protocol), training=False), tf.float64)
        batch_mean = tf.reduce_mean(batch, axis=0)
        centred = batch - batch_mean
        moments = merge_moments(self.count, self.mean, self.m2, tf.cast(tf.shape(batch)[0], tf.float64), batch_mean,
                                tf.matmul(centred, centred, transpose_a=True), lambda a, b: tf.tensordot(a, b, axes=0))
        for variable, value in zip((self.count, self.mean, self.m2), moments):
            variable.assign(value)

    def result(self):
        import tensorflow as tf

        def distance(count, mean, m2):
            return np.float32(frechet_distance_from_statistics(self.real, Statistics(int(count), mean, m2), self.protocol))

        return tf.numpy_function(distance, [self.count, self.mean, self.m2], tf.float32, stateful=False)

    def reset_state(self):
        for variable in (self.count, self.mean, self.m2):
            variable.assign(np.zeros(variable.shape))
