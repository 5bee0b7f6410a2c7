"""The embedded demo: does I3D see motion? Kinetics-400 I3D features vs. a single-frame baseline.

Renders the synthetic action data set (``data.synthetic``: six classes that only motion separates), embeds
each clip with the Kinetics-400 I3D (Mixed_5c, averaged over time and space), fits a softmax classifier with
``model.fit`` on two thirds of the clips and scores the held-out third. The baseline runs the same pipeline on
clips made of one repeated frame, which cannot beat chance by construction. Seeds are fixed.
"""

import time

import keras
import numpy as np

from i3d_keras.data import synthetic
from i3d_keras.model import I3D
from i3d_keras.preprocessing import preprocess_input


def embed(extractor, clips, batch_size=8):
    """Pooled features ``[N, 1024]`` of uint8 clips ``[N, T, H, W, 3]``, batch by batch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(clips).batch(batch_size).map(preprocess_input)
    return extractor.predict(dataset, verbose=0)


def fit_and_score(train_x, train_y, test_x, test_y, classes, seed=0, epochs=200):
    """Held-out accuracy of a softmax classifier (standardised features, ``model.fit``)."""
    keras.utils.set_random_seed(seed)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    classifier = keras.Sequential(
        [
            keras.Input(shape=(train_x.shape[1],)),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(classes, activation="softmax", kernel_regularizer=keras.regularizers.l2(1e-3)),
        ]
    )
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit((train_x - mean) / std, train_y, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    _, accuracy = classifier.evaluate((test_x - mean) / std, test_y, verbose=0)
    return float(accuracy)


def run(clips_per_class=50, frames=16, size=112, seed=0, weights="kinetics400", log=print):
    """Runs the demo and returns its numbers (accuracies are fractions in [0, 1])."""
    start = time.time()
    keras.utils.set_random_seed(seed)
    clips, labels = synthetic.make_dataset(clips_per_class, frames, size, seed)
    classes = len(synthetic.CLASSES)
    train = np.arange(len(labels)) // classes % 3 != 2  # every third clip of each class is held out
    log(f"Rendered {len(clips)} clips of {frames}x{size}x{size}, {classes} classes: {', '.join(synthetic.CLASSES)}")
    extractor = I3D(weights=weights, include_top=False, pooling="avg", input_shape=(frames, size, size, 3))
    results = {}
    for name, data in (("temporal", clips), ("single_frame", synthetic.single_frame_clips(clips))):
        features = embed(extractor, data)
        accuracy = fit_and_score(features[train], labels[train], features[~train], labels[~train], classes, seed)
        results[f"{name}_accuracy"] = accuracy
        log(f"{name.replace('_', '-'):>12} clips: held-out accuracy {accuracy:6.1%}  ({time.time() - start:.0f} s)")
    results.update(
        chance=1 / classes, train_clips=int(train.sum()), test_clips=int((~train).sum()), seconds=round(time.time() - start, 1)
    )
    return results
