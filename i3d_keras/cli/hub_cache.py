"""``i3d hub-cache``: make the dead TF-Hub I3D handles resolve again, with no network.

After it, unchanged code that calls ``hub.load("https://tfhub.dev/deepmind/i3d-kinetics-400/1")``,
``hub.KerasLayer(...)`` or TF1's ``hub.Module(...)`` (also ``-600/1``, ``http://``, a trailing slash, the Kaggle
handles) gets our verified I3D in the original module's TF1 Hub format from tensorflow_hub's cache folder
(``--cache_dir``, default ``$TFHUB_CACHE_DIR`` or ``<tempdir>/tfhub_modules``, as tensorflow_hub picks it).
Where PyTorch is installed it also puts our TorchScript FVD detector where dnnlib looks for StyleGAN-V's dead
Dropbox link (``--dnnlib_cache_dir``, default ``$DNNLIB_CACHE_DIR/downloads`` or ``~/.cache/dnnlib/downloads``), so
StyleGAN-V's FVD code and its copies run unchanged (``--notorch`` skips it). ``--uninstall`` removes exactly what
it installed. A cache file or folder that holds something else is never overwritten.
"""

import sys

from absl import flags

from i3d_keras.cli import common
from i3d_keras.hub_cache import MODULES

flags.DEFINE_multi_enum("weights", None, list(MODULES), "Which modules; default: "
                        "kinetics400, and kinetics600 when its weights can be had (cached, or downloadable).")
flags.DEFINE_string("cache_dir", None, "tensorflow_hub's cache folder (default: $TFHUB_CACHE_DIR, else "
                    "<tempdir>/tfhub_modules: where tensorflow_hub looks).")
flags.DEFINE_string("dnnlib_cache_dir", None, "dnnlib's download cache for the TorchScript detector (default: "
                    "$DNNLIB_CACHE_DIR/downloads, else ~/.cache/dnnlib/downloads: where StyleGAN-V's code looks).")
flags.DEFINE_bool("torch", True, "Also install the TorchScript FVD detector for dnnlib (when PyTorch is installed); "
                  "--notorch skips it.")
flags.DEFINE_bool("uninstall", False, "Remove what i3d hub-cache installed there instead.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    import importlib.util
    import urllib.error

    from i3d_keras import hub_cache, runtimes

    cache = hub_cache.cache_dir(FLAGS.cache_dir)
    chosen = FLAGS.weights or list(MODULES)
    with_torch = FLAGS.torch and importlib.util.find_spec("torch") is not None
    dnnlib_cache = hub_cache.dnnlib_cache_dir(FLAGS.dnnlib_cache_dir)
    with common.one_line_errors():
        if FLAGS.uninstall:
            for weights in chosen:
                removed = hub_cache.uninstall(cache, weights)
                print(f"{weights}: removed {len(removed)} handles from {cache}" if removed else
                      f"{weights}: nothing of i3d hub-cache in {cache}")
            if FLAGS.torch:
                removed = hub_cache.uninstall_detector(dnnlib_cache)
                print(f"TorchScript detector: removed {len(removed)} dnnlib names from {dnnlib_cache}" if removed else
                      f"TorchScript detector: nothing of i3d hub-cache in {dnnlib_cache}")
            return
        for weights in chosen:
            hub_cache.check_free(cache, weights)  # every target, before anything is written
        if with_torch:
            hub_cache.check_detector_free(dnnlib_cache)
        for weights in chosen:
            try:
                module = runtimes.cached_export(weights, "tf1_hub")
            except (urllib.error.URLError, OSError) as error:
                if FLAGS.weights or weights == "kinetics400":
                    raise
                print(f"{weights}: skipped, its weights could not be had ({error})", file=sys.stderr)
                continue
            installed = hub_cache.install(module, cache, weights)
            print(f"{weights}: {len(installed)} handles now resolve with no network, from {cache}:")
            for handle, folder in installed.items():
                print(f"  {handle}  ->  {folder}")
        if with_torch:
            installed = hub_cache.install_detector(runtimes.cached_export("kinetics400", "torchscript"), dnnlib_cache)
            print(f"TorchScript FVD detector: {len(installed)} URLs now open with no network through dnnlib, from "
                  f"{dnnlib_cache}:")
            for url, path in installed.items():
                print(f"  {url}  ->  {path}")
        elif FLAGS.torch:
            print("TorchScript FVD detector: skipped, PyTorch is not installed (pip install \".[torch]\")",
                  file=sys.stderr)
