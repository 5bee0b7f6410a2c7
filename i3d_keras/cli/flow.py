"""``i3d flow VIDEO... --out DIR``: TV-L1 optical flow of each video as the flow stream expects it.

Each video becomes ``DIR/<name>/`` (``x_*.png``, ``y_*.png``, ``flow.json``; see ``i3d_keras.data.flow``),
written atomically: an existing folder is complete and is skipped (resume). The job is an Apache Beam pipeline
(``i3d_keras.data.beam``): on this machine one worker process (TensorFlow's TV-L1 uses every core) or, for the
OpenCV methods, one per core; on a cluster with ``--runner``. A video
that cannot be read, crashes its decoder or passes ``--timeout`` is listed in ``DIR/failed.tsv`` and the exit
status is 1; the others are complete.
"""

from absl import flags

from i3d_keras.cli import beam_flags, common
from i3d_keras.data import decoding, flow

flags.DEFINE_string("out", None, "Folder for the flow folders.", required=True)
flags.DEFINE_enum("method", "tvl1", flow.METHODS, "tvl1: what the pretrained flow weights saw, in TensorFlow "
                  "(OpenCV's TV-L1 within its own noise, several times faster; uses every core, or a GPU). "
                  "tvl1-opencv: OpenCV's own, one process per core. dis, farneback: much faster approximations "
                  "the weights never saw.")
flags.DEFINE_enum("format", "png", flow.IMAGE_FORMATS, "Image format of the stored x/y fields (png is lossless).")
flags.DEFINE_float("fps", decoding.DEFAULT_FPS, "Resample frames to this rate (0 keeps the native rate).")
flags.DEFINE_integer("short_side", decoding.SHORT_SIDE, "Resize frames so that their short side has this size.")
flags.DEFINE_bool("visualize", False, "Also write DIR/<name>.flow.png: 8 fields in colour and the colour wheel.")
flags.DEFINE_bool("overwrite", False, "Recompute flow that already exists.")
FLAGS = flags.FLAGS


def main(argv):
    from i3d_keras.data import beam

    paths = common.start(argv, usage="i3d flow VIDEO... --out DIR")
    job = beam.FlowJob(FLAGS.out, FLAGS.method, FLAGS.fps or None, FLAGS.short_side, FLAGS.format, FLAGS.visualize)
    with common.one_line_errors():
        options = beam_flags.pipeline_options(workers=flow.default_workers(FLAGS.method))
        report = beam_flags.run(lambda: beam.compute_flow(paths, job, options, beam_flags.timeout(), FLAGS.overwrite,
                                                          print_lines=True),
                                [flow.folder_for(path, FLAGS.out) for path in paths])
    beam_flags.finish(report, FLAGS.out, "fields")
