"""What every command shares: quiet start-up, ``--debug``, one-line errors, progress, and stopping a batch when
its output cannot be written."""

import contextlib
import logging
import os
import sys

from absl import flags

from i3d_keras.files import OutputError
from i3d_keras.progress import Progress

flags.DEFINE_bool("debug", False, "Show full tracebacks and TensorFlow's own log lines instead of one-line errors.")
FLAGS = flags.FLAGS

# the exit status of a batch stopped because its output cannot be written (bad inputs give 1, usage errors 2)
OUTPUT_FAULT = 3


def quiet_tensorflow(debug=False, import_now=True):
    """Hides TensorFlow's start-up chatter unless ``debug``: sets its log level and, with ``import_now``, imports
    it quietly (``i3d_keras.quiet``); worker processes that need TensorFlow import it quietly themselves."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if debug:
        return
    from i3d_keras import quiet

    quiet.hide()
    if import_now:
        quiet.import_tensorflow()


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
    """Turns a user-facing error (ValueError, OSError, a missing optional extra, a pipeline that cannot run) into
    one line and exit code 2 (``OUTPUT_FAULT`` for an output that cannot be written) unless ``--debug``."""
    from i3d_keras.data.beam import JobFailed
    from i3d_keras.runtimes import MissingExtra

    try:
        yield
    except (ValueError, OSError, MissingExtra, JobFailed) as error:
        if FLAGS.debug:
            raise
        fail(str(error), OUTPUT_FAULT if isinstance(error, OutputError) else 2)


def report_file_error(path, error):
    """One line naming the file and the cause, for batch commands that go on with the next file."""
    if FLAGS.debug:
        raise error
    message = str(error)
    if not message.startswith(str(path)):
        message = f"{path}: {type(error).__name__}: {message}"
    print(f"error: {message}", file=sys.stderr)


def stop_batch(error, done, total, unit="videos"):
    """Ends a batch whose output cannot be written (``OutputError``): one line naming the output and the cause,
    how far it got, and exit status ``OUTPUT_FAULT``. The same command run again goes on from there."""
    if FLAGS.debug:
        raise error
    print(f"error: {error}", file=sys.stderr)
    print(f"stopped after {done} of {total} {unit}: fix the output's cause and run the same command again to go on",
          file=sys.stderr)
    sys.exit(OUTPUT_FAULT)


def for_each_video(paths, label, process):
    """Runs ``process(path, on_window)`` on every path and prints the line it returns; a bad video is one line
    and the batch goes on, an output that cannot be written stops it (``stop_batch``).

    Shows progress (per video, and per window on a terminal). Exits with status 1 after the batch if any video
    failed.
    """
    failed = 0
    progress = Progress(len(paths), label)
    for number, path in enumerate(paths):
        try:
            result = process(path, lambda window: progress.update(number, f"{os.path.basename(path)}: window {window + 1}"))
            if result:
                progress.clear()
                print(result, flush=True)
        except OutputError as error:
            progress.close()
            stop_batch(error, number, len(paths))
        except Exception as error:  # one bad file must not stop the batch
            progress.clear()
            report_file_error(path, error)
            failed += 1
        progress.update(number + 1)
    progress.close()
    if failed:
        print(f"{failed} of {len(paths)} videos failed", file=sys.stderr)
        sys.exit(1)
