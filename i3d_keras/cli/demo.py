"""``i3d demo``: the embedded default job, for a machine with no video of its own (see ``i3d_keras.demo``)."""

import json

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_integer("clips_per_class", 50, "Synthetic clips per class (two thirds train, one third held out).")
flags.DEFINE_integer("frames", 16, "Frames per clip.")
flags.DEFINE_integer("size", 112, "Frame size in pixels.")
flags.DEFINE_integer("seed", 0, "Seed of the data set and of the classifier.")
flags.DEFINE_string("weights", "kinetics400", "Pretrained I3D weights: the linear probe's features and the fine-tuning's start.")
flags.DEFINE_bool("quick", False, "Only the linear probe on frozen features (no fine-tuning): about half the time.")
flags.DEFINE_integer("epochs", 10, "Fine-tuning epochs (each over the training clips and their mirror images).")
flags.DEFINE_bool("json", False, "End with one JSON line of the results.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import demo

    with common.one_line_errors():
        results = demo.run(FLAGS.clips_per_class, FLAGS.frames, FLAGS.size, FLAGS.seed, FLAGS.weights, FLAGS.quick,
                           FLAGS.epochs)
    summary = (f"Linear probe: I3D (temporal) {results['temporal_accuracy']:.1%} vs single frame "
               f"{results['single_frame_accuracy']:.1%} (chance {results['chance']:.1%})")
    if not FLAGS.quick:
        summary += (f"; fine-tuned from {results['fine_tuned_from']}: {FLAGS.weights} "
                    f"{results['fine_tuned_pretrained_accuracy']:.1%} vs random init "
                    f"{results['fine_tuned_random_init_accuracy']:.1%}")
    print(f"{summary}; {results['test_clips']} held-out clips, {results['seconds']:.0f} s")
    if FLAGS.json:
        print(json.dumps(results))
