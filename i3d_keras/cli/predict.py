"""``i3d predict VIDEO...``: the top-k Kinetics classes of each video, as a table or JSON lines.

``--flow_weights`` adds the optical-flow stream and prints the two streams' fused prediction (logits summed, the
paper's fusion): flow comes from the video's ``i3d flow`` folder under ``--flow_root``, else TV-L1 computed now.
"""

import json

from absl import flags

from i3d_keras.cli import common, runtime_flags, video_flags

flags.DEFINE_integer("top", 5, "How many classes to print per video.")
flags.DEFINE_bool("json", False, "Print one JSON object per video and line instead of a table.")
flags.DEFINE_string("hub", None, "Use an exported module (folder) instead of --weights.")
flags.DEFINE_string("flow_weights", None, "Two streams: flow weight set (flow_imagenet_kinetics400) or .weights.h5.")
flags.DEFINE_string("flow_root", None, "With --flow_weights: the `i3d flow --out` folder holding the videos' flow "
                    "(videos without a flow folder get TV-L1 computed now, about 0.1 s per frame on 2 cores).")
flags.DEFINE_float("flow_weight", 1.0, "With --flow_weights: fused logits = RGB + this x flow.")
FLAGS = flags.FLAGS


def _table(path, top, windows, streams):
    lines = [f"{path}  ({windows} window{'s' if windows > 1 else ''}, {streams})"]
    lines += [f"  {rank:>2}. {label:<45} {probability:8.2%}  [{index}]" for rank, (index, label, probability) in enumerate(top, 1)]
    return "\n".join(lines)


def main(argv):
    paths = common.start(argv, usage="i3d predict VIDEO...")
    from i3d_keras import I3D, decode_predictions, inference

    with common.one_line_errors():
        options = video_flags.window_options()
        if FLAGS.hub:
            from i3d_keras.serving import HubModel

            model = HubModel(FLAGS.hub)
        else:
            model = runtime_flags.exported_model(FLAGS.weights) or I3D(
                weights=FLAGS.weights, input_shape=(None, 224, 224, 3), dtype=FLAGS.dtype)
        flow_model = None
        if FLAGS.flow_weights:
            flow_model = runtime_flags.exported_model(FLAGS.flow_weights, modality="flow") or I3D(
                weights=FLAGS.flow_weights, modality="flow", input_shape=(None, 224, 224, 2), dtype=FLAGS.dtype)

    def predict_one(path, on_window):
        per_window = inference.window_outputs(model, path, on_window=on_window, **options)
        logits = per_window.mean(axis=0)
        if flow_model is not None:
            flow_windows = inference.flow_windows(path, FLAGS.flow_root, **options)
            logits = logits + FLAGS.flow_weight * inference.model_outputs(flow_model, flow_windows, on_window).mean(axis=0)
        top = decode_predictions(logits[None], top=FLAGS.top, from_logits=True)[0]
        streams = "rgb+flow" if flow_model is not None else "rgb"
        if FLAGS.json:
            entries = [{"label": label, "index": index, "probability": probability} for index, label, probability in top]
            return json.dumps({"file": path, "windows": len(per_window), "streams": streams, "top": entries})
        return _table(path, top, len(per_window), streams)

    common.for_each_video(paths, "predict", predict_one)
