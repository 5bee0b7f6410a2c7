"""A PyTorch I3D for the benchmark's PyTorch rows: the same architecture (``i3d_keras.model.ARCHITECTURE``), the
same weights (copied from the Keras model by layer name) and TensorFlow's ``same`` padding, so its logits equal
ours. Written for this benchmark; not part of the library.

``python benchmarks/torch_i3d.py`` checks it against ``I3D(weights="kinetics400")`` on a random clip.
"""

import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from i3d_keras import layers as keras_layers  # noqa: E402  (the checkpoints' names and the layer sizes)
from i3d_keras.model import ARCHITECTURE, endpoint_name, logits_scope  # noqa: E402

BN_EPSILON = keras_layers.BN_EPSILON


def same_padding(sizes, kernel, strides):
    """TensorFlow's ``same`` padding of ``sizes`` (time, height, width) as ``F.pad``'s (w, w, h, h, t, t)."""
    pads = []
    for size, k, s in zip(sizes, kernel, strides):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (t0, t1), (h0, h1), (w0, w1) = pads
    return (w0, w1, h0, h1, t0, t1)


class Unit(nn.Module):
    """Conv3d (no bias, ``same``) -> batch norm (offset only) -> ReLU."""

    def __init__(self, name, in_channels, out_channels, kernel, strides=(1, 1, 1)):
        super().__init__()
        self.name, self.kernel, self.strides = name, tuple(kernel), tuple(strides)
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel, self.strides, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=BN_EPSILON, momentum=0.001)
        self.bn.weight.requires_grad_(False)  # scale=False: gamma stays 1

    def forward(self, x):
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.strides))
        return F.relu(self.bn(self.conv(x)))


class MaxPool(nn.Module):
    def __init__(self, kernel, strides):
        super().__init__()
        self.kernel, self.strides = tuple(kernel), tuple(strides)

    def forward(self, x):
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.strides), value=-math.inf)
        return F.max_pool3d(x, self.kernel, self.strides)


class Mixed(nn.Module):
    def __init__(self, block, in_channels, channels):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = channels
        names = keras_layers.block_unit_names(block)
        self.branch_0 = Unit(names["0a"], in_channels, c0, (1, 1, 1))
        self.branch_1 = nn.Sequential(Unit(names["1a"], in_channels, c1a, (1, 1, 1)), Unit(names["1b"], c1a, c1b, (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit(names["2a"], in_channels, c2a, (1, 1, 1)), Unit(names["2b"], c2a, c2b, (3, 3, 3)))
        self.branch_3 = nn.Sequential(MaxPool((3, 3, 3), (1, 1, 1)), Unit(names["3b"], in_channels, c3, (1, 1, 1)))
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x):
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1)


class I3D(nn.Module):
    """Input ``[batch, channels, time, height, width]`` in [-1, 1]; output logits ``[batch, classes]``."""

    def __init__(self, in_channels=3, classes=400):
        super().__init__()
        stages, channels = [], in_channels
        for stage in ARCHITECTURE:
            name = endpoint_name(stage)
            if stage.kind == "conv":
                stages.append(Unit(name, channels, stage.channels, stage.kernel, stage.strides))
                channels = stage.channels
            elif stage.kind == "pool":
                stages.append(MaxPool(stage.kernel, stage.strides))
            else:
                stages.append(Mixed(name, channels, stage.channels))
                channels = stages[-1].out_channels
        self.trunk = nn.Sequential(*stages)
        self.dropout = nn.Dropout(0.5)
        self.logits = nn.Conv3d(channels, classes, 1, bias=True)

    def forward(self, x):
        x = F.avg_pool3d(self.trunk(x), (2, 7, 7), stride=1)
        return self.logits(self.dropout(x)).mean(dim=(2, 3, 4))


def keras_weights(keras_model):
    """``{keras layer name: [numpy arrays]}`` of the conv and batch-norm layers."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in keras_model.layers if layer.get_weights()}


def load_keras_weights(model, weights):
    """Copies ``keras_weights(...)`` into ``model``: conv kernels ``[t, h, w, in, out]`` -> ``[out, in, t, h, w]``;
    batch norm (beta, moving mean, moving variance)."""
    copied = 0
    with torch.no_grad():
        for unit in (m for m in model.modules() if isinstance(m, Unit)):
            prefix = keras_layers.keras_name(unit.name)
            (kernel,) = weights[prefix + "_conv"]
            unit.conv.weight.copy_(torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2)))
            beta, mean, variance = weights[prefix + "_bn"]
            unit.bn.bias.copy_(torch.from_numpy(beta))
            unit.bn.running_mean.copy_(torch.from_numpy(mean))
            unit.bn.running_var.copy_(torch.from_numpy(variance))
            copied += 2
        kernel, bias = weights[keras_layers.keras_name(logits_scope()) + "_conv"]
        model.logits.weight.copy_(torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2)))
        model.logits.bias.copy_(torch.from_numpy(bias))
    if copied + 1 != len(weights):
        raise ValueError(f"copied {copied + 1} of {len(weights)} weighted Keras layers")
    return model


def save_weights(keras_model, path):
    """The Keras model's weights as a plain ``.npz`` (arrays named ``<layer>:<index>``) for the PyTorch rows."""
    arrays = {f"{name}:{i}": w for name, ws in keras_weights(keras_model).items() for i, w in enumerate(ws)}
    np.savez(path, **arrays)


def read_weights(path):
    weights = {}
    with np.load(path, allow_pickle=False) as stored:  # written by save_weights on this machine
        for key in sorted(stored.files, key=lambda k: (k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]))):
            weights.setdefault(key.rsplit(":", 1)[0], []).append(stored[key])
    return weights


def main():
    from i3d_keras import I3D as KerasI3D

    keras_model = KerasI3D(weights="kinetics400", input_shape=(None, 224, 224, 3))
    clip = np.random.default_rng(0).uniform(-1, 1, (1, 16, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(keras_model(clip, training=False))
    model = load_keras_weights(I3D(), keras_weights(keras_model)).eval()
    with torch.no_grad():
        got = model(torch.from_numpy(clip.transpose(0, 4, 1, 2, 3))).numpy()
    print(f"PyTorch I3D vs Keras: max |difference| {np.abs(got - expected).max():.2g}")


if __name__ == "__main__":
    main()
