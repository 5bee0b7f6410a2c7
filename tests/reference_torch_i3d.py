"""pytorch-i3d's ``InceptionI3d`` layout, written for the tests (not copied): the class that loads TATS', cd-fvd's
and VideoGPT's ``i3d_pretrained_400.pt`` and our ``--format pytorch-i3d`` export. The class decides what a state
dict does not hold: the batch-norm ``epsilon`` (1e-3 in piergiaj/pytorch-i3d, 1e-5 in VideoGPT's copy and the
copies of it in TATS and content-debiased-fvd) and the value its max pools pad with (``-inf`` as TensorFlow, or 0
as VideoGPT's ``F.pad``; equal after a ReLU).
"""

import torch
import torch.nn.functional as F
from torch import nn

# Inception-V1's inflated blocks (Carreira & Zisserman, Table/Figure 3), written out here: the branch widths
BLOCKS = {"Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
          "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
          "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
          "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
          "Mixed_5c": (384, 192, 384, 48, 128, 128)}


def _pad_same(x, kernel, stride, value=0.0):
    """TensorFlow's SAME padding for [b, c, t, h, w]."""
    pads = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class ReferenceUnit3D(nn.Module):
    def __init__(self, cin, cout, kernel, stride=(1, 1, 1), epsilon=1e-3):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=epsilon, momentum=0.01)

    def forward(self, x):
        return F.relu(self.bn(self.conv3d(_pad_same(x, self.kernel, self.stride))))


class ReferencePool(nn.Module):
    def __init__(self, kernel, stride, pad_value):
        super().__init__()
        self.kernel, self.stride, self.pad_value = kernel, stride, pad_value

    def forward(self, x):
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, self.pad_value), self.kernel, self.stride)


class ReferenceInception(nn.Module):
    def __init__(self, cin, widths, epsilon, pad_value):
        super().__init__()
        unit = lambda cin, cout, k: ReferenceUnit3D(cin, cout, (k, k, k), epsilon=epsilon)  # noqa: E731
        self.b0 = unit(cin, widths[0], 1)
        self.b1a, self.b1b = unit(cin, widths[1], 1), unit(widths[1], widths[2], 3)
        self.b2a, self.b2b = unit(cin, widths[3], 1), unit(widths[3], widths[4], 3)
        self.b3a, self.b3b = ReferencePool((3, 3, 3), (1, 1, 1), pad_value), unit(cin, widths[5], 1)

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class ReferenceInceptionI3d(nn.Module):
    """``[b, c, t, h, w]`` -> logits averaged over time; ``epsilon`` and ``pad_value``: see the module."""

    def __init__(self, classes=400, in_channels=3, epsilon=1e-3, pad_value=-float("inf")):
        super().__init__()
        self.order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
                      "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
                      "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c"]
        self.add_module("Conv3d_1a_7x7", ReferenceUnit3D(in_channels, 64, (7, 7, 7), (2, 2, 2), epsilon))
        self.add_module("MaxPool3d_2a_3x3", ReferencePool((1, 3, 3), (1, 2, 2), pad_value))
        self.add_module("Conv3d_2b_1x1", ReferenceUnit3D(64, 64, (1, 1, 1), epsilon=epsilon))
        self.add_module("Conv3d_2c_3x3", ReferenceUnit3D(64, 192, (3, 3, 3), epsilon=epsilon))
        self.add_module("MaxPool3d_3a_3x3", ReferencePool((1, 3, 3), (1, 2, 2), pad_value))
        self.add_module("MaxPool3d_4a_3x3", ReferencePool((3, 3, 3), (2, 2, 2), pad_value))
        self.add_module("MaxPool3d_5a_2x2", ReferencePool((2, 2, 2), (2, 2, 2), pad_value))
        channels = 192
        for name, widths in BLOCKS.items():
            self.add_module(name, ReferenceInception(channels, widths, epsilon, pad_value))
            channels = widths[0] + widths[2] + widths[4] + widths[5]
        self.logits = nn.Module()
        self.logits.conv3d = nn.Conv3d(channels, classes, 1, bias=True)

    def forward(self, x):
        for name in self.order:
            x = getattr(self, name)(x)
        x = self.logits.conv3d(F.avg_pool3d(x, (2, 7, 7), 1))
        return x.squeeze(3).squeeze(3).mean(2)


def torch_logits(module, clip):
    """``module``'s logits (numpy) of channels-last ``clip`` ``[b, t, h, w, c]``."""
    with torch.no_grad():
        return module.eval()(torch.from_numpy(clip.transpose(0, 4, 1, 2, 3).copy())).numpy()
