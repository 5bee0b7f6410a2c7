"""``i3d export --weights kinetics400 --out export/i3d-kinetics-400/1``: a validated TF-Hub module.

``--format onnx|openvino|litert`` writes a folder for ONNX Runtime, OpenVINO or LiteRT instead (builtin LiteRT
operators only; ``--quantize float16`` halves the LiteRT file). ``--format tf1_hub`` writes the TF1 Hub format of
TF-Hub's original module (``hub.Module``; ``i3d hub-cache`` installs it under the old handles); ``torchscript``
a drop-in for StyleGAN-V's FVD detector ``i3d_torchscript.pt`` (``--batch_norm_epsilon 1e-5``: the detector of
VideoGPT, TATS and cd-fvd); ``pytorch-i3d`` the ``InceptionI3d`` state dict of piergiaj/pytorch-i3d and TATS.
Every export is reloaded in its own runtime and compared with the Keras model before it is put in place; the
check's figures are printed. ``--flow_weights`` adds the flow stream: a two-stream export whose logits are the sum
of both streams'.
"""

import json
import os
import sys

from absl import flags

from i3d_keras.cli import common
from i3d_keras.runtimes import FORMATS, QUANTIZATIONS

flags.DEFINE_string("weights", "kinetics400", "Registered weight set or .weights.h5 file to export.")
flags.DEFINE_enum("modality", None, ["rgb", "flow"], "Stream (defaults to the weight set's).")
flags.DEFINE_integer("classes", None, "Classes of a .weights.h5 file (registered sets know theirs).")
flags.DEFINE_string("flow_weights", None, "Flow weights: export a two-stream module (RGB + flow logits).")
flags.DEFINE_enum("format", "saved_model", list(FORMATS), "saved_model: a TF-Hub module (TF2 SavedModel); tf1_hub: "
                  "the original module's TF1 Hub format; onnx, openvino, litert: a folder for that runtime; "
                  "torchscript (i3d_torchscript.pt, StyleGAN-V's FVD detector), pytorch-i3d (InceptionI3d state "
                  "dict): PyTorch drop-ins. Runtimes need their extra, e.g. pip install \"i3d-keras[onnx]\".")
flags.DEFINE_float("batch_norm_epsilon", None, "The batch norms' epsilon (default DeepMind's 1e-3). 1e-5 exports the "
                   "FVD detector of VideoGPT, TATS and cd-fvd (same weights); a pytorch-i3d state dict holds no "
                   "epsilon: the class that loads it decides.")
flags.DEFINE_enum("quantize", "none", list(QUANTIZATIONS), "litert only: float16 weights (half the size; top-1 kept).")
flags.DEFINE_string("out", None, "Folder to write, e.g. export/i3d-kinetics-400/1.", required=True)
flags.DEFINE_bool("overwrite", False, "Replace an existing module at --out.")
flags.DEFINE_bool("archive", False, "saved_model only: also write <out>.tar.gz.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import I3D, runtimes, serving

    with common.one_line_errors():
        if FLAGS.archive and FLAGS.format != "saved_model":
            raise ValueError("--archive is for --format saved_model")
        runtimes.require(FLAGS.format)
        epsilon = {"batch_norm_epsilon": FLAGS.batch_norm_epsilon} if FLAGS.batch_norm_epsilon else {}
        model = I3D(weights=FLAGS.weights, modality=FLAGS.modality, classes=FLAGS.classes, input_shape=None, **epsilon)
        name = FLAGS.weights
        if FLAGS.flow_weights:
            flow = I3D(weights=FLAGS.flow_weights, modality="flow", classes=FLAGS.classes, input_shape=None, **epsilon)
            model, name = serving.two_stream_model(model, flow), f"{FLAGS.weights} + {FLAGS.flow_weights}"
        if FLAGS.format == "saved_model":
            path = serving.export(model, FLAGS.out, weights_name=name, overwrite=FLAGS.overwrite, archive=FLAGS.archive)
        else:
            path = runtimes.export(model, FLAGS.out, FLAGS.format, weights_name=name, quantize=FLAGS.quantize,
                                   overwrite=FLAGS.overwrite)
    validation_file = serving.VALIDATION_FILE if FLAGS.format == "saved_model" else runtimes.VALIDATION_FILE
    with open(os.path.join(path, validation_file), encoding="utf-8") as report_file:
        report = json.load(report_file)
    if FLAGS.format == "tf1_hub":
        checks = ", ".join(f"{check} {difference:.1g}" for check, difference in report["max_abs_difference"].items())
        print(f"validated against the Keras model (max |difference| <= {report['tolerance']:g}): {checks}",
              file=sys.stderr)
    elif FLAGS.format == "saved_model":
        checks = ", ".join(f"{check} {difference:.1g}" for check, difference in report["max_abs_difference"].items())
        print(f"validated against the Keras model (max |difference| <= {report['tolerance']:g}): {checks}; "
              f"signatures: {', '.join(report['signatures'])}", file=sys.stderr)
    else:
        bound = f"<= {report['tolerance']:g}" if report["tolerance"] else "same top class"
        print(f"validated in {runtimes.runtime_of(FLAGS.format)} against the Keras model ({bound}): max |difference| "
              f"{report['max_abs_difference']:.1g} on a {report['frames']}-frame clip; outputs: "
              f"{', '.join(report['outputs'])}", file=sys.stderr)
    print(path)
