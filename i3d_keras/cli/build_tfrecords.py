"""``i3d build-tfrecords --folder DIR --out DIR``: a video data set as sharded TFRecords of JPEG frames.

Frames are stored at 25 fps with the short side at 256 (``--short_side``), optionally with TV-L1 flow
(``--flow``). Shards are written in parallel and atomically: a rerun keeps finished shards (resume).
Unreadable videos are skipped with one line each; the exit status is 1 if any was skipped.
"""

import os
import sys
import time

from absl import flags

from i3d_keras.cli import common, dataset_flags
from i3d_keras.data import decoding, flow, tfrecord

flags.DEFINE_string("out", None, "Folder for the shards and labels.txt.", required=True)
flags.DEFINE_string("name", None, "Shard name prefix (default: --subset, i.e. train or test).")
flags.DEFINE_integer("shards", 0, "Number of shards (0: enough for every core and <= 256 videos each).")
flags.DEFINE_integer("workers", 0, "Worker processes (0: one per core).")
flags.DEFINE_float("fps", decoding.DEFAULT_FPS, "Store frames at this rate (0 keeps the native rate).")
flags.DEFINE_integer("short_side", decoding.SHORT_SIDE, "Store frames with this short side.")
flags.DEFINE_integer("jpeg_quality", tfrecord.DEFAULT_JPEG_QUALITY, "JPEG quality of the stored frames.")
flags.DEFINE_bool("flow", False, "Also store optical flow (flow/encoded); slow: about 1 s per frame pair per core.")
flags.DEFINE_enum("flow_method", "tvl1", flow.METHODS, "Flow method (tvl1 is what the pretrained weights saw).")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    with common.one_line_errors():
        dataset = dataset_flags.load_dataset()
    print(dataset.describe(), file=sys.stderr)
    options = tfrecord.FrameOptions(FLAGS.fps or None, FLAGS.short_side, FLAGS.jpeg_quality, FLAGS.flow, FLAGS.flow_method)
    started = time.monotonic()
    progress = None

    def on_shard(report):
        nonlocal progress
        done = report.written_shards + len(report.failed_shards)
        todo = len(report.shards) - report.existing_shards
        progress = progress or common.Progress(todo, "shards")
        elapsed = time.monotonic() - started
        progress.update(done, f"{report.videos / elapsed:.1f} videos/s, ETA {elapsed / done * (todo - done) / 60:.0f} min")

    with common.one_line_errors():
        report = tfrecord.write_shards(dataset, FLAGS.out, FLAGS.name or FLAGS.subset, FLAGS.shards or None,
                                       FLAGS.workers or None, options, on_shard)
    if progress:
        progress.close()
    for line in report.skipped + report.failed_shards:
        print(f"error: {line}", file=sys.stderr)
    if dataset.missing:
        print(f"{len(dataset.missing)} listed videos were not found (first: {dataset.missing[0]})", file=sys.stderr)
    print(f"{FLAGS.out}: {report.describe()} in {time.monotonic() - started:.0f} s; "
          f"{report.total_videos()} videos in all complete shards", file=sys.stderr)
    print(os.path.join(FLAGS.out, "labels.txt"))
    if report.skipped or report.failed_shards:
        sys.exit(1)
