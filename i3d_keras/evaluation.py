"""Evaluating a classifier on a data set: single-clip and full-video scoring, accuracy metrics, the confusion
matrix as a picture, and two-stream fusion.

Single-clip: the centred window (64 frames) and the centre crop, once per video. Full video: every frame,
in windows of up to 250 frames (125 apart) whose logits are averaged. The two differ by several points, so
reports always name which one they are.
"""

import csv
import dataclasses
import json
import os

import numpy as np

from i3d_keras import files
from i3d_keras.data import decoding, pipeline
from i3d_keras.inference import DEFAULT_STRIDE, DEFAULT_WINDOW, forward
from i3d_keras.model import MIN_FRAMES_WITH_TOP

MODES = {"clip": "single clip (centred window, centre crop)", "video": "full video (all frames, windows averaged)"}


@dataclasses.dataclass
class Predictions:
    """Per-video logits ``[N, C]``, true labels ``[N]`` and video ids ``[N]``, in the data set's order."""

    logits: np.ndarray
    labels: np.ndarray
    ids: list

    def __len__(self):
        return len(self.labels)


def predict(model, source, mode="clip", num_frames=64, crop_size=decoding.CROP_SIZE, modality="rgb", batch_size=8,
            window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE, skipped=None, **data_options):
    """The model's logits for every video of ``source`` (a ``VideoDataset`` or TFRecords), scored by ``mode``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    full = mode == "video"
    dataset = pipeline.build_dataset(source, training=False, batch_size=1 if full else batch_size, num_frames=num_frames,
                                     crop_size=crop_size, modality=modality, full_video=full, with_ids=True,
                                     drop_remainder=False, skipped=skipped, **data_options)
    logits, labels, ids, call = [], [], [], forward(model)
    for clips, batch_labels, batch_ids in dataset:
        if full:
            windows = decoding.iter_windows(iter(clips[0].numpy()), window, min(stride, window), MIN_FRAMES_WITH_TOP)
            logits.append(np.mean([np.asarray(call(w[None]))[0] for w in windows], axis=0)[None])
        else:
            logits.append(np.asarray(call(clips)))
        labels.append(batch_labels.numpy())
        ids += [value.decode() for value in batch_ids.numpy()]
    if not ids:
        raise ValueError("no video of the data set could be read")
    return Predictions(np.concatenate(logits).astype(np.float32), np.concatenate(labels), ids)


def fuse(rgb, flow, flow_weight=1.0):
    """Two-stream predictions: RGB logits + ``flow_weight`` x flow logits (the paper: equal weights, as DeepMind's
    evaluation sums them), for the videos both streams scored."""
    index = {video_id: i for i, video_id in enumerate(flow.ids)}
    keep = [i for i, video_id in enumerate(rgb.ids) if video_id in index]
    other = [index[rgb.ids[i]] for i in keep]
    if not np.array_equal(rgb.labels[keep], flow.labels[other]):
        raise ValueError("the RGB and flow data label the same videos differently")
    return Predictions(rgb.logits[keep] + flow_weight * flow.logits[other], rgb.labels[keep],
                       [rgb.ids[i] for i in keep])


def metrics(predictions, names):
    """Top-1, top-5, mean per-class accuracy, the per-class table and the confusion matrix (rows: truth)."""
    logits, labels = predictions.logits, predictions.labels
    classes = len(names)
    if logits.shape[1] != classes:
        raise ValueError(f"the model has {logits.shape[1]} classes but the data set has {classes}")
    ranked = np.argsort(-logits, axis=1, kind="stable")
    top1 = ranked[:, 0] == labels
    top5 = (ranked[:, :5] == labels[:, None]).any(axis=1)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, ranked[:, 0]), 1)
    per_class = []
    for index, name in enumerate(names):
        videos = int(confusion[index].sum())
        per_class.append({"class": name, "videos": videos,
                          "accuracy": float(confusion[index, index] / videos) if videos else None})
    present = [row["accuracy"] for row in per_class if row["videos"]]
    return {"videos": len(labels), "top1": float(top1.mean()), "top5": float(top5.mean()),
            "mean_class_accuracy": float(np.mean(present)), "per_class": per_class, "confusion": confusion.tolist()}


def confusion_picture(confusion, names, title=""):
    """The confusion matrix as an RGB ``uint8`` image: rows (truth) normalised, viridis colours, class names
    when there are at most 60 classes."""
    import cv2

    confusion = np.asarray(confusion, np.float64)
    classes = len(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    cell = int(np.clip(720 // classes, 2, 32))
    heat = cv2.applyColorMap((rates * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    heat = cv2.resize(heat, (classes * cell, classes * cell), interpolation=cv2.INTER_NEAREST)
    margin = 12 + (min(max(len(n) for n in names), 24) * 7 if classes <= 60 else 0)
    canvas = np.full((heat.shape[0] + 40, max(heat.shape[1] + margin + 10, 560), 3), 255, np.uint8)
    canvas[30:30 + heat.shape[0], margin:margin + heat.shape[1]] = heat
    cv2.putText(canvas, (title + " (rows: true class, columns: predicted)")[:90], (4, 20), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (0, 0, 0), 1, cv2.LINE_AA)
    if classes <= 60:
        for index, name in enumerate(names):
            y = 30 + index * cell + cell // 2 + 4
            cv2.putText(canvas, name[:24], (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas[..., ::-1].copy()


def write_report(report, names, folder, name):
    """Writes ``<name>.json`` (metrics), ``<name>_per_class.csv`` and ``<name>_confusion.png`` into ``folder``,
    atomically. Returns the paths."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, f"{name}{suffix}") for suffix in (".json", "_per_class.csv", "_confusion.png")]
    with files.atomic_path(paths[0]) as tmp, open(tmp, "w", encoding="utf-8") as out:
        json.dump(report, out, indent=1)
    with files.atomic_path(paths[1]) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["class", "videos", "accuracy"])
        writer.writerows([row["class"], row["videos"], row["accuracy"]] for row in report["per_class"])
    with files.atomic_path(paths[2], suffix=".png") as tmp:
        picture = confusion_picture(report["confusion"], names, f"{name}: top-1 {report['top1']:.1%}")
        if not cv2.imwrite(tmp, picture[..., ::-1]):
            raise OSError(f"{paths[2]}: cannot write image")
    return paths
