"""``i3d evaluate --model runs/x/model.keras --tfrecords test/ --out report/``: accuracy of a trained model.

Reports single-clip and full-video scoring separately (``--mode``), with top-1, top-5, mean per-class accuracy,
a per-class table and a confusion-matrix picture; ``--flow_model`` adds the flow stream and the two-stream fusion.
"""

import sys

from absl import flags

from i3d_keras.cli import common, dataset_flags

flags.DEFINE_string("model", None, "A model.keras from `i3d train`, or a registered weight set (kinetics400).",
                    required=True)
flags.DEFINE_string("flow_model", None, "The flow stream's model.keras (or weight set) for two-stream fusion.")
flags.DEFINE_float("flow_weight", 1.0, "Two-stream fusion: RGB logits + this x flow logits.")
flags.DEFINE_string("flow_root", None, "Raw-video data sets: the `i3d flow` output folder for the flow stream.")
flags.DEFINE_string("out", None, "Folder for the reports (json, per-class csv, confusion png).", required=True)
flags.DEFINE_list("mode", ["clip", "video"], "clip (centred window), video (all frames), or both.")
flags.DEFINE_integer("frames", None, "Frames of the single clip (default: the run's, else 64).")
flags.DEFINE_integer("crop", None, "Crop size (default: the run's config.json beside --model, else 224).")
flags.DEFINE_integer("short_side", None, "Raw videos: decode with this short side (default: the run's, else 256).")
flags.DEFINE_integer("batch_size", 8, "Clips per model call in clip mode.")
FLAGS = flags.FLAGS


def load_model(name):
    """A trained ``model.keras`` (loaded in safe mode) or an I3D with a registered weight set."""
    import os

    from i3d_keras import I3D
    from i3d_keras.training.run import load_trained

    return load_trained(name) if os.path.exists(name) else I3D(weights=name)


def clip_options(model_path):
    """Frames, crop and short side: the flags, else the training run's (``config.json`` beside the model)."""
    import json
    import os

    run = {"num_frames": 64, "crop_size": 224, "short_side": 256}
    config = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    if os.path.exists(config):
        with open(config, encoding="utf-8") as text:
            run.update({key: value for key, value in json.load(text).items() if key in run})
    return {"num_frames": FLAGS.frames or run["num_frames"], "crop_size": FLAGS.crop or run["crop_size"],
            "short_side": FLAGS.short_side or run["short_side"]}


def main(argv):
    common.start(argv)
    from i3d_keras import evaluation
    from i3d_keras.data import pipeline
    from i3d_keras.training.run import data_labels

    with common.one_line_errors():
        source = dataset_flags.load_dataset(allow_tfrecords=True)
        names = data_labels(source).names
        streams = {"rgb": load_model(FLAGS.model)}
        if FLAGS.flow_model:
            streams["flow"] = load_model(FLAGS.flow_model)
        for mode in FLAGS.mode:
            if mode not in evaluation.MODES:
                raise ValueError(f"--mode must be clip and/or video, got {mode!r}")
    skipped = pipeline.SkippedVideos()
    for mode in FLAGS.mode:
        with common.one_line_errors():
            scored = {stream: evaluation.predict(model, source, mode, modality=stream, batch_size=FLAGS.batch_size,
                                                 skipped=skipped, flow_root=FLAGS.flow_root, **clip_options(FLAGS.model))
                      for stream, model in streams.items()}
            if len(scored) == 2:
                scored["two_stream"] = evaluation.fuse(scored["rgb"], scored["flow"], FLAGS.flow_weight)
            for stream, predictions in scored.items():
                report = evaluation.metrics(predictions, names)
                report["scoring"] = evaluation.MODES[mode]
                evaluation.write_report(report, names, FLAGS.out, f"{stream}_{mode}")
                print(f"{stream:<10} {evaluation.MODES[mode]:<42} videos {report['videos']:>6}  top-1 "
                      f"{report['top1']:.4f}  top-5 {report['top5']:.4f}  mean class {report['mean_class_accuracy']:.4f}")
    if skipped.count:
        print(f"error: {skipped.describe()}", file=sys.stderr)
        sys.exit(1)
