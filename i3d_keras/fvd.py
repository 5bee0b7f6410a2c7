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

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import zipfile

import keras
import numpy as np

from i3d_keras import files

log = logging.getLogger(__name__)
EMBEDDING_SIZE = 400
SIZE = 224
SVD_EPSILON = 1e-10
ROUNDING = 1e-6  # a negative FVD within this fraction of Tr(S_r) + Tr(S_g) is rounding and reads 0.0
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One way of computing FVD, as one family of papers' code computes it. Everything that changes the number is
    a field here; ``source`` says where each fact was read."""

    name: str
    resize: str  # "legacy": TF1 bilinear to 224x224 | "bilinear": half-pixel bilinear to 224x224 (PyTorch's
    # align_corners=False) | "short_side_crop": half-pixel bilinear of the short side to 224, the long side to
    # ceil(long * 224 / short) in float64, then the centre 224x224 (VideoGPT's data.preprocess)
    value_range: tuple  # what 0 and 255 map to
    num_frames: int | None  # frames per clip; None: the frames as given
    clip_start: str  # "first" frames, or a "random" offset per video (seeded)
    ddof: int  # covariance over N - ddof
    square_root: str  # "svd" (the original's rule) or "sqrtm" (Tr sqrtm(S_r S_g), as scipy.linalg.sqrtm: see
    # trace_sqrt_product)
    epsilon: float  # the detector's batch-norm epsilon (I3D(batch_norm_epsilon=...)); the weights are the same
    videos: int | None  # videos per side the protocol reports with (None: not fixed)
    source: str


DEEPMIND = 1e-3  # the batch-norm epsilon of DeepMind's I3D, TF-Hub's module and piergiaj/pytorch-i3d
VIDEOGPT_I3D = 1e-5  # VideoGPT's videogpt/fvd/pytorch_i3d.py builds every BatchNorm3d with eps=1e-5; TATS
# (tats/fvd/pytorch_i3d.py) and content-debiased-fvd (cdfvd/third_party/i3d/pytorch_i3d.py) copy it

PROTOCOLS = {
    protocol.name: protocol
    for protocol in (
        Protocol("original", "legacy", (-1.0, 1.0), None, "first", 1, "svd", DEEPMIND, None,
                 "Unterthiner et al. 2018: google-research/frechet_video_distance (TF1 + TF-Hub i3d-kinetics-400) "
                 "with tf-gan classifier_metrics.frechet_classifier_distance_from_activations; the reference's "
                 "batches of 16 are an implementation limit, not part of the metric"),
        Protocol("stylegan-v", "bilinear", (-1.0, 1.0), 16, "random", 0, "sqrtm", DEEPMIND, 2048,
                 "Skorokhodov et al. 2022 (StyleGAN-V), fvd2048_16f: 2048 real and 2048 generated clips of 16 "
                 "frames, one clip per real video at a random offset, uint8 resized inside the detector "
                 "(i3d_torchscript.pt: half-pixel bilinear, PyTorch's align_corners=False, batch norm of TF-Hub's "
                 "module), population covariance, scipy.linalg.sqrtm"),
        Protocol("videogpt", "short_side_crop", (-0.5, 0.5), 16, "random", 1, "svd", VIDEOGPT_I3D, 256,
                 "Yan et al. 2021 (VideoGPT): scripts/compute_fvd.py embeds 256 clips of 16 frames per side from a "
                 "shuffled loader; videogpt/data.py preprocess resizes the short side to 224 (long side by ceil), "
                 "centre-crops and maps to [-0.5, 0.5] (not the detector's [-1, 1]: kept so its numbers can be "
                 "reproduced); videogpt/fvd/pytorch_i3d.py batch norm eps 1e-5; videogpt/fvd/fvd.py covariance "
                 "over N - 1 and tf-gan's SVD square roots"),
        Protocol("tats", "bilinear", (-1.0, 1.0), 16, "random", 1, "svd", VIDEOGPT_I3D, 2048,
                 "Ge et al. 2022 (TATS): tats/fvd/fvd.py preprocess resizes every frame straight to 224x224 "
                 "(F.interpolate bilinear, align_corners=False, aspect not kept, no crop) and maps to [-1, 1]; "
                 "VideoGPT's I3D (batch norm eps 1e-5), covariance over N - 1 and SVD square roots; "
                 "scripts/sample_vqgan_transformer_short_videos.py: 2048 clips of 16 frames from a shuffled loader"),
        Protocol("cd-fvd", "bilinear", (-1.0, 1.0), 16, "random", 0, "sqrtm", VIDEOGPT_I3D, 2048,
                 "Ge et al. 2024 (content-debiased-fvd, model='i3d'): cdfvd/third_party/i3d/utils.py "
                 "preprocess_i3d as TATS (224x224 bilinear, [-1, 1]) on VideoGPT's I3D (eps 1e-5); "
                 "cdfvd/utils/metric_utils.py population covariance, cdfvd/fvd.py scipy.linalg.sqrtm; n_fake 2048 "
                 "clips of 16 frames"),
        Protocol("cmvq-styleganv", "short_side_crop", (-1.0, 1.0), None, "first", 1, "sqrtm", DEEPMIND, None,
                 "JunyaoHu/common_metrics_on_video_quality, method 'styleganv' (fvd/styleganv/fvd.py): the given "
                 "frames, VideoGPT's short-side resize and centre crop on [0, 1] values mapped to [-1, 1], "
                 "StyleGAN-V's i3d_torchscript.pt (rescale and resize off), np.cov (N - 1) and scipy.linalg.sqrtm"),
        Protocol("cmvq-videogpt", "short_side_crop", (-1.0, 1.0), None, "first", 1, "svd", VIDEOGPT_I3D, None,
                 "JunyaoHu/common_metrics_on_video_quality, method 'videogpt' (fvd/videogpt/fvd.py): the given "
                 "frames as uint8, VideoGPT's preprocess doubled to [-1, 1], VideoGPT's I3D (eps 1e-5), "
                 "covariance over N - 1 and SVD square roots"),
    )
}

# a manifest made before a field existed was computed with this value of it
FIELDS_BEFORE_THEY_EXISTED = {"epsilon": DEEPMIND}


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


def trace_sqrt_product(s_r, s_g):
    """``Tr(sqrtm(S_r S_g))`` (what ``scipy.linalg.sqrtm`` gives) in the equivalent symmetric form
    ``Tr(sqrt(A S_g A))``, ``A = sqrt(S_r)``: the two products have the same eigenvalues, and symmetric
    eigendecompositions (negative rounding clipped to 0) give the same value on every numpy and scipy, where
    ``sqrtm`` of a singular product changed between scipy releases."""
    eigenvalues, vectors = np.linalg.eigh(s_r)
    root = (vectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T
    product = root @ s_g @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum())


def frechet_distance_from_statistics(real, fake, protocol="original"):
    """FVD between two ``Statistics`` (float; computed in float64, rounded to float32 as the original returns).

    Identical statistics give exactly 0.0 (and a negative value within rounding, ``ROUNDING``, reads 0.0). Fewer
    videos than the embedding size + 1 on a side (a singular covariance, so a number that depends on the count)
    is logged as a warning naming the count; a result that is not finite or is negative raises ``ValueError``
    instead of being returned."""
    protocol = get_protocol(protocol)
    if real.dimension != fake.dimension:
        raise ValueError(f"statistics of {real.dimension}- and {fake.dimension}-dimensional embeddings")
    for name, side in (("real", real), ("generated", fake)):
        if side.count < 2:
            raise ValueError(f"FVD needs at least 2 videos per side, got {side.count}")
        if side.count < side.dimension + 1:
            log.warning("FVD on %d %s videos: fewer than %d, so their covariance is singular and the number depends "
                        "on the count (report FVD with at least %d, or the protocol's count)", side.count, name,
                        side.dimension + 1, side.dimension + 1)
    if real.count == fake.count and np.array_equal(real.mean, fake.mean) and np.array_equal(real.m2, fake.m2):
        return 0.0
    s_r, s_g = real.covariance(protocol.ddof), fake.covariance(protocol.ddof)
    if protocol.square_root == "svd":
        sqrt_r = symmetric_sqrt(s_r)
        trace_root = np.trace(symmetric_sqrt(sqrt_r @ s_g @ sqrt_r))
    else:
        trace_root = trace_sqrt_product(s_r, s_g)
    mean_term = np.sum((real.mean - fake.mean) ** 2)
    scale = np.trace(s_r) + np.trace(s_g)
    distance = float(np.float32(mean_term + scale - 2 * trace_root))
    if -ROUNDING * scale <= distance < 0:  # the same videos in another order: rounding, not a distance
        distance = 0.0
    if not np.isfinite(distance) or distance < 0:
        raise ValueError(f"FVD came out as {distance}, which is not a distance: the statistics hold non-finite "
                         f"values or are corrupt (traces {np.trace(s_r):g} and {np.trace(s_g):g})")
    return distance


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


MANIFEST_FORMAT = "i3d-keras FVD statistics 1"


def protocol_record(protocol):
    """Every field of ``protocol`` as JSON data (what a manifest records and what loading compares)."""
    record = dataclasses.asdict(get_protocol(protocol))
    return {key: list(value) if isinstance(value, tuple) else value for key, value in record.items()}


def detector_digest(model):
    """The sha256 of a detector's weight values (in order): which weights made the embeddings, whatever the
    file they came from."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight, np.float32)).tobytes())
    return digest.hexdigest()


def versions():
    """The versions of what computes the embeddings."""
    import importlib.metadata
    import platform

    found = {"python": platform.python_version()}
    for package in ("i3d-keras", "tensorflow", "keras", "numpy"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def source_records(names):
    """``[{"name", "sha256"}]`` of the videos used: the file's sha256 where a name is a file (``path[i]`` for the
    i-th video of an array file), else None."""
    digests, records = {}, []
    for name in names:
        path = name.rsplit("[", 1)[0] if name.endswith("]") else name
        if path not in digests:
            digests[path] = files.sha256(path) if os.path.isfile(path) else None
        records.append({"name": name, "sha256": digests[path]})
    return records


def sources_digest(sources):
    """The sha256 of a manifest's list of sources (names and file digests): one string that pins the data."""
    return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()


def make_manifest(protocol, detector_sha256, sources, num_frames=None, seed=0, dataset=None, split=None,
                  detector_weights="kinetics400", loop_short=False):
    """What a statistics file records: the protocol (every field), the data (name, split, each source with its
    sha256, and a digest of that list: ``i3d fvd-stats`` names sources relative to the data's folder), the clip
    sampling, the detector's weights digest and the versions."""
    protocol = get_protocol(protocol)
    return {
        "format": MANIFEST_FORMAT,
        "protocol": protocol_record(protocol),
        "data": {"name": dataset, "split": split, "videos": len(sources), "sources": sources,
                 "sources_sha256": sources_digest(sources)},
        "sampling": {"num_frames": num_frames or protocol.num_frames, "clip_start": protocol.clip_start,
                     "seed": seed, "loop_short": loop_short},
        "resolution": {"size": SIZE, "resize": protocol.resize},
        "detector": {"weights": detector_weights, "sha256": detector_sha256},
        "comparable": not loop_short,
        "versions": versions(),
    }


class ManifestMismatch(ValueError):
    """Statistics whose manifest names another protocol or detector than the one asked for."""


@dataclasses.dataclass
class Statistics:
    """Count, mean and sum of squared deviations (``m2``) of embeddings, in float64; ``covariance(ddof)``;
    ``manifest``: how they were made (``make_manifest``), saved with them."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    protocol: str = ""
    manifest: dict = dataclasses.field(default_factory=dict)

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
        """The statistics of both sets together; their manifests must name the same protocol and detector (the
        merged one lists both sets' sources)."""
        manifest = _merge_manifests(self.manifest, other.manifest)
        protocol = self.protocol or other.protocol
        if not other.count:
            return Statistics(self.count, self.mean, self.m2, protocol, manifest)
        if not self.count:
            return Statistics(other.count, other.mean, other.m2, protocol, manifest)
        count, mean, m2 = merge_moments(self.count, self.mean, self.m2, other.count, other.mean, other.m2, np.outer)
        return Statistics(count, mean, m2, protocol, manifest)

    def add(self, embeddings):
        """Merges a batch of embeddings ``[n, D]`` in; returns ``self``."""
        merged = self.merge(Statistics.of(embeddings))
        self.count, self.mean, self.m2 = merged.count, merged.mean, merged.m2
        return self

    def save(self, path):
        """Writes ``.npz`` (``count``, ``mean``, ``m2`` in float64, ``protocol``, ``manifest`` as JSON text)
        atomically, and the manifest beside it as ``<name>.json``; no pickles."""
        import io

        buffer = io.BytesIO()
        np.savez(buffer, count=np.int64(self.count), mean=self.mean, m2=self.m2, protocol=np.str_(self.protocol),
                 manifest=np.str_(json.dumps(self.manifest, sort_keys=True)))
        files.write_bytes(path, buffer.getvalue())
        if self.manifest:
            text = json.dumps(self.manifest, indent=1, sort_keys=True) + "\n"
            files.write_bytes(os.path.splitext(path)[0] + ".json", text.encode())
        return path

    @classmethod
    def load(cls, path, protocol=None, detector_sha256=None, check=True):
        """Reads ``save``'s file. With ``check``, refuses (``ManifestMismatch``, one line) a file whose manifest
        names another ``protocol`` or another detector (``detector_sha256``) than the ones given."""
        with untrusted_arrays(path) as data:
            if not {"count", "mean", "m2"} <= set(data.files):
                raise ValueError(f"{path}: not FVD statistics (needs arrays count, mean, m2)")
            name = str(data["protocol"]) if "protocol" in data.files else ""
            manifest = data["manifest"] if "manifest" in data.files else None
            stats = cls(int(data["count"]), data["mean"].astype(np.float64), data["m2"].astype(np.float64), name)
        try:
            stats.manifest = json.loads(str(manifest)) if manifest is not None else {}
        except ValueError as error:
            raise ValueError(f"{path}: its manifest is not JSON ({error})") from None
        if check:
            stats.check(path, protocol, detector_sha256)
        return stats

    def check(self, path, protocol=None, detector_sha256=None):
        """Raises ``ManifestMismatch`` when these statistics were made under another protocol or detector."""
        hint = "; allow it with check=False (i3d fvd --allow_mismatch)"
        recorded = self.manifest.get("protocol") or ({"name": self.protocol} if self.protocol else None)
        if protocol is not None and recorded is not None:
            recorded = {**FIELDS_BEFORE_THEY_EXISTED, **recorded}
            expected = protocol_record(protocol)
            if recorded["name"] != expected["name"]:
                raise ManifestMismatch(f"{path}: statistics of protocol {recorded['name']!r}, not "
                                       f"{expected['name']!r}{hint}")
            differing = [f"{key} {recorded[key]!r} (now {value!r})" for key, value in expected.items()
                         if key != "source" and key in recorded and recorded[key] != value]
            if differing:
                raise ManifestMismatch(f"{path}: statistics of protocol {recorded['name']!r} with other settings: "
                                       f"{', '.join(differing)}{hint}")
        recorded_detector = self.manifest.get("detector", {}).get("sha256")
        if detector_sha256 and recorded_detector and recorded_detector != detector_sha256:
            raise ManifestMismatch(f"{path}: made by another detector (weights sha256 {recorded_detector[:12]}..., "
                                   f"this one's {detector_sha256[:12]}...){hint}")

    @staticmethod
    def is_statistics_file(path):
        if not str(path).endswith(".npz") or not os.path.isfile(path):
            return False
        with untrusted_arrays(path) as data:
            return {"count", "mean", "m2"} <= set(data.files)


def _merge_manifests(first, second):
    if not first or not second:
        return dict(first or second)
    for key in ("protocol", "detector", "sampling", "resolution"):
        if first.get(key) != second.get(key):
            raise ManifestMismatch(f"cannot merge statistics made with different {key}: {first.get(key)} vs "
                                   f"{second.get(key)}")
    merged = json.loads(json.dumps(first))
    sources = first["data"]["sources"] + second["data"]["sources"]
    merged["data"].update(sources=sources, videos=len(sources), sources_sha256=sources_digest(sources))
    merged["comparable"] = first.get("comparable", True) and second.get("comparable", True)
    return merged


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
    else:  # short_side_crop: VideoGPT's sizes, computed as its Python does (float64, ceil; a square frame's height
        # can come out 225)
        height, width = tf.cast(shape[2], tf.float64), tf.cast(shape[3], tf.float64)
        scale = SIZE / tf.minimum(height, width)
        new_size = tf.cast(tf.where(height < width, tf.stack([tf.constant(SIZE, tf.float64), tf.math.ceil(width * scale)]),
                                    tf.stack([tf.math.ceil(height * scale), tf.constant(SIZE, tf.float64)])), tf.int32)
        frames = tf.image.resize(tf.cast(frames, tf.float32), new_size, method="bilinear")
        frames = tf.image.crop_to_bounding_box(frames, (new_size[0] - SIZE) // 2, (new_size[1] - SIZE) // 2, SIZE, SIZE)
    low, high = protocol.value_range
    scaled = (high - low) * tf.cast(frames, tf.float32) / 255.0 + low  # the original: 2 * x / 255 - 1
    return tf.reshape(scaled, tf.concat([shape[:2], [SIZE, SIZE, 3]], axis=0))


def detector(protocol="original", dtype=None, weights="kinetics400"):
    """The FVD detector of ``protocol``: ``I3D(weights="kinetics400")`` (TF-Hub's ``i3d-kinetics-400``) with the
    protocol's batch-norm epsilon, any clip length."""
    from i3d_keras.model import I3D

    return I3D(weights=weights, input_shape=(None, SIZE, SIZE, 3), dtype=dtype,
               batch_norm_epsilon=get_protocol(protocol).epsilon)


def check_detector(model, protocol):
    """Raises ``ValueError`` (one line) when Keras ``model``'s batch-norm epsilon is not ``protocol``'s: its
    embeddings would not be that family's. Other callables (exports, hub layers) are taken as they are."""
    from i3d_keras.model import batch_norm_epsilon

    protocol = get_protocol(protocol)
    found = batch_norm_epsilon(model) if isinstance(model, keras.Model) else None
    if found is not None and found != protocol.epsilon:
        raise ValueError(f"the detector's batch-norm epsilon is {found:g}, the {protocol.name!r} protocol's is "
                         f"{protocol.epsilon:g}: build it with fvd.detector({protocol.name!r})")


def clip_rng(name, seed):
    """The random generator of one video's clip offset: seeded by the video's file name (``a.mp4``, ``b.npy[3]``
    for the fourth video of an array file; not the folder, so the same data elsewhere gets the same clips) and
    ``seed``. The offset does not depend on the order, the batch or the worker that reads it."""
    key = f"{os.path.basename(name)}\0{seed}".encode()
    return np.random.default_rng(int(hashlib.sha256(key).hexdigest()[:16], 16))


def select_frames(video, protocol, name, num_frames=None, seed=0, loop_short=False):
    """The protocol's clip of ``video`` ``[T, H, W, 3]``: its first frames, or a seeded random offset
    (``clip_rng``). A video shorter than the clip is an error naming it, unless ``loop_short`` (it is looped)."""
    protocol = get_protocol(protocol)
    count = num_frames or protocol.num_frames
    if count is None:
        return video
    if len(video) < count:
        if not loop_short:
            raise ValueError(f"{name}: {len(video)} frames, the protocol takes {count} (--loop_short loops short "
                             "videos, which is not comparable to standard FVD)")
        return video[np.arange(count) % len(video)]
    start = int(clip_rng(name, seed).integers(0, len(video) - count + 1)) if protocol.clip_start == "random" else 0
    return video[start:start + count]


def video_files(folder):
    names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    return [os.path.join(folder, name) for name in names if os.path.isfile(os.path.join(folder, name))]


def _refusal(path, error):
    """Our one line for what ``np.load(allow_pickle=False)`` would not read, naming the file; None for other errors."""
    text = str(error)
    if "Object arrays" in text:
        return ValueError(f"{path}: holds object arrays (pickled data), refused as untrusted: only plain arrays are "
                          "read, never unpickled")
    if "pickle" in text:
        return ValueError(f"{path}: not a .npy/.npz array file (numpy would read it as a pickle, which is refused as "
                          "untrusted: never unpickled)")
    if isinstance(error, (OSError, EOFError, zipfile.BadZipFile)):
        return ValueError(f"{path}: not a readable .npy/.npz array file ({files.describe(error)})")
    return None


class _Arrays:
    """An ``.npz``'s members, each read with ``_refusal``'s messages."""

    def __init__(self, path, archive):
        self.path, self.archive, self.files = path, archive, archive.files

    def __getitem__(self, name):
        try:
            return self.archive[name]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
            raise (_refusal(self.path, error) or error) from None


@contextlib.contextmanager
def untrusted_arrays(path):
    """``np.load(path, allow_pickle=False)`` of a user's ``.npy`` / ``.npz`` (an ``.npz``'s members read on access),
    with one-line refusals naming the file: pickled or object data is refused as untrusted and never unpickled;
    an unreadable file says why."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise (_refusal(path, error) or error) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            yield _Arrays(path, loaded)
    else:
        yield loaded


def _read_file(path):
    """The videos ``[N, T, H, W, 3]`` in a ``.npy`` / ``.npz`` array file (one video ``[T, H, W, 3]`` too), or the
    frames of a video file (RGB, native rate and size)."""
    if path.endswith(ARRAY_SUFFIXES):
        with untrusted_arrays(path) as loaded:
            array = np.asarray(loaded[loaded.files[0]] if path.endswith(".npz") else loaded)
        if array.ndim == 4:
            array = array[None]
        if array.ndim != 5 or array.shape[-1] != 3:
            raise ValueError(f"{path}: expected videos [N, T, H, W, 3] or [T, H, W, 3], got shape {array.shape}")
        return array
    from i3d_keras.data import decoding

    return np.stack(list(decoding.iter_frames(path, fps=None, short_side=None, crop=None)))[None]


def _tfrecord_videos(path):
    """``[(name, [T, H, W, 3])]`` of a TFRecord shard of ``i3d build-tfrecords`` (Model Garden SequenceExample
    keys), named ``<shard>[<video id>]``."""
    import tensorflow as tf

    from i3d_keras.data import tfrecord

    videos = []
    try:
        for index, serialized in enumerate(tf.data.TFRecordDataset(path)):
            encoded, _, video_id = tfrecord.parse_example(serialized)
            videos.append((f"{path}[{video_id.numpy().decode() or index}]",
                           tfrecord.decode_frames(encoded, is_flow=False).numpy()))
    except tf.errors.OpError as error:
        raise ValueError(f"{path}: not a readable TFRecord shard of videos ({error.message.splitlines()[0]})") from None
    return videos


def iter_videos(videos, on_error=None):
    """Single videos ``(name, [T, H, W, 3])`` from: a ``[N, T, H, W, 3]`` array, a ``tf.data.Dataset`` or an
    iterable of such batches (or of single videos), a folder of video files, ``.npy``/``.npz`` arrays or
    ``.tfrecord`` shards (``i3d build-tfrecords``), or one such file. A file that cannot be read goes to ``on_error(path, error)`` (raises when None)."""
    if isinstance(videos, (str, os.PathLike)):
        from i3d_keras.data import tfrecord

        path = os.fspath(videos)
        paths = video_files(path) if os.path.isdir(path) else [path]
        for path in paths:
            try:
                if path.endswith(tfrecord.SUFFIX):
                    named = _tfrecord_videos(path)
                else:
                    batch = _read_file(path)
                    named = [(f"{path}[{index}]" if len(batch) > 1 else path, video) for index, video in enumerate(batch)]
            except (ValueError, OSError) as error:
                if on_error is None:
                    raise
                on_error(path, error)
                continue
            yield from named
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
                    seed=0, on_error=None, on_video=None, on_clip=None, loop_short=False):
    """Yields embedding batches ``[n, 400]`` (float64) of ``videos`` (see ``iter_videos``), ``batch_size`` clips
    per graph call; clips of other shapes go in separate calls. ``on_video(count)`` after each batch;
    ``on_clip(name)`` for each video used, in order. Clips: ``select_frames`` (seeded per video)."""
    from i3d_keras import inference

    protocol = get_protocol(protocol)
    model = model or detector(protocol)
    check_detector(model, protocol)
    call = inference.forward(model)
    pending, done = [], 0

    def run(clips):
        return np.asarray(call(preprocess(np.stack(clips), protocol)), np.float64)

    for name, video in iter_videos(videos, on_error):
        if max_videos is not None and done + len(pending) >= max_videos:
            break
        try:
            clip = select_frames(video, protocol, name, num_frames, seed, loop_short)
        except ValueError as error:
            if on_error is None:
                raise
            on_error(name, error)
            continue
        if on_clip:
            on_clip(name)
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


def statistics(videos, protocol="original", model=None, dataset=None, split=None, keep=None, **options):
    """``Statistics`` of ``videos`` in one streaming pass, in bounded memory (options: see ``iter_embeddings``),
    with their manifest (``make_manifest``: ``dataset`` and ``split`` name the data). ``keep``: a list that
    receives the embedding batches too (for ``bootstrap`` and ``subsets``)."""
    protocol = get_protocol(protocol)
    model = model or detector(protocol)
    result, used = Statistics.empty(protocol=protocol.name), []
    for batch in iter_embeddings(videos, protocol, model=model, on_clip=used.append, **options):
        result.add(batch)
        if keep is not None:
            keep.append(batch)
    digest = detector_digest(model) if hasattr(model, "weights") else None
    result.manifest = make_manifest(protocol, digest, source_records(used), options.get("num_frames"),
                                    options.get("seed", 0), dataset, split, loop_short=options.get("loop_short", False))
    return result


def fvd(real_videos, fake_videos, protocol="original", **options):
    """FVD between two sets of videos (each as ``iter_videos`` takes them, or ``Statistics``)."""
    protocol = get_protocol(protocol)
    model = options.pop("model", None)
    sides = []
    for videos in (real_videos, fake_videos):
        if not isinstance(videos, Statistics):
            model = model or detector(protocol)
            videos = statistics(videos, protocol, model=model, **options)
        sides.append(videos)
    return frechet_distance_from_statistics(*sides, protocol)


def _draw(side, rng, size=None, replace=True):
    """``Statistics`` of ``size`` rows (default: as many as it has) drawn from embedding array ``side``; a side
    given as ``Statistics`` stays as it is."""
    if isinstance(side, Statistics):
        return side
    return Statistics.of(side[rng.choice(len(side), size or len(side), replace=replace)])


def _quietly(function):
    """``function()`` without the few-videos warning (resampling repeats it for every draw)."""
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return function()
    finally:
        log.setLevel(level)


def bootstrap(real, fake, protocol="original", resamples=1000, seed=0, level=0.95):
    """A percentile confidence interval of FVD: each side's videos resampled with replacement ``resamples``
    times (seeded). A side given as ``Statistics`` (reference statistics, no embeddings) stays fixed; the others
    are embedding arrays ``[N, D]``. Returns ``{"low", "high", "level", "std", "resamples", "seed", "fixed"}``."""
    fixed, rng = _fixed_sides(real, fake), np.random.default_rng(seed)
    values = _quietly(lambda: [frechet_distance_from_statistics(_draw(real, rng), _draw(fake, rng), protocol)
                               for _ in range(resamples)])
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return {"low": float(low), "high": float(high), "level": level, "std": float(np.std(values)),
            "resamples": resamples, "seed": seed, "fixed": fixed}


def subsets(real, fake, protocol="original", count=100, size=256, seed=0):
    """The repeated-subsample protocol (e.g. 100 x 256): FVD of ``count`` random subsets of ``size`` videos
    per side, drawn without replacement (seeded); a ``Statistics`` side stays whole. Returns ``{"mean", "std",
    "count", "size", "seed", "fixed"}``."""
    fixed, rng = _fixed_sides(real, fake), np.random.default_rng(seed)
    for side in (real, fake):
        if not isinstance(side, Statistics) and len(side) < size:
            raise ValueError(f"subsets of {size} videos from a side of {len(side)}")
    values = _quietly(lambda: [frechet_distance_from_statistics(_draw(real, rng, size, False),
                                                                _draw(fake, rng, size, False), protocol)
                               for _ in range(count)])
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "count": count, "size": size, "seed": seed,
            "fixed": fixed}


def _fixed_sides(real, fake):
    fixed = [name for name, side in (("real", real), ("fake", fake)) if isinstance(side, Statistics)]
    if len(fixed) == 2:
        raise ValueError("resampling needs the videos' embeddings of at least one side, not two statistics files")
    return fixed


@dataclasses.dataclass
class Report:
    """What an FVD number needs to be compared: the number, the protocol (every field), both sides' manifests
    and counts, the seed and the versions; ``comparable`` is False when either side is not standard FVD;
    ``bootstrap`` and ``subsets``: their results, when asked for."""

    fvd: float
    protocol: dict
    real_videos: int
    fake_videos: int
    seed: int
    real: dict
    fake: dict
    versions: dict
    comparable: bool
    bootstrap: dict = None
    subsets: dict = None

    @classmethod
    def of(cls, distance, protocol, real, fake, seed=0, **extra):
        comparable = all(side.manifest.get("comparable", True) for side in (real, fake))
        return cls(distance, protocol_record(protocol), real.count, fake.count, seed, real.manifest, fake.manifest,
                   versions(), comparable, **extra)

    def save(self, path):
        files.write_bytes(path, (json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n").encode())
        return path


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
        self.detector = model or detector(self.protocol)
        check_detector(self.detector, self.protocol)
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
