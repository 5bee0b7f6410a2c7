"""Input scaling and label decoding, as ``keras.applications`` pairs them with each model.

I3D's pretrained weights expect values in [-1, 1]: ``x / 127.5 - 1`` for RGB frames in [0, 255], and TV-L1
flow clipped to [-20, 20] pixels and divided by 20. Feeding [0, 1] (as TF-Hub's own colab does) silently
gives wrong answers on some clips.
"""

import functools
import importlib.resources

import numpy as np

FLOW_BOUND = 20.0


def preprocess_input(x):
    """RGB ``uint8`` or float values in [0, 255] -> float32 in [-1, 1]. Any shape, channels-last.

    Works on numpy arrays and TensorFlow tensors.
    """
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return np.asarray(x, dtype=np.float32) / 127.5 - 1.0
    import tensorflow as tf

    return tf.cast(x, tf.float32) / 127.5 - 1.0


def preprocess_flow(flow):
    """Optical flow in pixels per frame -> float32 in [-1, 1] (clipped at +-20 px, as the flow weights saw)."""
    return np.clip(np.asarray(flow, dtype=np.float32), -FLOW_BOUND, FLOW_BOUND) / FLOW_BOUND


@functools.lru_cache(maxsize=None)
def label_names(dataset="kinetics400"):
    """The class names of ``dataset`` in the order of the model's outputs (package data ``labels/<dataset>.txt``,
    sources in ``labels/README.md``)."""
    text = importlib.resources.files("i3d_keras").joinpath("labels", f"{dataset}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def softmax(logits, axis=-1):
    """Numerically stable softmax of a numpy array."""
    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


PROBABILITY_SUM_TOLERANCE = 1e-3


def decode_predictions(preds, top=5, from_logits=False, labels="kinetics400"):
    """Top-``top`` classes of each row of ``preds`` (``[batch, classes]``).

    Returns, per row, a list of ``(index, label, probability)`` tuples, best first. ``preds`` are probabilities
    (as ``keras.applications``' ``decode_predictions`` takes them); pass ``from_logits=True`` for the raw output
    of a model built with ``classifier_activation=None`` (I3D's default). Rows that are not probabilities
    (outside [0, 1] or not summing to 1) and rows with NaN raise a ``ValueError`` instead of being ranked.
    ``labels`` is a data set name (``"kinetics400"``) or a sequence of class names.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2:
        raise ValueError(f"decode_predictions expects a [batch, classes] array, got shape {preds.shape}")
    names = label_names(labels) if isinstance(labels, str) else tuple(labels)
    if preds.shape[1] != len(names):
        raise ValueError(f"predictions have {preds.shape[1]} classes but there are {len(names)} labels")
    if not np.isfinite(preds).all():
        raise ValueError("predictions contain NaN or infinite values")
    if not from_logits:
        sums = preds.astype(np.float64).sum(axis=1)
        if preds.min() < 0 or preds.max() > 1 or np.abs(sums - 1).max() > PROBABILITY_SUM_TOLERANCE:
            raise ValueError(
                "predictions are not probabilities (values outside [0, 1] or rows that do not sum to 1): for the "
                "logits I3D returns by default, pass from_logits=True"
            )
    probs = softmax(preds) if from_logits else preds
    results = []
    for row in probs:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(int(i), names[i], float(row[i])) for i in best])
    return results
