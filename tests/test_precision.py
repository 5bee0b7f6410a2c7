"""Reduced precision: I3D computing in bfloat16 gives float32's top class, logits within the documented bound."""

import itertools

import numpy as np
import pytest

from conftest import SHARED_VIDEOS
from i3d_keras import I3D, preprocess_input
from i3d_keras.data import decoding, synthetic

# README (Performance): |logit difference| <= 0.25 in mixed_bfloat16; measured 0.05-0.13 (0.3 % of the top logit)
BFLOAT16_LOGIT_TOLERANCE = 0.25


def test_mixed_bfloat16_keeps_float32_weights_and_outputs():
    model = I3D(weights=None, include_top=False, pooling="avg", final_endpoint="Mixed_3b", dtype="mixed_bfloat16")
    conv = model.get_layer("Conv3d_1a_7x7_conv")
    assert (conv.compute_dtype, conv.kernel.dtype) == ("bfloat16", "float32")
    assert model.output.dtype == "float32"
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    with pytest.raises(ValueError, match="dtype must be one of"):
        I3D(weights=None, dtype="int8")


def clips():
    """Synthetic clips of all six classes, and the real Kinetics clips when ../shared is present (64 frames)."""
    found = {f"synthetic {label}": synthetic.render_clip(label, frames=24, size=224, seed=label) for label in range(6)}
    for path in sorted(SHARED_VIDEOS.glob("*")) if SHARED_VIDEOS.exists() else []:
        found[path.name] = np.stack(list(itertools.islice(decoding.iter_frames(str(path)), 64)))
    return found


def test_mixed_bfloat16_gives_the_float32_top_class_with_close_logits(kinetics_i3d):
    bfloat16 = I3D(weights="kinetics400", input_shape=(None, 224, 224, 3), dtype="mixed_bfloat16")
    for name, clip in clips().items():
        video = preprocess_input(clip[None])
        expected = np.asarray(kinetics_i3d.predict(video, verbose=0))
        actual = bfloat16.predict(video, verbose=0)
        assert actual.dtype == np.float32
        assert actual.argmax() == expected.argmax(), name
        difference = np.abs(actual - expected).max()
        assert 0 < difference <= BFLOAT16_LOGIT_TOLERANCE, (name, difference)  # > 0: it did compute in bfloat16
