"""``i3d demo``: the embedded default job, for a machine with no video of its own (see ``i3d_keras.demo``)."""

import json

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_integer("clips_per_class", 50, "Synthetic clips per class (two thirds train, one third held out).")
flags.DEFINE_integer("frames", 16, "Frames per clip.")
flags.DEFINE_integer("size", 112, "Frame size in pixels.")
flags.DEFINE_integer("seed", 0, "Seed of the data set and of the classifier.")
flags.DEFINE_string("weights", "kinetics400", "I3D weights that embed the clips.")
flags.DEFINE_bool("json", False, "End with one JSON line of the results.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import demo

    with common.one_line_errors():
        results = demo.run(FLAGS.clips_per_class, FLAGS.frames, FLAGS.size, FLAGS.seed, FLAGS.weights)
    print(
        f"I3D (temporal) {results['temporal_accuracy']:.1%} vs single frame {results['single_frame_accuracy']:.1%}"
        f" (chance {results['chance']:.1%}) on {results['test_clips']} held-out clips, {results['seconds']:.0f} s"
    )
    if FLAGS.json:
        print(json.dumps(results))
