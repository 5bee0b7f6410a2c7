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
    paths = argv[1:]
    if not paths:
        common.fail("give at least one video: i3d features VIDEO... --out DIR")
    common.setup_logging()
    from i3d_keras import I3D, files, inference

    with common.one_line_errors():
        options = video_flags.window_options()
        model = I3D(weights=FLAGS.weights, include_top=False, final_endpoint=FLAGS.endpoint)
    failed = skipped = 0
    progress = common.Progress(len(paths), "features")
    for number, path in enumerate(paths):
        target = output_path(path)
        if os.path.exists(target) and not FLAGS.overwrite:
            skipped += 1
            continue
        try:
            features = inference.video_features(
                model, path, per_window=FLAGS.per_window,
                on_window=lambda i: progress.update(number, f"{path}: window {i + 1}"), **options,
            )
        except Exception as error:  # one bad file must not stop the batch
            progress.close()
            common.report_file_error(path, error)
            failed += 1
            continue
        progress.close()
        with files.atomic_path(target, suffix=".npy") as tmp:
            np.save(tmp, features.astype(np.float32))
        print(f"{path} -> {target} {list(features.shape)}")
    if skipped:
        print(f"{skipped} videos already had features (use --overwrite to redo them)", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(paths)} videos failed", file=sys.stderr)
        sys.exit(1)
