"""Inflation: 2D Inception-V1 weights -> 3D I3D weights (Carreira & Zisserman, section 2.2).

Each ``k x k`` kernel is repeated ``t`` times along time and divided by ``t``, so that on a "boring" video
(one frame repeated) the 3D network computes exactly what the 2D network computes on that frame. Batch-norm
statistics are copied. For the flow stream the RGB stem kernel is averaged over its 3 input channels and
that mean is used for each of the 2 flow channels.
"""

import dataclasses

import numpy as np

from i3d_keras import convert


@dataclasses.dataclass
class InflationReport:
    """What ``inflate`` did: the 3D keys filled from 2D weights, and those left as initialised."""

    inflated: list
    left_initialised: list

    def __str__(self):
        return f"inflated {len(self.inflated)} tensors; left as initialised: {', '.join(self.left_initialised) or 'none'}"


def inflate_kernel(kernel_2d, shape_3d):
    """``[kh, kw, cin, cout]`` -> ``shape_3d = [kt, kh, kw, cin', cout]``: repeated over time, divided by ``kt``.

    ``cin' = 2`` with ``cin = 3`` takes the mean over the RGB channels for each flow channel.
    """
    kernel_2d = np.asarray(kernel_2d, dtype=np.float32)
    frames, in_channels = shape_3d[0], shape_3d[3]
    if in_channels != kernel_2d.shape[2]:
        if kernel_2d.shape[2] != 3:
            raise ValueError(f"cannot adapt a kernel with {kernel_2d.shape[2]} input channels to {in_channels}")
        kernel_2d = np.repeat(kernel_2d.mean(axis=2, keepdims=True), in_channels, axis=2)
    return np.repeat(kernel_2d[None], frames, axis=0) / frames


def inflate_tree(tree_2d, shapes_3d):
    """Maps a 2D weight tree (``Conv2d`` scopes) onto the 3D keys in ``shapes_3d`` (``{key: shape}``).

    Returns ``(tree_3d, left_initialised)``; a 3D key is left out when its 2D twin is missing or cannot
    fit (a classifier with another class count).
    """
    tree_3d, left = {}, []
    for key, shape in shapes_3d.items():
        value = tree_2d.get(key.replace("Conv3d", "Conv2d"))
        if value is None:
            left.append(key)
        elif key.endswith("/kernel"):
            if tuple(value.shape[1:]) != tuple(shape[2:]) and key.startswith("Logits/"):
                left.append(key)
            else:
                tree_3d[key] = inflate_kernel(value, shape)
        elif tuple(value.shape) == tuple(shape):
            tree_3d[key] = np.asarray(value)
        else:
            left.append(key)
    return tree_3d, left


def inflate(model_2d, model_3d):
    """Fills I3D ``model_3d`` with the inflated weights of Inception-V1 ``model_2d``; returns a report.

    Strict: every weight of the 3D trunk must come from the 2D model; only a classifier whose class
    count differs (1001 ImageNet classes vs. the video classes) is left as initialised.
    """
    variables_3d = convert.model_variables(model_3d, rank=3)
    tree_3d, left = inflate_tree(convert.read_tree(model_2d, rank=2), {k: tuple(v.shape) for k, v in variables_3d.items()})
    trunk_left = [key for key in left if not key.startswith("Logits/")]
    if trunk_left:
        raise convert.WeightsMismatchError(f"2D model cannot fill the 3D trunk: {', '.join(trunk_left)}")
    convert.assign(model_3d, tree_3d, rank=3, source=model_2d.name, skip=left)
    return InflationReport(sorted(tree_3d), sorted(left))
