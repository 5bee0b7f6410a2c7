"""``i3d predict VIDEO...``: the top-k Kinetics classes of each video, as a table or JSON lines."""

import json

from absl import flags

from i3d_keras.cli import common, video_flags

flags.DEFINE_integer("top", 5, "How many classes to print per video.")
flags.DEFINE_bool("json", False, "Print one JSON object per video and line instead of a table.")
flags.DEFINE_string("hub", None, "Use an exported module (folder) instead of --weights.")
FLAGS = flags.FLAGS


def _print_table(path, top, windows):
    print(f"{path}  ({windows} window{'s' if windows > 1 else ''})")
    for rank, (index, label, probability) in enumerate(top, 1):
        print(f"  {rank:>2}. {label:<45} {probability:8.2%}  [{index}]")


def main(argv):
    paths = common.start(argv, usage="i3d predict VIDEO...")
    from i3d_keras import I3D, decode_predictions, inference

    with common.one_line_errors():
        options = video_flags.window_options()
        if FLAGS.hub:
            from i3d_keras.serving import HubModel

            model = HubModel(FLAGS.hub)
        else:
            model = I3D(weights=FLAGS.weights, input_shape=(None, 224, 224, 3))

    def predict_one(path, on_window):
        per_window = inference.window_outputs(model, path, on_window=on_window, **options)
        top = decode_predictions(per_window.mean(axis=0)[None], top=FLAGS.top, from_logits=True)[0]
        if FLAGS.json:
            entries = [{"label": label, "index": index, "probability": probability} for index, label, probability in top]
            print(json.dumps({"file": path, "windows": len(per_window), "top": entries}), flush=True)
        else:
            _print_table(path, top, len(per_window))

    common.for_each_video(paths, "predict", predict_one)
