"""The embedded demo: does I3D see motion, and does Kinetics-400 pretraining make fine-tuning work?

Renders the synthetic action data set (``data.synthetic``: six classes that only motion separates); two thirds
of the clips train and the other third is held out. Seeds are fixed.

1. Linear probe: a softmax classifier (``model.fit``) on the Kinetics-400 I3D's pooled Mixed_5c features, for
   the clips and for clips made of one repeated frame (which cannot beat chance by construction).
2. Fine-tuning (not with ``quick``): I3D's top blocks (Mixed_5b, Mixed_5c) and a new classifier trained with
   ``model.fit`` from Kinetics-400 and from random init, with the same recipe and budget. Everything below
   Mixed_5b is frozen (batch norm in inference mode), so it runs once per clip, and once per mirrored training
   clip (the augmentation: no class is the mirror image of another); the epochs train on its outputs.
"""

import functools
import time

import keras
import numpy as np

from i3d_keras.data import synthetic
from i3d_keras.model import split_model
from i3d_keras.preprocessing import preprocess_input
from i3d_keras.progress import Progress, keras_callback
from i3d_keras.training import model_setup
from i3d_keras.training.config import TrainConfig

FINE_TUNE_FROM = "Mixed_5b"


def embed(model, clips, batch_size=8, label="embedding clips"):
    """``model``'s outputs for uint8 clips ``[N, T, H, W, 3]``, batch by batch, with progress on stderr."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(clips).batch(batch_size).map(preprocess_input)
    with Progress(len(clips), label, unit="clip") as progress:
        return model.predict(dataset, verbose=0, callbacks=[keras_callback(progress, batch_size)])


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


def fine_tune_config(init, frames, size, epochs, seed):
    """The fine-tuning recipe: Mixed_5b up and a new head train, every batch norm frozen (batches of 16 clips
    cannot estimate statistics that stay valid for the held-out clips), Adam at 5e-4 decaying on a cosine,
    dropout 0.2 (on this data, 0.5 needs about twice the epochs). XLA as ``i3d train`` chooses it: not on a
    CPU, where TensorFlow's own kernels train this part of I3D twice as fast."""
    return TrainConfig(
        run_dir="", init=init, num_frames=frames, crop_size=size, trainable_from=FINE_TUNE_FROM, freeze_bn=True,
        dropout_rate=0.2, optimizer="adam", learning_rate=5e-4, schedule="cosine", epochs=epochs, batch_size=16,
        seed=seed,
    ).resolved()


class FineTuning:
    """One start (``init``) of the fine-tuning: the network, split at ``FINE_TUNE_FROM``."""

    def __init__(self, init, frames, size, epochs, seed, classes):
        self.config = fine_tune_config(init, frames, size, epochs, seed)
        model_setup.fetch_start_weights(self.config)  # before seeding: a first use converts, drawing random numbers
        keras.utils.set_random_seed(seed)
        self.model = model_setup.build_model(self.config, classes)
        self.bottom, self.top = split_model(self.model, FINE_TUNE_FROM)
        self.classes, self.name = classes, f"fine-tuning from {init}"

    def features(self, stem_outputs):
        """Pooled Mixed_5c features ``[N, 1024]`` from the frozen stem's outputs (what the linear probe sees)."""
        pooled = keras.Model(self.model.input, self.model.get_layer("avg_pool").output)
        return split_model(pooled, FINE_TUNE_FROM)[1].predict(stem_outputs, batch_size=32, verbose=0)

    def fine_tune(self, clips, labels, train, stem=None):
        """Held-out accuracy after fitting the top (``model.fit``) on the training clips and their mirror images.
        ``stem``: the frozen stem's outputs for ``clips``, when already computed."""
        stem = embed(self.bottom, clips, label=f"{self.name}: frozen layers, clips") if stem is None else stem
        mirrored = embed(self.bottom, clips[train][:, :, :, ::-1], label=f"{self.name}: frozen layers, mirrored clips")
        train_x = np.concatenate([stem[train], mirrored])
        train_y = np.tile(labels[train], 2)
        keras.utils.set_random_seed(self.config.seed)
        steps = -(-len(train_y) // self.config.batch_size)
        model_setup.compile_model(self.top, self.config, steps, self.classes)
        with Progress(self.config.epochs, f"{self.name}: training {FINE_TUNE_FROM} up", unit="epoch") as progress:
            epochs = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: progress.update(epoch + 1))
            self.top.fit(train_x, train_y, batch_size=self.config.batch_size, epochs=self.config.epochs, shuffle=True,
                         verbose=0, callbacks=[epochs])
        scores = self.top.evaluate(stem[~train], labels[~train], batch_size=32, verbose=0, return_dict=True)
        return float(scores["accuracy"])


def run(clips_per_class=50, frames=16, size=112, seed=0, weights="kinetics400", quick=False, epochs=10, log=functools.partial(print, flush=True)):
    """Runs the demo and returns its numbers (accuracies are fractions in [0, 1]). ``quick``: the linear probe
    only."""
    from i3d_keras import backend

    backend.require_tensorflow("The demo (tf.data input, tf.distribute fine-tuning)")
    start = time.time()
    keras.utils.set_random_seed(seed)
    classes = len(synthetic.CLASSES)
    log(f"[1/{3 if quick else 5}] Rendering {clips_per_class * classes} clips of {frames}x{size}x{size}, {classes} classes: "
        f"{', '.join(synthetic.CLASSES)}")
    clips, labels = synthetic.make_dataset(clips_per_class, frames, size, seed)
    train = np.arange(len(labels)) // classes % 3 != 2  # every third clip of each class is held out
    phase = iter(range(2, 6))

    def announce(what):
        log(f"[{next(phase)}/{3 if quick else 5}] {what}  ({time.time() - start:.0f} s)")

    def report(what, accuracy):
        log(f"{what:>40}: held-out accuracy {accuracy:6.1%}  ({time.time() - start:.0f} s)")

    results = {}
    announce(f"Loading I3D ({weights}) and running its frozen layers up to {FINE_TUNE_FROM} on the {len(clips)} clips "
             f"and on {len(clips)} single-frame copies")
    pretrained = FineTuning(weights, frames, size, epochs, seed, classes)
    stems = {"temporal": embed(pretrained.bottom, clips, label="I3D on clips")}
    stems["single_frame"] = embed(pretrained.bottom, synthetic.single_frame_clips(clips), label="I3D on single-frame clips")
    announce(f"Linear probes on the pooled features: {int(train.sum())} clips train, {int((~train).sum())} held out")
    for name, stem in stems.items():
        features = pretrained.features(stem)
        accuracy = fit_and_score(features[train], labels[train], features[~train], labels[~train], classes, seed)
        results[f"{name}_accuracy"] = accuracy
        report(f"linear probe, {name.replace('_', '-')} clips", accuracy)
    if not quick:
        announce(f"Fine-tuning {FINE_TUNE_FROM} up from {weights}: {epochs} epochs over {2 * int(train.sum())} clips "
                 "(with mirror images)")
        accuracy = results["fine_tuned_pretrained_accuracy"] = pretrained.fine_tune(clips, labels, train, stems["temporal"])
        report(f"fine-tuned from {FINE_TUNE_FROM}, {weights}", accuracy)
        announce(f"Fine-tuning {FINE_TUNE_FROM} up from random init, the same recipe (the frozen layers run again)")
        random_init = FineTuning("random", frames, size, epochs, seed, classes)
        accuracy = results["fine_tuned_random_init_accuracy"] = random_init.fine_tune(clips, labels, train)
        report(f"fine-tuned from {FINE_TUNE_FROM}, random init", accuracy)
        results.update(fine_tuned_from=FINE_TUNE_FROM, fine_tune_epochs=epochs, pretrained_weights=weights)
    results.update(
        chance=1 / classes, train_clips=int(train.sum()), test_clips=int((~train).sum()), seconds=round(time.time() - start, 1)
    )
    return results
