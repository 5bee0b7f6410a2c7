"""Converters from published checkpoint formats, and the strict by-name assignment they share.

Every converter returns a *weight tree*: a flat dict ``{"<scope>/<param>": numpy array}`` in canonical names,
i.e. DeepMind's scopes without any ``RGB/inception_i3d/`` prefix (``Mixed_4b/Branch_1/Conv3d_0b_3x3``) and
params ``kernel``, ``bias`` (classifier only), ``beta``, ``moving_mean``, ``moving_variance``. Batch-norm
tensors are flat ``[C]``. ``assign`` puts a tree into a Keras model and refuses anything partial.
"""

import re

import numpy as np

from i3d_keras import architecture
from i3d_keras.architecture import logits_scope, unit_scopes

BN_PARAMS = ("beta", "moving_mean", "moving_variance")


class WeightsMismatchError(ValueError):
    """A weight tree that does not fit the model: missing, unexpected or wrongly shaped variables."""


def _maybe_layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def model_variables(model, rank=3):
    """``{canonical key: Keras variable}`` for every weight of an I3D (rank 3) or Inception-V1 (rank 2) model."""
    variables = {}
    for scope in unit_scopes(rank):
        conv = _maybe_layer(model, architecture.keras_name(scope) + "_conv")
        if conv is None:
            continue
        bn = model.get_layer(architecture.keras_name(scope) + "_bn")
        variables[scope + "/kernel"] = conv.kernel
        for param in BN_PARAMS:
            variables[f"{scope}/{param}"] = getattr(bn, param)
    head = _maybe_layer(model, architecture.keras_name(logits_scope(rank)) + "_conv")
    if head is not None:
        variables[logits_scope(rank) + "/kernel"] = head.kernel
        variables[logits_scope(rank) + "/bias"] = head.bias
    assert len(variables) == len(model.weights), "model has weights outside the I3D/Inception-V1 naming"
    return variables


def read_tree(model, rank=3):
    """The weight tree of a built model (the inverse of ``assign``)."""
    return {key: np.asarray(var.numpy()) for key, var in model_variables(model, rank).items()}


def _listing(title, items, limit=12):
    items = sorted(items)
    shown = ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
    return f"{len(items)} {title}: {shown}"


def check_tree(expected_shapes, tree, source, allow_unused=False):
    """Raises ``WeightsMismatchError`` naming every missing, unexpected and wrongly shaped variable."""
    missing = set(expected_shapes) - set(tree)
    unexpected = set() if allow_unused else set(tree) - set(expected_shapes)
    wrong = [
        f"{key} {tuple(np.shape(tree[key]))} (expected {tuple(shape)})"
        for key, shape in expected_shapes.items()
        if key in tree and tuple(np.shape(tree[key])) != tuple(shape)
    ]
    raise_mismatch(f"{source} does not match the model", missing, unexpected, wrong)


def raise_mismatch(what, missing=(), unexpected=(), wrong=()):
    """Raises ``WeightsMismatchError`` (``what: 2 missing: ...; 1 with the wrong shape: ...``) if any list is
    not empty."""
    problems = [_listing(title, items) for title, items in
                (("missing", missing), ("unexpected", unexpected), ("with the wrong shape", wrong)) if items]
    if problems:
        raise WeightsMismatchError(f"{what}: " + "; ".join(problems))


def assign(model, tree, rank=3, source="weights", allow_unused=False, skip=()):
    """Sets every weight of ``model`` from ``tree``, all or nothing.

    Every model variable (except the keys in ``skip``, left as initialised) must be present with its exact
    shape; every tree entry must be used unless ``allow_unused`` (for a model that stops early or has no
    classifier).
    """
    variables = {key: var for key, var in model_variables(model, rank).items() if key not in skip}
    check_tree({key: var.shape for key, var in variables.items()}, tree, source, allow_unused)
    for key, var in variables.items():
        var.assign(np.asarray(tree[key], dtype=var.dtype))


OPTIMIZER_SLOTS = ("/Momentum", "/ExponentialMovingAverage", "/RMSProp", "/RMSProp_1", "/Adam", "/Adam_1")
NON_MODEL_VARIABLES = ("global_step", "beta1_power", "beta2_power")


def tf_checkpoint_tree(path, rename, source_kind):
    """Reads a TF checkpoint and renames each model variable with ``rename(name) -> canonical key or None``.

    Optimizer slots and counters are skipped; a variable ``rename`` does not know is an error, so every
    model tensor of the checkpoint is consumed. Batch-norm tensors stored as ``[1, 1, 1, 1, C]`` become ``[C]``.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"{path}: not a readable TensorFlow checkpoint ({error})") from None
    tree, unknown = {}, []
    for name in sorted(reader.get_variable_to_shape_map()):
        if name.endswith(OPTIMIZER_SLOTS) or name in NON_MODEL_VARIABLES:
            continue
        key = rename(name)
        if key is None:
            unknown.append(name)
            continue
        value = reader.get_tensor(name)
        if key.endswith(BN_PARAMS):
            value = value.reshape(-1)
        tree[key] = value
    if unknown:
        raise WeightsMismatchError(f"{path}: {_listing(f'variables that are not {source_kind} names', unknown)}")
    return tree


def regex_renamer(pattern, params):
    """A ``rename`` for ``tf_checkpoint_tree``: ``pattern`` captures ``scope`` and ``param``; ``params`` maps the latter."""
    compiled = re.compile(pattern)

    def rename(name):
        match = compiled.match(name)
        if not match or match["param"] not in params:
            return None
        return f"{match['scope']}/{params[match['param']]}"

    return rename
