"""Inflation: on a boring video (one frame repeated) the inflated I3D computes what Inception-V1 does on the frame."""

import numpy as np
import pytest

from conftest import random_tree
from i3d_keras import I3D, InceptionV1, VALID_ENDPOINTS, convert, endpoint_model, inflate
from i3d_keras.inception_v1 import VALID_ENDPOINTS_2D
from i3d_keras.inflation import inflate_kernel
from i3d_keras.model import ARCHITECTURE

FRAMES, SIZE = 128, 32


def _same_padding_window(length, kernel, stride):
    """For each output index of a TF 'SAME' op, the input indices its window covers (possibly out of range)."""
    out = -(-length // stride)
    pad_before = max((out - 1) * stride + kernel - length, 0) // 2
    return [range(i * stride - pad_before, i * stride - pad_before + kernel) for i in range(out)]


def _propagate(clean, kernel, stride, zero_padded):
    """Which outputs see only clean inputs. Max pools pad with -inf, which never wins: only convs are hurt by padding."""
    result = []
    for window in _same_padding_window(len(clean), kernel, stride):
        inside = [j for j in window if 0 <= j < len(clean)]
        touches_padding = len(inside) < kernel
        result.append(all(clean[j] for j in inside) and not (zero_padded and touches_padding))
    return result


def clean_positions(frames):
    """Per endpoint, the time positions whose receptive field does not touch the temporal zero padding."""
    clean, positions = [True] * frames, {}
    for stage, name in zip(ARCHITECTURE, VALID_ENDPOINTS):
        if stage.kind == "mixed":
            clean = _propagate(clean, 3, 1, zero_padded=True)  # the 3x3x3 convs are the widest branches
        else:
            clean = _propagate(clean, stage.kernel[0], stage.strides[0], zero_padded=stage.kind == "conv")
        positions[name] = [i for i, ok in enumerate(clean) if ok]
    return positions


@pytest.fixture(scope="module")
def inflated_pair():
    model_2d = InceptionV1(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    convert.assign(model_2d, random_tree(model_2d, rank=2, seed=11), rank=2)
    model_3d = I3D(weights=None, include_top=False, input_shape=(FRAMES, SIZE, SIZE, 3))
    report = inflate(model_2d, model_3d)
    return model_2d, model_3d, report


def test_boring_video_gives_the_2d_response_at_every_endpoint(inflated_pair):
    model_2d, model_3d, _ = inflated_pair
    frame = np.random.default_rng(0).uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32)
    video = np.repeat(frame[:, None], FRAMES, axis=1)
    outputs_2d = endpoint_model(model_2d, VALID_ENDPOINTS_2D, rank=2)(frame)
    outputs_3d = endpoint_model(model_3d, VALID_ENDPOINTS)(video)
    positions = clean_positions(FRAMES)
    assert len(positions["Mixed_5c"]) >= 2
    for name_2d, name_3d in zip(VALID_ENDPOINTS_2D, VALID_ENDPOINTS):
        expected = np.asarray(outputs_2d[name_2d])[0]
        actual = np.asarray(outputs_3d[name_3d])[0]
        assert actual.shape[1:] == expected.shape, name_3d
        assert np.abs(expected).max() > 1e-2, f"{name_2d} is all zeros: the test would prove nothing"
        for t in positions[name_3d]:
            np.testing.assert_allclose(actual[t], expected, atol=1e-4, rtol=1e-4, err_msg=f"{name_3d} at t={t}")
        dirty = sorted(set(range(actual.shape[0])) - set(positions[name_3d]))
        if name_3d == "Conv3d_1a_7x7":  # the padding really changes the border positions
            assert not np.allclose(actual[dirty[0]], expected, atol=1e-4)


def test_inflation_report_and_classifier(inflated_pair):
    _, model_3d, report = inflated_pair
    assert len(report.inflated) == len(model_3d.weights) and report.left_initialised == []
    model_2d = InceptionV1(weights=None)  # 1001 ImageNet classes
    video_model = I3D(weights=None, classes=101)
    report = inflate(model_2d, video_model)
    assert report.left_initialised == ["Logits/Conv3d_0c_1x1/bias", "Logits/Conv3d_0c_1x1/kernel"]


def test_kernel_inflation_rule():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 4)).astype(np.float32)
    inflated = inflate_kernel(kernel, (5, 3, 3, 3, 4))
    assert inflated.shape == (5, 3, 3, 3, 4)
    np.testing.assert_allclose(inflated.sum(axis=0), kernel, rtol=1e-6)
    flow = inflate_kernel(kernel, (5, 3, 3, 2, 4))
    np.testing.assert_allclose(flow[2, :, :, 0], kernel.mean(axis=2) / 5, rtol=1e-6)
    np.testing.assert_array_equal(flow[:, :, :, 0], flow[:, :, :, 1])


def test_flow_stream_inflates_from_rgb():
    model_2d = InceptionV1(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    flow = I3D(weights=None, include_top=False, modality="flow")
    inflate(model_2d, flow)
    stem_2d = model_2d.get_layer("Conv2d_1a_7x7_conv").kernel.numpy()
    stem_3d = flow.get_layer("Conv3d_1a_7x7_conv").kernel.numpy()
    np.testing.assert_allclose(stem_3d[3, :, :, 1], stem_2d.mean(axis=2) / 7, rtol=1e-5, atol=1e-7)
