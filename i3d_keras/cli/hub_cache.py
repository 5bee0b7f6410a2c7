"""``i3d hub-cache``: make the dead TF-Hub I3D handles resolve again, with no network.

After it, unchanged code that calls ``hub.load("https://tfhub.dev/deepmind/i3d-kinetics-400/1")``,
``hub.KerasLayer(...)`` or TF1's ``hub.Module(...)`` (also ``-600/1``, ``http://``, a trailing slash, the Kaggle
handles) gets our verified I3D in the original module's TF1 Hub format from tensorflow_hub's cache folder
(``--cache_dir``, default ``$TFHUB_CACHE_DIR`` or ``<tempdir>/tfhub_modules``, as tensorflow_hub picks it).
``--uninstall`` removes exactly what it installed. A cache folder that holds something else is never overwritten.
"""

import sys

from absl import flags

from i3d_keras.cli import common
from i3d_keras.hub_cache import MODULES

flags.DEFINE_multi_enum("weights", None, list(MODULES), "Which modules; default: "
                        "kinetics400, and kinetics600 when its weights can be had (cached, or downloadable).")
flags.DEFINE_string("cache_dir", None, "tensorflow_hub's cache folder (default: $TFHUB_CACHE_DIR, else "
                    "<tempdir>/tfhub_modules: where tensorflow_hub looks).")
flags.DEFINE_bool("uninstall", False, "Remove what i3d hub-cache installed there instead.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    import urllib.error

    from i3d_keras import hub_cache, runtimes

    cache = hub_cache.cache_dir(FLAGS.cache_dir)
    chosen = FLAGS.weights or list(MODULES)
    with common.one_line_errors():
        if FLAGS.uninstall:
            for weights in chosen:
                removed = hub_cache.uninstall(cache, weights)
                print(f"{weights}: removed {len(removed)} handles from {cache}" if removed else
                      f"{weights}: nothing of i3d hub-cache in {cache}")
            return
        for weights in chosen:
            hub_cache.check_free(cache, weights)  # every target, before anything is written
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
