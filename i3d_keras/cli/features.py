"""``i3d features VIDEO... --out DIR``: pooled I3D features of each video, one ``.npy`` per video.

Each file holds ``[C]`` (the whole video) or ``[windows, C]`` (``--per_window``), averaged over time and
space at ``--endpoint``. Existing outputs are kept (resume), outputs are written atomically.
"""

import os
import sys

import numpy as np
from absl import flags

from i3d_keras.cli import common, video_flags

flags.DEFINE_string("out", None, "Folder for the .npy files.", required=True)
flags.DEFINE_string("endpoint", "Mixed_5c", "Endpoint whose output is pooled (see i3d_keras.VALID_ENDPOINTS).")
flags.DEFINE_bool("per_window", False, "Keep one feature row per window instead of their mean.")
flags.DEFINE_bool("overwrite", False, "Recompute features that already exist.")
FLAGS = flags.FLAGS


def output_path(path):
    return os.path.join(FLAGS.out, os.path.splitext(os.path.basename(path))[0] + ".npy")


def main(argv):
    paths = common.start(argv, usage="i3d features VIDEO... --out DIR")
    from i3d_keras import I3D, files, inference

    with common.one_line_errors():
        options = video_flags.window_options()
        model = I3D(weights=FLAGS.weights, include_top=False, final_endpoint=FLAGS.endpoint, dtype=FLAGS.dtype)
    done = [path for path in paths if os.path.exists(output_path(path)) and not FLAGS.overwrite]
    if done:
        print(f"{len(done)} videos already had features (use --overwrite to redo them)", file=sys.stderr)

    def features_of_one(path, on_window):
        features = inference.video_features(model, path, per_window=FLAGS.per_window, on_window=on_window, **options)
        target = output_path(path)
        files.save_npy(target, features.astype(np.float32))
        return f"{path} -> {target} {list(features.shape)}"

    common.for_each_video([path for path in paths if path not in done], "features", features_of_one)
