"""``--runtime``: run the model in ONNX Runtime, OpenVINO or LiteRT instead of TensorFlow (predict, features, fvd)."""

from absl import flags

from i3d_keras.runtimes import RUNTIMES

flags.DEFINE_enum("runtime", "tensorflow", list(RUNTIMES), "Where the model runs. Other than tensorflow: the weights "
                  "are exported once (validated, cached beside them) and run there; needs the extra, e.g. "
                  'pip install "i3d-keras[onnx]" (docs: Export and runtimes). Decoding stays the same.')
FLAGS = flags.FLAGS


def exported_folder(weights, modality=None, batch_norm_epsilon=None):
    """None under ``--runtime tensorflow``; else the folder of the cached export of ``weights`` (batch-norm
    epsilon: ``runtimes.cached_export``) for ``--runtime`` (written and validated on first use)."""
    if FLAGS.runtime == "tensorflow":
        return None
    from i3d_keras import runtimes

    if "dtype" in FLAGS and FLAGS.dtype != "float32":
        raise ValueError(f"--dtype applies to --runtime tensorflow; the {FLAGS.runtime} export is float32")
    return runtimes.cached_export(weights, RUNTIMES[FLAGS.runtime], modality, batch_norm_epsilon)


def exported_model(weights, output="logits", modality=None, batch_norm_epsilon=None):
    """None under ``--runtime tensorflow``; else the cached export of ``weights`` run in ``--runtime``, called
    like the Keras model and returning ``output`` (``"logits"`` or ``"features"``)."""
    folder = exported_folder(weights, modality, batch_norm_epsilon)
    if folder is None:
        return None
    from i3d_keras import runtimes

    return runtimes.ExportedModel(folder, output=output)
