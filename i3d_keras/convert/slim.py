"""Converts TF-slim's ImageNet Inception-V1 checkpoint (``inception_v1.ckpt``) to a 2D weight tree.

``InceptionV1/Mixed_4b/Branch_1/Conv2d_0b_3x3/BatchNorm/moving_mean`` -> ``Mixed_4b/Branch_1/Conv2d_0b_3x3/moving_mean``,
``.../weights`` -> ``kernel``, ``.../biases`` -> ``bias`` (the 1001-class classifier only).
"""

from i3d_keras.convert import regex_renamer, tf_checkpoint_tree

_NAME = r"^InceptionV1/(?P<scope>.+?)/(?P<param>weights|biases|BatchNorm/\w+)$"
_PARAMS = {
    "weights": "kernel",
    "biases": "bias",
    "BatchNorm/beta": "beta",
    "BatchNorm/moving_mean": "moving_mean",
    "BatchNorm/moving_variance": "moving_variance",
}
canonical_name = regex_renamer(_NAME, _PARAMS)


def convert(path):
    """The 2D weight tree of a TF-slim Inception-V1 checkpoint."""
    return tf_checkpoint_tree(path, canonical_name, "TF-slim Inception-V1")
