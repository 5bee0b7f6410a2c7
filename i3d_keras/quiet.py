"""Importing TensorFlow without its start-up chatter.

TensorFlow 2.21 writes oneDNN, CPU-instruction and CUDA lines (one at error level, ``failed call to cuInit`` on a
machine without a GPU) to stderr before any log level applies. ``import_tensorflow`` imports it and starts its
devices with stderr captured; should the import fail, what TensorFlow printed is shown with the error.
"""

import os
import sys
import tempfile


def wanted():
    """Whether TensorFlow's own lines are to be hidden: ``TF_CPP_MIN_LOG_LEVEL`` is 3 (errors hidden too), as the
    ``i3d`` command sets it unless ``--debug``."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3"


def import_tensorflow():
    """Imports TensorFlow and initialises its devices with stderr captured; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # initialises the devices: CUDA's lines come here
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tf
