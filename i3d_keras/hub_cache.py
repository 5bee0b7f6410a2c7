"""Places TF1 Hub modules (``hub_v1``) where ``tensorflow_hub`` looks for the legacy I3D handles, so that
``hub.load("https://tfhub.dev/deepmind/i3d-kinetics-400/1")`` and the like resolve with no network.

How ``tensorflow_hub`` (0.15 and 0.16.1, ``resolver.py`` / ``compressed_module_resolver.py``) resolves an
``http(s)://`` handle: the cache folder is ``$TFHUB_CACHE_DIR``, else its ``--tfhub_cache_dir`` flag, else
``<tempdir>/tfhub_modules``; the module's folder there is named by the sha1 of the handle string exactly as
written; a non-empty folder of that name is returned before any download.

``install`` writes one module per weight set into the cache (``i3d-keras-<weights>``, with ``hub_cache.json``
listing what was installed) and, for every spelling of its handles, a symbolic link named by the spelling's sha1
(plus the ``.descriptor.txt`` that ``tensorflow_hub`` writes beside its downloads). ``uninstall`` removes exactly
those. A folder of one of those names that we did not write is never touched.
"""

import hashlib
import json
import os
import shutil
import tempfile

from i3d_keras import files

MANIFEST = "hub_cache.json"
_TFHUB = ("tfhub.dev", "hub.tensorflow.google.cn")
_KAGGLE = "www.kaggle.com/models/deepmind/i3d-kinetics"
# weight set -> (TF-Hub model path, Kaggle variation)
MODULES = {"kinetics400": ("deepmind/i3d-kinetics-400/1", "400"), "kinetics600": ("deepmind/i3d-kinetics-600/1", "600")}


def handles(weights):
    """Every spelling of ``weights``' legacy handles in use: ``https://`` and ``http://``, with and without a
    trailing slash, TF-Hub's (and its China mirror's) and Kaggle's short and long forms."""
    path, variation = MODULES[weights]
    bases = [f"{host}/{path}" for host in _TFHUB]
    for framework in ("tensorFlow1", "TensorFlow1"):
        bases += [f"{_KAGGLE}/{framework}/{variation}/1",
                  f"{_KAGGLE}/frameworks/{framework}/variations/{variation}/versions/1"]
    return [f"{scheme}://{base}{slash}" for base in bases for scheme in ("https", "http") for slash in ("", "/")]


def cache_dir(cache=None):
    """Where ``tensorflow_hub`` looks: ``cache``, else ``$TFHUB_CACHE_DIR``, else ``<tempdir>/tfhub_modules``."""
    return cache or os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")


def handle_folder(cache, handle):
    """The folder ``tensorflow_hub`` reads ``handle`` from."""
    return os.path.join(cache, hashlib.sha1(handle.encode("utf8")).hexdigest())


def module_folder(cache, weights):
    return os.path.join(cache, f"i3d-keras-{weights}")


def _descriptor(folder):
    return folder + ".descriptor.txt"


def _is_ours(path, module):
    """Whether ``path`` is a link we made to ``module``."""
    return os.path.islink(path) and os.path.realpath(path) == os.path.realpath(module)


def check_free(cache, weights):
    """Raises ``FileExistsError`` (one line) when a handle's folder holds something we did not write."""
    module = module_folder(cache, weights)
    if os.path.lexists(module) and not os.path.isfile(os.path.join(module, MANIFEST)):
        raise FileExistsError(f"{module} exists and was not written by i3d hub-cache; remove it or choose another "
                              "--cache_dir")
    for handle in handles(weights):
        folder = handle_folder(cache, handle)
        if os.path.lexists(folder) and not _is_ours(folder, module):
            raise FileExistsError(f"{folder} (the cache folder of {handle}) holds something else; refusing to "
                                  "overwrite it (remove it to use the i3d-keras module there)")


def install(module_source, cache, weights):
    """Copies the TF1 Hub module folder ``module_source`` into ``cache`` for ``weights`` and links every handle
    spelling to it. Checks every target before writing anything. Returns ``{handle: folder}``."""
    check_free(cache, weights)
    module = module_folder(cache, weights)
    manifest = {"weights": weights, "handles": {h: os.path.basename(handle_folder(cache, h)) for h in handles(weights)}}
    files.remove_leftovers(module)
    with files.atomic_folder(module) as staging:
        with files.writing(module):
            for name in os.listdir(module_source):
                source = os.path.join(module_source, name)
                (shutil.copytree if os.path.isdir(source) else shutil.copy2)(source, os.path.join(staging, name))
            with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as out:
                json.dump(manifest, out, indent=1)
    installed = {}
    for handle in handles(weights):
        folder = installed[handle] = handle_folder(cache, handle)
        files.atomic_symlink(os.path.basename(module), folder)
        files.write_bytes(_descriptor(folder), f"Module: {handle}\nInstalled by i3d hub-cache: {weights}\n".encode())
    return installed


def uninstall(cache, weights):
    """Removes what ``install`` wrote for ``weights`` (links, descriptors, the module); returns the handles
    removed. Leaves anything else alone."""
    module = module_folder(cache, weights)
    manifest_path = os.path.join(module, MANIFEST)
    if not os.path.isfile(manifest_path):
        return []
    with open(manifest_path, encoding="utf-8") as manifest_file:
        manifest = json.load(manifest_file)
    removed = []
    for handle, name in manifest["handles"].items():
        folder = os.path.join(cache, name)
        if _is_ours(folder, module):
            with files.writing(folder):
                os.remove(folder)
                if os.path.isfile(_descriptor(folder)):
                    os.remove(_descriptor(folder))
            removed.append(handle)
    with files.writing(module):
        shutil.rmtree(module)
    return removed
