"""``i3d build-tfrecords --folder DIR --out DIR``: a video data set as sharded TFRecords of JPEG frames.

Frames are stored at 25 fps with the short side at 256 (``--short_side``), optionally with TV-L1 flow
(``--flow``). The job is an Apache Beam pipeline (``i3d_keras.data.beam``): each video's example is made on any
worker (one process per core here, a cluster with ``--runner``) and each shard is written at once, atomically, so
a rerun keeps finished shards (and finished videos of the others). A video that cannot be read, crashes its
decoder or passes ``--timeout`` is left out, listed in ``DIR/failed.tsv`` and in its shard's summary; the exit
status is then 1.
"""

import os
import sys

from absl import flags

from i3d_keras.cli import beam_flags, common, dataset_flags
from i3d_keras.data import beam, decoding, flow, tfrecord

flags.DEFINE_string("out", None, "Folder for the shards and labels.txt.", required=True)
flags.DEFINE_string("name", None, "Shard name prefix (default: --subset, i.e. train or test).")
flags.DEFINE_integer("shards", 0, "Number of shards (0: enough for every core and <= 256 videos each).")
flags.DEFINE_float("fps", decoding.DEFAULT_FPS, "Store frames at this rate (0 keeps the native rate).")
flags.DEFINE_integer("short_side", decoding.SHORT_SIDE, "Store frames with this short side.")
flags.DEFINE_integer("jpeg_quality", tfrecord.DEFAULT_JPEG_QUALITY, "JPEG quality of the stored frames.")
flags.DEFINE_bool("flow", False, "Also store optical flow (flow/encoded); TV-L1 in TensorFlow: about 0.1 s per frame pair on 2 cores.")
flags.DEFINE_enum("flow_method", "tvl1", flow.METHODS, "Flow method (tvl1 is what the pretrained weights saw).")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    with common.one_line_errors():
        dataset = dataset_flags.load_dataset()
    print(dataset.describe(), file=sys.stderr)
    options = tfrecord.FrameOptions(FLAGS.fps or None, FLAGS.short_side, FLAGS.jpeg_quality, FLAGS.flow, FLAGS.flow_method)
    name = FLAGS.name or FLAGS.subset
    shards = FLAGS.shards or tfrecord.default_shard_count(len(dataset), beam.default_workers())
    with common.one_line_errors():
        pipeline_options = beam_flags.pipeline_options()
        report = beam_flags.run(
            lambda: tfrecord.write_shards(dataset, FLAGS.out, name, shards, pipeline_options, options,
                                          beam_flags.timeout()),
            tfrecord.shard_paths(FLAGS.out, name, shards), "shards")
    if dataset.missing:
        print(f"{len(dataset.missing)} listed videos were not found (first: {dataset.missing[0]})", file=sys.stderr)
    print(f"{tfrecord.count_videos(FLAGS.out)} videos in all complete shards", file=sys.stderr)
    print(os.path.join(FLAGS.out, "labels.txt"))
    beam_flags.finish(report, FLAGS.out, "videos", "they are left out of their shards (delete a shard to redo it)")
