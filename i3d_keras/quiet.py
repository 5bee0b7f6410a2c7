"""Importing TensorFlow without its start-up chatter.

TensorFlow 2.21 writes oneDNN, CPU-instruction and CUDA lines (one at error level, ``failed call to cuInit`` on a
machine without a GPU) to stderr before any log level applies. ``import_tensorflow`` imports it and starts its
devices with stderr captured; should the import fail, what TensorFlow printed is shown with the error.
"""

import contextlib
import os
import sys
import tempfile


HIDE = "I3D_KERAS_QUIET_TENSORFLOW"  # set by the ``i3d`` command unless --debug; worker processes inherit it


def hide():
    """From now on, in this process and the worker processes it starts: TensorFlow's log level 3 (errors hidden
    too) and its start-up lines captured wherever ``import_tensorflow`` imports it. TensorFlow itself sets the
    level to 1 when imported, so an inherited value says nothing; hence the variable of our own."""
    os.environ[HIDE] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"


def wanted():
    """Whether TensorFlow's own lines are to be hidden here (``hide`` was called here or in a parent process)."""
    return os.environ.get(HIDE) == "1"


@contextlib.contextmanager
def native_stderr_captured():
    """Inside, what native code writes to file descriptor 2 is kept back; shown only when the body raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Imports TensorFlow and initialises its devices with stderr captured; returns the module."""
    with native_stderr_captured():
        # Keras first: it loads its backend, and under KERAS_BACKEND=torch PyTorch must be loaded before TensorFlow
        # (TensorFlow's import loads Keras, whose import of torch then crashes the process)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # initialises the devices: CUDA's lines come here
    return tf
