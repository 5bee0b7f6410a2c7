"""Evaluation metrics against hand-computed values, two-stream fusion by video id, the confusion picture."""

import numpy as np
import pytest

from i3d_keras import evaluation
from i3d_keras.evaluation import Predictions

NAMES = ["a", "b", "c", "d", "e", "f"]


def test_metrics_by_hand():
    logits = np.array([
        [9, 1, 0, 0, 0, 0],  # a -> a (right)
        [1, 9, 0, 0, 0, 0],  # a -> b (wrong, a second)
        [0, 9, 1, 0, 0, 0],  # b -> b (right)
        [0, 0, 1, 2, 3, 4],  # c -> f (wrong; ranked f e d c: c fourth, inside the top 5)
        [5, 4, 3, 2, 1, 0],  # f -> a (wrong, f last: outside the top 5)
    ], np.float32)
    labels = np.array([0, 0, 1, 2, 5])
    report = evaluation.metrics(Predictions(logits, labels, ["v0", "v1", "v2", "v3", "v4"]), NAMES)
    assert report["videos"] == 5 and report["top1"] == pytest.approx(2 / 5) and report["top5"] == pytest.approx(4 / 5)
    per_class = {row["class"]: row for row in report["per_class"]}
    assert per_class["a"]["accuracy"] == 0.5 and per_class["b"]["accuracy"] == 1.0 and per_class["c"]["accuracy"] == 0
    assert per_class["d"]["videos"] == 0 and per_class["d"]["accuracy"] is None
    assert report["mean_class_accuracy"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)  # classes with videos only
    confusion = np.array(report["confusion"])
    assert confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[2, 5] == 1 and confusion[5, 0] == 1
    assert confusion.sum() == 5
    with pytest.raises(ValueError, match="the model has 6 classes but the data set has 3"):
        evaluation.metrics(Predictions(logits, labels, list("abcde")), NAMES[:3])


def test_fusion_sums_logits_of_the_same_videos():
    rgb = Predictions(np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0, 1, 1]), ["x", "y", "z"])
    flow = Predictions(np.array([[0.0, 3.0], [0.5, 0.0]]), np.array([1, 0]), ["z", "x"])  # other order, y missing
    fused = evaluation.fuse(rgb, flow)
    assert fused.ids == ["x", "z"]
    np.testing.assert_allclose(fused.logits, [[2.5, 0.0], [1.0, 4.0]])
    np.testing.assert_array_equal(fused.labels, [0, 1])
    np.testing.assert_allclose(evaluation.fuse(rgb, flow, flow_weight=2.0).logits, [[3.0, 0.0], [1.0, 7.0]])
    wrong = Predictions(flow.logits, np.array([0, 0]), flow.ids)
    with pytest.raises(ValueError, match="label the same videos differently"):
        evaluation.fuse(rgb, wrong)


def test_confusion_picture_and_report_files(tmp_path):
    import cv2

    confusion = np.diag([3, 2, 1, 0, 0, 4])
    confusion[1, 0] = 2
    picture = evaluation.confusion_picture(confusion, NAMES, "test")
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[1] >= 560
    report = evaluation.metrics(Predictions(np.eye(6)[[0, 0, 1, 5]] * 5, np.array([0, 1, 1, 5]), list("wxyz")), NAMES)
    paths = evaluation.write_report(report, NAMES, tmp_path, "rgb_clip")
    assert [p.split("/")[-1] for p in paths] == ["rgb_clip.json", "rgb_clip_per_class.csv", "rgb_clip_confusion.png"]
    assert cv2.imread(paths[2]).shape[0] > 100
    assert (tmp_path / "rgb_clip_per_class.csv").read_text().splitlines()[1] == "a,1,1.0"
