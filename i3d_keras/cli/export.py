"""``i3d export --weights kinetics400 --out export/i3d-kinetics-400/1``: a validated TF-Hub module.

``--flow_weights`` adds the flow stream: a two-stream module whose logits are the sum of both streams'.
"""

import json
import os
import sys

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_string("weights", "kinetics400", "Registered weight set or .weights.h5 file to export.")
flags.DEFINE_enum("modality", None, ["rgb", "flow"], "Stream (defaults to the weight set's).")
flags.DEFINE_integer("classes", None, "Classes of a .weights.h5 file (registered sets know theirs).")
flags.DEFINE_string("flow_weights", None, "Flow weights: export a two-stream module (RGB + flow logits).")
flags.DEFINE_string("out", None, "Module folder to write, e.g. export/i3d-kinetics-400/1.", required=True)
flags.DEFINE_bool("overwrite", False, "Replace an existing module at --out.")
flags.DEFINE_bool("archive", False, "Also write <out>.tar.gz.")
FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    from i3d_keras import I3D, serving

    with common.one_line_errors():
        model = I3D(weights=FLAGS.weights, modality=FLAGS.modality, classes=FLAGS.classes, input_shape=None)
        name = FLAGS.weights
        if FLAGS.flow_weights:
            flow = I3D(weights=FLAGS.flow_weights, modality="flow", classes=FLAGS.classes, input_shape=None)
            model, name = serving.two_stream_model(model, flow), f"{FLAGS.weights} + {FLAGS.flow_weights}"
        path = serving.export(model, FLAGS.out, weights_name=name, overwrite=FLAGS.overwrite, archive=FLAGS.archive)
    with open(os.path.join(path, serving.VALIDATION_FILE), encoding="utf-8") as report_file:
        report = json.load(report_file)
    checks = ", ".join(f"{check} {difference:.1g}" for check, difference in report["max_abs_difference"].items())
    print(f"validated against the Keras model (max |difference| <= {report['tolerance']:g}): {checks}; "
          f"signatures: {', '.join(report['signatures'])}", file=sys.stderr)
    print(path)
