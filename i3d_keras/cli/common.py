"""What every command shares: quiet logs, ``--debug``, one-line errors and a progress line on stderr."""

import contextlib
import logging
import os
import sys

from absl import flags

flags.DEFINE_bool("debug", False, "Show full tracebacks instead of one-line errors.")
FLAGS = flags.FLAGS


def quiet_tensorflow():
    """Hides TensorFlow's start-up chatter (must run before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def setup_logging():
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr, force=True)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def start(argv, usage=None):
    """Checks the positional arguments and quiets logging; returns the positional arguments.

    ``usage`` (e.g. ``"i3d predict VIDEO..."``) when at least one is required, None when none are allowed.
    """
    args = argv[1:]
    if usage is None and args:
        fail(f"unexpected arguments: {' '.join(args)}")
    if usage is not None and not args:
        fail(f"give at least one video: {usage}")
    setup_logging()
    return args


def fail(message, code=2):
    """Prints ``error: message`` and exits with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


@contextlib.contextmanager
def one_line_errors():
    """Turns a user-facing error (ValueError, OSError) into one line and exit code 2 unless ``--debug``."""
    try:
        yield
    except (ValueError, OSError) as error:
        if FLAGS.debug:
            raise
        fail(str(error))


def report_file_error(path, error):
    """One line naming the file and the cause, for batch commands that go on with the next file."""
    if FLAGS.debug:
        raise error
    message = str(error)
    if not message.startswith(str(path)):
        message = f"{path}: {type(error).__name__}: {message}"
    print(f"error: {message}", file=sys.stderr)


def for_each_video(paths, label, process):
    """Runs ``process(path, on_window)`` on every path; a failure is one line and the batch goes on.

    Shows a progress line on a terminal. Exits with status 1 after the batch if any video failed.
    """
    failed = 0
    progress = Progress(len(paths), label)
    for number, path in enumerate(paths):
        try:
            process(path, lambda window: progress.update(number, f"{path}: window {window + 1}"))
        except Exception as error:  # one bad file must not stop the batch
            progress.close()
            report_file_error(path, error)
            failed += 1
            continue
        progress.close()
    if failed:
        print(f"{failed} of {len(paths)} videos failed", file=sys.stderr)
        sys.exit(1)


class Progress:
    """A one-line progress report on stderr (only when stderr is a terminal)."""

    def __init__(self, total, label):
        self.total, self.label = total, label
        self.enabled = sys.stderr.isatty()

    def update(self, done, detail=""):
        if self.enabled:
            print(f"\r{self.label} {done}/{self.total} {detail}".ljust(79)[:79], end="", file=sys.stderr, flush=True)

    def close(self):
        if self.enabled:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)
