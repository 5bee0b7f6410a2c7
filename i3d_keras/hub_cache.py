"""Places files our exports made where other tools' caches look for the dead links they download, so their code
runs unchanged and offline. One rule for every cache: the export is copied into a folder of ours in the cache
(with ``hub_cache.json`` listing what was installed), every name the tool looks up is a symbolic link to it,
``uninstall`` removes exactly those, and a name that holds something we did not write is never touched.

- TF-Hub: TF1 Hub modules (``hub_v1``) for the legacy I3D handles, so ``hub.load("https://tfhub.dev/deepmind/
  i3d-kinetics-400/1")`` and the like resolve. How ``tensorflow_hub`` (0.15 and 0.16.1, ``resolver.py`` /
  ``compressed_module_resolver.py``) resolves an ``http(s)://`` handle: the cache folder is ``$TFHUB_CACHE_DIR``,
  else its ``--tfhub_cache_dir`` flag, else ``<tempdir>/tfhub_modules``; the module's folder there is named by the
  sha1 of the handle string exactly as written; a non-empty folder of that name is returned before any download.
  Beside each link goes the ``.descriptor.txt`` that ``tensorflow_hub`` writes beside its downloads.
- dnnlib (StyleGAN-V's ``src/dnnlib/util.py``, copied by DIGAN and later FVD code): our TorchScript FVD
  detector for StyleGAN-V's Dropbox links. ``open_url(url)`` returns ``<cache>/<md5 of the URL string>_*`` when
  exactly one such file exists, with no network; the cache is ``$DNNLIB_CACHE_DIR/downloads``, else
  ``$HOME/.cache/dnnlib/downloads`` (``%USERPROFILE%`` on Windows), else ``<tempdir>/.cache/dnnlib/downloads``.
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


def _is_ours(path, target):
    """Whether ``path`` is a link we made to ``target``."""
    return os.path.islink(path) and os.path.realpath(path) == os.path.realpath(target)


def _check_placement(ours, links):
    """Raises ``FileExistsError`` (one line) when folder ``ours`` or a link's path ``{path: (target, what)}``
    holds something we did not write."""
    if os.path.lexists(ours) and not os.path.isfile(os.path.join(ours, MANIFEST)):
        raise FileExistsError(f"{ours} exists and was not written by i3d hub-cache; remove it or choose another "
                              "cache folder")
    for path, (target, what) in links.items():
        if os.path.lexists(path) and not _is_ours(path, target):
            raise FileExistsError(f"{path} ({what}) holds something else; refusing to overwrite it (remove it to use "
                                  "the i3d-keras file there)")


def _place(source, ours, links, manifest):
    """Copies folder ``source`` to ``ours`` (with ``manifest`` and the links' names) and makes each link
    ``{path: (target, what)}``. Checks every target before writing anything."""
    _check_placement(ours, links)
    manifest = dict(manifest, links=sorted(os.path.relpath(path, os.path.dirname(ours)) for path in links))
    files.remove_leftovers(ours)
    with files.atomic_folder(ours) as staging:
        with files.writing(ours):
            for name in os.listdir(source):
                path = os.path.join(source, name)
                (shutil.copytree if os.path.isdir(path) else shutil.copy2)(path, os.path.join(staging, name))
            with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as out:
                json.dump(manifest, out, indent=1)
    for path, (target, _) in links.items():
        files.atomic_symlink(os.path.relpath(target, os.path.dirname(path)), path)


def _remove_placement(ours, extra=lambda path: ()):
    """Removes what ``_place`` wrote at ``ours`` (and ``extra(link)`` beside each link); returns the manifest (None
    when there is nothing of ours)."""
    manifest_path = os.path.join(ours, MANIFEST)
    if not os.path.isfile(manifest_path):
        return None
    with open(manifest_path, encoding="utf-8") as manifest_file:
        manifest = json.load(manifest_file)
    names = manifest.get("links") or list(manifest.get("handles", {}).values())  # "handles": before dnnlib
    for name in names:
        path = os.path.join(os.path.dirname(ours), name)
        if os.path.islink(path) and os.path.realpath(path).startswith(os.path.realpath(ours)):
            with files.writing(path):
                os.remove(path)
                for beside in extra(path):
                    if os.path.isfile(beside):
                        os.remove(beside)
    with files.writing(ours):
        shutil.rmtree(ours)
    return manifest


# -- TF-Hub ------------------------------------------------------------------------------------------------------

def _hub_links(cache, weights):
    module = module_folder(cache, weights)
    return {handle_folder(cache, handle): (module, f"the cache folder of {handle}") for handle in handles(weights)}


def check_free(cache, weights):
    """Raises ``FileExistsError`` (one line) when a handle's folder holds something we did not write."""
    _check_placement(module_folder(cache, weights), _hub_links(cache, weights))


def install(module_source, cache, weights):
    """Copies the TF1 Hub module folder ``module_source`` into ``cache`` for ``weights`` and links every handle
    spelling to it. Checks every target before writing anything. Returns ``{handle: folder}``."""
    _place(module_source, module_folder(cache, weights), _hub_links(cache, weights), {"weights": weights})
    installed = {}
    for handle in handles(weights):
        folder = installed[handle] = handle_folder(cache, handle)
        files.write_bytes(_descriptor(folder), f"Module: {handle}\nInstalled by i3d hub-cache: {weights}\n".encode())
    return installed


def uninstall(cache, weights):
    """Removes what ``install`` wrote for ``weights`` (links, descriptors, the module); returns how many handles
    it removed. Leaves anything else alone."""
    manifest = _remove_placement(module_folder(cache, weights), lambda path: [_descriptor(path)])
    return (manifest.get("links") or list(manifest.get("handles", {}))) if manifest else []


# -- dnnlib --------------------------------------------------------------------------------------------------------

DETECTOR = "i3d_torchscript.pt"
# StyleGAN-V's detector link (src/metrics/frechet_video_distance.py, with ?dl=1) and the spellings its copies use
DETECTOR_URLS = tuple(f"{scheme}://www.dropbox.com/s/ge9e5ujwgetktms/{DETECTOR}{query}"
                      for scheme in ("https", "http") for query in ("?dl=1", "", "?dl=0"))


def dnnlib_cache_dir(cache=None):
    """Where dnnlib's ``open_url`` looks: ``cache``, else ``$DNNLIB_CACHE_DIR/downloads``, else
    ``$HOME/.cache/dnnlib/downloads`` (``%USERPROFILE%``), else ``<tempdir>/.cache/dnnlib/downloads``."""
    if cache:
        return cache
    for variable, parts in (("DNNLIB_CACHE_DIR", ()), ("HOME", (".cache", "dnnlib")),
                            ("USERPROFILE", (".cache", "dnnlib"))):
        if variable in os.environ:
            return os.path.join(os.environ[variable], *parts, "downloads")
    return os.path.join(tempfile.gettempdir(), ".cache", "dnnlib", "downloads")


def dnnlib_file(cache, url):
    """The name dnnlib's ``open_url`` finds ``url`` under: ``<md5 of the URL>_i3d_torchscript.pt``."""
    return os.path.join(cache, f"{hashlib.md5(url.encode('utf-8')).hexdigest()}_{DETECTOR}")


def detector_folder(cache):
    return os.path.join(cache, "i3d-keras-torchscript")


def _dnnlib_links(cache):
    target = os.path.join(detector_folder(cache), DETECTOR)
    return {dnnlib_file(cache, url): (target, f"dnnlib's cache file of {url}") for url in DETECTOR_URLS}


def check_detector_free(cache):
    """Raises ``FileExistsError`` (one line) when a file dnnlib would read for a detector URL is not ours, or
    another file of the same ``<md5>_`` prefix would keep dnnlib from reading ours (it reads only a lone match)."""
    links = _dnnlib_links(cache)
    _check_placement(detector_folder(cache), links)
    prefixes = {os.path.basename(path).split("_")[0] + "_" for path in links}
    for name in sorted(os.listdir(cache)) if os.path.isdir(cache) else []:
        path = os.path.join(cache, name)
        if name.split("_")[0] + "_" in prefixes and path not in links:
            raise FileExistsError(f"{path} is another file under a detector URL's dnnlib name; dnnlib reads the cache "
                                  "only when one file matches, so remove it to use the i3d-keras detector")


def install_detector(export_folder, cache):
    """Copies the TorchScript export ``export_folder`` (``i3d export --format torchscript``) into dnnlib's
    ``cache`` and links every URL spelling to it. Checks every target first. Returns ``{url: file}``."""
    check_detector_free(cache)
    _place(export_folder, detector_folder(cache), _dnnlib_links(cache), {"weights": "kinetics400"})
    return {url: dnnlib_file(cache, url) for url in DETECTOR_URLS}


def uninstall_detector(cache):
    """Removes what ``install_detector`` wrote; returns the names it removed."""
    manifest = _remove_placement(detector_folder(cache))
    return manifest["links"] if manifest else []
