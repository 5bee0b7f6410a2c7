"""The ``i3d`` command: dispatches ``i3d <command> [flags] [args]`` to one command module."""

import importlib
import sys
import textwrap

COMMANDS = {
    "predict": ("i3d_keras.cli.predict", "print the top Kinetics classes of videos"),
    "features": ("i3d_keras.cli.features", "write pooled I3D features of videos as .npy"),
    "flow": ("i3d_keras.cli.flow", "TV-L1 optical flow of videos, as the flow stream expects it"),
    "build-tfrecords": ("i3d_keras.cli.build_tfrecords", "write a video data set as sharded TFRecords (JPEG frames, optional flow)"),
    "train": ("i3d_keras.cli.train", "fine-tune or train I3D with model.fit under tf.distribute; resumable"),
    "evaluate": ("i3d_keras.cli.evaluate", "top-1/top-5/per-class accuracy, confusion matrix, two-stream fusion"),
    "convert": ("i3d_keras.cli.convert", "convert a published checkpoint into a Keras .weights.h5"),
    "export": ("i3d_keras.cli.export", "export a validated TF-Hub module, or TF1 Hub / ONNX / OpenVINO / LiteRT / PyTorch (--format)"),
    "hub-cache": ("i3d_keras.cli.hub_cache", "make the dead TF-Hub I3D handles (tfhub.dev, Kaggle) load offline, unchanged"),
    "fvd": ("i3d_keras.cli.fvd", "Fréchet Video Distance between two sets of videos, exactly as the original"),
    "fvd-stats": ("i3d_keras.cli.fvd_stats", "reference FVD statistics of a data set with their manifest (a Beam job)"),
    "demo": ("i3d_keras.cli.demo", "synthetic action data set: I3D features vs. single frames, fine-tuning vs. random init"),
}
HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull")
WORKER_COMMANDS = ("flow", "build-tfrecords")  # their work runs in worker processes: the command needs no TensorFlow


def usage():
    lines = ["usage: i3d <command> [flags] [args]   (i3d <command> --help or i3d help <command> for its flags)", "",
             "commands:"]
    lines += [f"  {name:<16} {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def _describe_flag(flag):
    """``--name=TYPE  help (default: x)`` wrapped for a terminal."""
    kind = flag.flag_type()
    if kind == "bool":
        head = f"--[no]{flag.name}"
    else:
        values = getattr(flag.parser, "enum_values", None)
        head = f"--{flag.name}=" + ("|".join(values) if values else kind.split()[0].upper())
    if flag.default is None or flag.default == "" or flag.default == []:
        default = ""
    elif isinstance(flag.default, bool):
        default = f" (default: {str(flag.default).lower()})"
    elif isinstance(flag.default, (list, tuple)):
        default = f" (default: {','.join(map(str, flag.default))})"
    else:
        default = f" (default: {flag.default})"
    help_text = flag.help or ""
    if help_text.startswith("<") and ">: " in help_text:  # absl puts an enum's values in front of its help
        help_text = help_text.split(">: ", 1)[1]
    required = any("must have a value other than None" in getattr(v, "message", "") for v in flag.validators)
    text = help_text + default + (" (required)" if required else "")
    return f"  {head}\n" + textwrap.fill(text, 100, initial_indent=" " * 6, subsequent_indent=" " * 6)


def command_help(command):
    """The help of one command: what it does (its module's docstring) and every flag it takes, with defaults."""
    from absl import flags

    module_name = COMMANDS[command][0]
    module = importlib.import_module(module_name)  # defines the command's flags
    by_module = flags.FLAGS.flags_by_module_dict()
    own = [name for name in by_module if name.startswith("i3d_keras.cli")]
    own.sort(key=lambda name: (name != module_name, name == "i3d_keras.cli.common", name))
    lines = [(module.__doc__ or "").strip(), "", f"usage: i3d {command} [flags]{_arguments(module)}", "", "flags:"]
    seen = set()
    for name in own:
        for flag in sorted(by_module[name], key=lambda flag: flag.name):
            if flag.name not in seen:
                seen.add(flag.name)
                lines.append(_describe_flag(flag))
    return "\n".join(lines)


def _arguments(module):
    usage_line = next((line for line in (module.__doc__ or "").splitlines() if "VIDEO" in line), "")
    return " VIDEO..." if usage_line else ""


def run(argv=None):
    """Entry point of the ``i3d`` console script."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in HELP_FLAGS or (argv[1] == "help" and len(argv) == 2):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command, rest = argv[1], argv[2:]
    if command == "help":
        command, rest = argv[2], ["--help"]
    if command not in COMMANDS:
        print(f"i3d: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    from i3d_keras.cli import common

    common.quiet_tensorflow(debug="--debug" in rest, import_now=command not in WORKER_COMMANDS)  # before its module
    if any(arg in HELP_FLAGS for arg in rest):
        print(command_help(command))
        sys.exit(0)
    from absl import app

    module = importlib.import_module(COMMANDS[command][0])  # defines the command's flags
    app.run(module.main, argv=[f"i3d {command}"] + rest)
