"""The ``i3d`` command: dispatches ``i3d <command> [flags] [args]`` to one command module."""

import importlib
import sys

COMMANDS = {
    "predict": ("i3d_keras.cli.predict", "print the top Kinetics classes of videos"),
    "features": ("i3d_keras.cli.features", "write pooled I3D features of videos as .npy"),
    "flow": ("i3d_keras.cli.flow", "TV-L1 optical flow of videos, as the flow stream expects it"),
    "build-tfrecords": ("i3d_keras.cli.build_tfrecords", "write a video data set as sharded TFRecords (JPEG frames, optional flow)"),
    "train": ("i3d_keras.cli.train", "fine-tune or train I3D with model.fit under tf.distribute; resumable"),
    "evaluate": ("i3d_keras.cli.evaluate", "top-1/top-5/per-class accuracy, confusion matrix, two-stream fusion"),
    "convert": ("i3d_keras.cli.convert", "convert a published checkpoint into a Keras .weights.h5"),
    "export": ("i3d_keras.cli.export", "export a validated TF-Hub module (SavedModel); --flow_weights: two-stream"),
    "demo": ("i3d_keras.cli.demo", "synthetic action data set: I3D features vs. single frames, fine-tuning vs. random init"),
}


def usage():
    lines = ["usage: i3d <command> [flags] [args]   (i3d <command> --help for its flags)", "", "commands:"]
    lines += [f"  {name:<16} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def run(argv=None):
    """Entry point of the ``i3d`` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"i3d: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    from absl import app

    from i3d_keras.cli import common

    common.quiet_tensorflow()
    module = importlib.import_module(COMMANDS[command][0])  # defines the command's flags
    app.run(module.main, argv=[f"i3d {command}"] + argv[2:])
