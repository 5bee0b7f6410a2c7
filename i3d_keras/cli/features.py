"""``i3d features VIDEO... --out DIR``: I3D features of each video, one file per video.

Two modes. By default (today's): pooled ``--endpoint`` features of ``--window``-frame windows, averaged over the
video (``[C]``) or kept per window (``--per_window``, ``[windows, C]``), one ``.npy`` per video.

Snippet mode (``--preset NAME`` or ``--snippet N``), the conventions of downstream research: ``--snippet``-frame
snippets every ``--stride`` frames at ``--fps`` (0: native), ``--crops`` (center, resize, 5, 10), ``--streams``
(rgb, flow or rgb,flow: RGB first), written as ``<name>.npz`` with ``features`` ``[S, D]`` (or ``[S, crops, D]``
with ``--noaverage_crops``), ``timestamps`` ``[S, 2]`` in seconds, ``fps``, ``frames`` and the options, plus
``index.json``. Presets (flags given explicitly override them): thumos-i3d, anet-i3d, bmt, video-features (README,
"Snippet features"). Flow comes from ``--flow_root`` (``i3d flow`` folders) or is computed (TV-L1, ~1 s per frame).

``--runtime`` (window mode, Mixed_5c) runs the model in ONNX Runtime, OpenVINO or LiteRT.

Existing outputs are kept (resume), outputs are written atomically; a bad video is named and skipped, an output
that cannot be written stops the batch.
"""

import dataclasses
import os
import sys

import numpy as np
from absl import flags

from i3d_keras.cli import common, runtime_flags, video_flags
from i3d_keras.snippets import LAST_POLICIES, LAYOUTS, PRESETS

flags.DEFINE_string("out", None, "Folder for the feature files.", required=True)
flags.DEFINE_string("endpoint", "Mixed_5c", "Endpoint whose output is pooled (see i3d_keras.VALID_ENDPOINTS).")
flags.DEFINE_bool("per_window", False, "Window mode: keep one feature row per window instead of their mean.")
flags.DEFINE_bool("overwrite", False, "Recompute features that already exist.")
flags.DEFINE_enum("preset", None, list(PRESETS), "Snippet mode with a community's convention (see README).")
flags.DEFINE_integer("snippet", None, "Snippet mode: frames per snippet (--stride: frames between snippet starts; "
                     "default: the snippet length).")
flags.DEFINE_enum("crops", "center", ["center", "resize", "5", "10"], "Snippet mode: views per snippet (10 = the 5 "
                  "crops and their mirror images).")
flags.DEFINE_list("streams", ["rgb"], "Snippet mode: rgb, flow or rgb,flow (concatenated RGB first).")
flags.DEFINE_bool("average_crops", True, "Snippet mode: average the crops' features ([S, D]) or keep them ([S, crops, D]).")
flags.DEFINE_enum("last", "drop", list(LAST_POLICIES), "Snippet mode: drop a partial last snippet or pad it with its "
                  "last frame.")
flags.DEFINE_enum("layout", "npz", list(LAYOUTS), "Snippet mode: npz+npy also writes <name>_<stream>.npy per stream.")
flags.DEFINE_string("flow_weights", "flow_imagenet_kinetics400", "Snippet mode: the flow stream's weights.")
flags.DEFINE_string("flow_root", None, "Snippet mode: the `i3d flow --out` folder with the videos' flow (else TV-L1 "
                    "is computed, about 1 s per frame).")
flags.DEFINE_integer("batch_size", 8, "Snippet mode: clips (snippets x crops) per model call.")
FLAGS = flags.FLAGS


def snippet_options():
    """The preset's options (or the defaults), replaced by every flag given explicitly."""
    from i3d_keras.snippets import SnippetOptions

    options = PRESETS[FLAGS.preset].options if FLAGS.preset else SnippetOptions(snippet=FLAGS.snippet)
    given = {name: FLAGS[name].present for name in ("snippet", "stride", "fps", "crops", "streams", "average_crops",
                                                      "last", "endpoint", "layout")}
    changes = {name: getattr(FLAGS, name) for name in ("snippet", "crops", "average_crops", "last", "endpoint",
                                                       "layout") if given[name]}
    if given["streams"]:
        changes["streams"] = tuple(FLAGS.streams)
    if given["fps"]:
        changes["fps"] = FLAGS.fps or None
    changes["stride"] = FLAGS.stride if given["stride"] else (options.stride if FLAGS.preset and not given["snippet"]
                                                               else changes.get("snippet", options.snippet))
    return dataclasses.replace(options, **changes).check()


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def run_snippets(paths):
    from i3d_keras import snippets

    with common.one_line_errors():
        options = snippet_options()
        weights = {"rgb": FLAGS.weights, "flow": FLAGS.flow_weights}
        models = {stream: snippets.feature_model(weights[stream], stream, options.endpoint, FLAGS.dtype)
                  for stream in options.streams}
    done = [p for p in paths if os.path.exists(snippets.output_paths(FLAGS.out, stem(p), options)[-1]) and not FLAGS.overwrite]
    if done:
        print(f"{len(done)} videos already had features (use --overwrite to redo them)", file=sys.stderr)

    def features_of_one(path, on_window):
        result = snippets.extract(path, models, options, FLAGS.flow_root, FLAGS.batch_size, on_snippet=lambda n: on_window(n - 1))
        target = snippets.save(FLAGS.out, stem(path), result, options, path,
                               {stream: weights[stream] for stream in options.streams})
        return f"{path} -> {target} {list(result['features'].shape)}"

    try:
        common.for_each_video([p for p in paths if p not in done], "features", features_of_one)
    finally:
        if os.path.isdir(FLAGS.out):
            snippets.write_index(FLAGS.out)


def main(argv):
    paths = common.start(argv, usage="i3d features VIDEO... --out DIR")
    if len({stem(path) for path in paths}) < len(paths):
        common.fail("two videos have the same file name; their feature files would collide")
    if (FLAGS.preset or FLAGS.snippet) and FLAGS.runtime != "tensorflow":
        common.fail("snippet mode runs in TensorFlow; --runtime works with the default (window) mode")
    if FLAGS.runtime != "tensorflow" and FLAGS.endpoint != "Mixed_5c":
        common.fail(f"--runtime {FLAGS.runtime} exports give Mixed_5c features only, not --endpoint {FLAGS.endpoint}")
    if FLAGS.preset or FLAGS.snippet:
        return run_snippets(paths)
    from i3d_keras import I3D, files, inference

    with common.one_line_errors():
        options = video_flags.window_options()
        model = runtime_flags.exported_model(FLAGS.weights, output="features") or I3D(
            weights=FLAGS.weights, include_top=False, final_endpoint=FLAGS.endpoint, dtype=FLAGS.dtype)
    output_path = lambda path: os.path.join(FLAGS.out, stem(path) + ".npy")  # noqa: E731
    done = [path for path in paths if os.path.exists(output_path(path)) and not FLAGS.overwrite]
    if done:
        print(f"{len(done)} videos already had features (use --overwrite to redo them)", file=sys.stderr)

    def features_of_one(path, on_window):
        features = inference.video_features(model, path, per_window=FLAGS.per_window, on_window=on_window, **options)
        target = output_path(path)
        files.save_npy(target, features.astype(np.float32))
        return f"{path} -> {target} {list(features.shape)}"

    common.for_each_video([path for path in paths if path not in done], "features", features_of_one)
