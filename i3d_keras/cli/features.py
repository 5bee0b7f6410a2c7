"""``i3d features VIDEO... --out DIR``: I3D features of each video, one file per video.

Two modes. By default (today's): pooled ``--endpoint`` features of ``--window``-frame windows, averaged over the
video (``[C]``) or kept per window (``--per_window``, ``[windows, C]``), one ``.npy`` per video.

Snippet mode (``--preset NAME`` or ``--snippet N``), the conventions of downstream research: ``--snippet``-frame
snippets every ``--stride`` frames at ``--fps`` (0: native), ``--crops`` (center, resize, 5, 10), ``--streams``
(rgb, flow or rgb,flow: RGB first), written as ``<name>.npz`` with ``features`` ``[S, D]`` (or ``[S, crops, D]``
with ``--noaverage_crops``), ``timestamps`` ``[S, 2]`` in seconds, ``fps``, ``frames`` and the options, plus
``index.json``. Presets (flags given explicitly override them): thumos-i3d, anet-i3d, bmt, video-features (docs:
Extract features). Flow comes from ``--flow_root`` (``i3d flow`` folders) or is computed (TV-L1, ~0.1 s per frame on 2 cores).

``--runtime`` (window mode, Mixed_5c) runs the model in ONNX Runtime, OpenVINO or LiteRT.

The job is an Apache Beam pipeline (``i3d_keras.data.beam``): locally one worker process with every core for its
model (``--workers``), on a cluster with ``--runner``. Existing outputs are kept (resume), outputs are written
atomically; a video that cannot be read, crashes its decoder or passes ``--timeout`` is listed in
``DIR/failed.tsv`` (exit status 1); an output that cannot be written stops the job.
"""

import dataclasses

from absl import flags

from i3d_keras.cli import beam_flags, common, runtime_flags, video_flags
from i3d_keras.snippets import LAST_POLICIES, LAYOUTS, PRESETS

flags.DEFINE_string("out", None, "Folder for the feature files.", required=True)
flags.DEFINE_string("endpoint", "Mixed_5c", "Endpoint whose output is pooled (see i3d_keras.VALID_ENDPOINTS).")
flags.DEFINE_bool("per_window", False, "Window mode: keep one feature row per window instead of their mean.")
flags.DEFINE_bool("overwrite", False, "Recompute features that already exist.")
flags.DEFINE_enum("preset", None, list(PRESETS), "Snippet mode with a community's convention (docs: Extract features).")
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
FEATURE_WORKERS = 1  # the local runner's default: one model using every core (docs/beam.md, Scaling)


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


def main(argv):
    from i3d_keras import feature_jobs
    from i3d_keras.data import beam

    paths = common.start(argv, usage="i3d features VIDEO... --out DIR")
    snippet_mode = bool(FLAGS.preset or FLAGS.snippet)
    if snippet_mode and FLAGS.runtime != "tensorflow":
        common.fail("snippet mode runs in TensorFlow; --runtime works with the default (window) mode")
    if FLAGS.runtime != "tensorflow" and FLAGS.endpoint != "Mixed_5c":
        common.fail(f"--runtime {FLAGS.runtime} exports give Mixed_5c features only, not --endpoint {FLAGS.endpoint}")
    with common.one_line_errors():
        pipeline_options = beam_flags.pipeline_options(workers=FEATURE_WORKERS)
        local = FLAGS.runner == beam.LOCAL  # the local workers share the cores; a cluster's use their own
        threads = max(1, beam.default_workers() // (FLAGS.workers or FEATURE_WORKERS)) if local else None
        if snippet_mode:
            options = snippet_options()
            weights = {"rgb": FLAGS.weights, "flow": FLAGS.flow_weights}
            job = feature_jobs.SnippetFeaturesJob(FLAGS.out, options, {s: weights[s] for s in options.streams},
                                                  FLAGS.flow_root, FLAGS.batch_size, FLAGS.dtype, threads)
        else:
            export = runtime_flags.exported_folder(FLAGS.weights)  # an export not yet in the cache is made here
            job = feature_jobs.WindowFeaturesJob(FLAGS.out, FLAGS.weights, FLAGS.endpoint, FLAGS.per_window,
                                                 video_flags.window_options(), FLAGS.dtype, export, threads)
        feature_jobs.fetch_weights(job)  # here, once, rather than in every worker
        report = beam_flags.run(lambda: feature_jobs.extract_features(
            paths, job, pipeline_options, beam_flags.timeout(), FLAGS.overwrite, print_lines=True),
            [job.output(path) for path in paths])
    beam_flags.finish(report, FLAGS.out, "videos")
