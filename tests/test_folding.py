"""Batch-norm folding gives the plain model's outputs (inference), with no batch norm left to run."""

import keras
import numpy as np

from i3d_keras import I3D
from i3d_keras.folding import fold_batch_norm


def test_folded_kinetics_i3d_gives_the_same_logits(kinetics_i3d):
    folded = fold_batch_norm(kinetics_i3d)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    assert folded.get_layer("Conv3d_1a_7x7_conv").use_bias and folded.count_params() < kinetics_i3d.count_params()
    video = np.random.default_rng(3).uniform(-1, 1, (2, 16, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(kinetics_i3d(video, training=False))
    actual = np.asarray(folded(video, training=False))
    assert np.abs(actual - expected).max() <= 1e-4 and np.abs(expected).max() > 1.0


def test_folding_uses_every_statistic_of_a_flow_feature_model():
    """Random (non-trivial) batch-norm statistics, a flow model cut at Mixed_4c with pooled features."""
    keras.utils.set_random_seed(0)
    model = I3D(weights=None, modality="flow", include_top=False, final_endpoint="Mixed_4c", pooling="avg")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) if i < 2 else
                               rng.uniform(0.5, 2, w.shape).astype(np.float32)
                               for i, w in enumerate(layer.get_weights())])
    video = rng.uniform(-1, 1, (1, 9, 64, 64, 2)).astype(np.float32)
    expected = np.asarray(model(video, training=False))
    np.testing.assert_allclose(np.asarray(fold_batch_norm(model)(video)), expected, atol=1e-4, rtol=1e-4)
