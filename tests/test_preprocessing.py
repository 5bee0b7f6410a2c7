"""Input scaling, label file and decode_predictions."""

import numpy as np
import pytest

from conftest import SHARED_DATA
from i3d_keras import decode_predictions, preprocess_input
from i3d_keras.preprocessing import label_names, preprocess_flow, softmax


def test_preprocess_input_maps_0_255_to_minus1_1():
    frames = np.array([0, 51, 127.5, 255])
    np.testing.assert_allclose(preprocess_input(frames), [-1.0, -0.6, 0.0, 1.0], atol=1e-7)
    assert preprocess_input(np.array([[0, 255]], np.uint8)).dtype == np.float32
    import tensorflow as tf

    out = preprocess_input(tf.constant([0, 255], tf.uint8))
    np.testing.assert_allclose(out.numpy(), [-1.0, 1.0])


def test_flow_is_clipped_and_scaled():
    np.testing.assert_allclose(preprocess_flow([-40.0, -20.0, 5.0, 25.0]), [-1.0, -1.0, 0.25, 1.0])


def test_kinetics400_labels():
    names = label_names()
    assert len(names) == 400 == len(set(names))
    assert names[0] == "abseiling" and names[6] == "arm wrestling" and names[129] == "flipping pancake" and names[-1] == "zumba"


def test_labels_match_deepmind_label_map():
    label_map = SHARED_DATA / "kinetics400_label_map.txt"
    if not label_map.exists():
        pytest.skip("../shared/data/kinetics400_label_map.txt is not present")
    assert list(label_names()) == [line for line in label_map.read_text().splitlines() if line]


def test_decode_predictions_from_logits():
    logits = np.full((2, 400), -5.0)
    logits[0, [6, 10]] = [3.0, 1.0]
    logits[1, 399] = 2.0
    top = decode_predictions(logits, top=2, from_logits=True)
    assert [entry[:2] for entry in top[0]] == [(6, "arm wrestling"), (10, "baby waking up")]
    expected = softmax(logits[0])
    assert top[0][0][2] == pytest.approx(expected[6]) and top[0][1][2] == pytest.approx(expected[10])
    assert top[1][0][:2] == (399, "zumba")


def test_decode_predictions_custom_labels_and_errors():
    assert decode_predictions(np.array([[0.2, 0.8]]), top=1, labels=["a", "b"]) == [[(1, "b", 0.8)]]
    with pytest.raises(ValueError, match="2 classes but there are 400 labels"):
        decode_predictions(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"\[batch, classes\]"):
        decode_predictions(np.zeros(400))


def test_decode_predictions_refuses_logits_taken_for_probabilities():
    logits = np.zeros((1, 400))
    logits[0, 6] = 36.2
    with pytest.raises(ValueError, match="not probabilities.*from_logits=True"):
        decode_predictions(logits)  # the forgotten flag used to print a "probability" of 36.2
    with pytest.raises(ValueError, match="not probabilities"):
        decode_predictions(np.full((1, 400), 0.5))  # in [0, 1] but not a distribution
    with pytest.raises(ValueError, match="NaN"):
        decode_predictions(np.full((1, 400), np.nan), from_logits=True)  # ranked "abseiling" first before
    assert decode_predictions(logits, top=1, from_logits=True)[0][0][:2] == (6, "arm wrestling")
    probabilities = softmax(logits).astype(np.float32)  # float32 rows sum to 1 within rounding
    assert decode_predictions(probabilities, top=1)[0][0][:2] == (6, "arm wrestling")
