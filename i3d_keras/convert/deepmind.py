"""Converts DeepMind's published I3D checkpoints (kinetics-i3d, Sonnet names; also TF-Hub's variables).

``RGB/inception_i3d/Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w`` -> ``Mixed_4b/Branch_1/Conv3d_0b_3x3/kernel``.
The ``RGB/`` or ``Flow/`` prefix is optional (the Kinetics-600 checkpoint has none); its ``Momentum`` slots
are skipped. Checkpoints have no batch-norm ``gamma``: the model has no scale either.
"""

from i3d_keras.convert import regex_renamer, tf_checkpoint_tree

_NAME = r"^(?:(?:RGB|Flow)/inception_i3d/)?(?P<scope>.+?)/(?P<param>conv_3d/w|conv_3d/b|batch_norm/\w+)$"
_PARAMS = {
    "conv_3d/w": "kernel",
    "conv_3d/b": "bias",
    "batch_norm/beta": "beta",
    "batch_norm/moving_mean": "moving_mean",
    "batch_norm/moving_variance": "moving_variance",
}
canonical_name = regex_renamer(_NAME, _PARAMS)


def convert(path):
    """The weight tree of a DeepMind I3D checkpoint (path prefix such as ``.../rgb_imagenet/model.ckpt``)."""
    return tf_checkpoint_tree(path, canonical_name, "DeepMind I3D")
