"""``run_training``: one training run around ``model.fit``, under a ``tf.distribute`` strategy.

The run folder holds ``config.json``, ``labels.txt``, ``checkpoints/{last,best}.weights.h5``, ``logs/``
(TensorBoard), ``history.csv`` and, at the end, ``model.keras``. A run killed at any point and started again
with the same command resumes after the last completed epoch (``backup/``, removed when the run finishes).
With several machines, only the chief writes there; the other workers write under ``workers/<id>/``.
"""

import dataclasses
import logging
import os

import keras
import tensorflow as tf

from i3d_keras import files
from i3d_keras.data import datasets, pipeline, tfrecord
from i3d_keras.training import callbacks, model_setup, strategy as strategy_lib

log = logging.getLogger(__name__)


def data_labels(source):
    """The ``LabelMap`` of a data source: a ``VideoDataset``'s own, or the ``labels.txt`` beside TFRecords."""
    if isinstance(source, datasets.VideoDataset):
        return source.labels
    shards = tfrecord.list_shards(source)
    tfrecord.check_shards(shards)
    first = shards[0]
    path = os.path.join(os.path.dirname(first), "labels.txt")
    if not os.path.exists(path):
        raise ValueError(f"{path}: missing; TFRecords need the labels.txt that build-tfrecords writes beside them")
    return datasets.LabelMap.load(path)


def data_size(source):
    """The number of videos in a data source."""
    return len(source) if isinstance(source, datasets.VideoDataset) else tfrecord.count_videos(source)


def describe(source):
    return source.describe() if isinstance(source, datasets.VideoDataset) else f"TFRecords {source}"


def _check_data(train, validation, batch_size):
    labels = data_labels(train)
    if validation is not None and data_labels(validation) != labels:
        raise ValueError("the validation data's labels differ from the training data's (same classes, same order "
                         "needed)")
    videos = data_size(train)
    if videos == 0:
        raise ValueError(f"{describe(train)}: the training data set is empty")
    if videos < batch_size:
        raise ValueError(f"{describe(train)}: {videos} videos, fewer than one batch of {batch_size}")
    return labels, videos


class TrainingModel(keras.Model):
    """What ``fit`` runs: the network behind a layer mapping uint8 clips to [-1, 1] (the pipeline ships bytes).

    It also works around two failures of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585): Keras averages the first input batch across workers just to learn its shapes
    (the first local replica's batch has the same shapes), and it averages each step's scalar logs over
    workers along axis 0, which scalars lack (the steps return them with one axis).
    """

    multi_worker = False

    def train_step(self, data):
        return self._reducible(super().train_step(data))

    def test_step(self, data):
        return self._reducible(super().test_step(data))

    def _reducible(self, logs):
        if not self.multi_worker:
            return logs
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is None or data_batch is not None or self._distribute_strategy is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        strategy = self.distribute_strategy
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(
                lambda value: strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues) else value, next(batches))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)


def _with_input_scaling(network, strategy):
    clips = keras.Input(shape=network.input_shape[1:], dtype="uint8", name="clips_uint8")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_minus_one_one")(clips)
    model = TrainingModel(clips, network(scaled), name=network.name + "_training")
    model.multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    return model


def run_training(config, train, validation=None):
    """Trains as ``config`` says on ``train`` (a ``VideoDataset`` or TFRecords), validating on ``validation``
    after each epoch; returns the trained network (inputs in [-1, 1]).

    Raises ``ValueError`` with the fix for an empty data set, labels that do not match, or bad options.
    """
    strategy = strategy_lib.select_strategy(config.strategy)
    config = config.resolved()
    labels, videos = _check_data(train, validation, config.batch_size)
    chief = strategy_lib.is_chief(strategy)
    folder = config.run_dir if chief else os.path.join(config.run_dir, "workers", str(strategy_lib.worker_id(strategy)))
    os.makedirs(os.path.join(folder, "checkpoints"), exist_ok=True)
    config = dataclasses.replace(config, train_data=describe(train),
                                 validation_data=describe(validation) if validation is not None else "")
    config.save(os.path.join(folder, "config.json"))
    labels.save(os.path.join(folder, "labels.txt"))
    model_setup.fetch_start_weights(config)
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)

    steps = config.steps_per_epoch or videos // config.batch_size
    with strategy.scope():
        network = model_setup.build_model(config, len(labels))
        model = model_setup.compile_model(_with_input_scaling(network, strategy), config, steps, len(labels), strategy)

    skipped = pipeline.SkippedVideos()
    options = dict(num_frames=config.num_frames, crop_size=config.crop_size, modality=config.modality,
                   short_side=config.short_side, flow_root=config.flow_root, skipped=skipped, dtype="uint8",
                   seed=config.seed)
    train_data = pipeline.build_dataset(train, training=True, batch_size=config.batch_size,
                                        resized_crop=config.resized_crop, **options).repeat()
    validation_data = None
    if validation is not None:
        validation_data = pipeline.build_dataset(validation, training=False, batch_size=config.batch_size,
                                                 drop_remainder=False, **options)

    backup = callbacks.EpochBackup(os.path.join(folder, "backup"))
    initial_epoch = backup.restore(model)
    callbacks.trim_history(os.path.join(folder, "history.csv"), initial_epoch)
    monitor = "val_accuracy" if validation is not None else "loss"
    fit_callbacks = [
        keras.callbacks.TerminateOnNaN(),
        callbacks.SkippedVideosReport(skipped),
        callbacks.WeightsCheckpoint(os.path.join(folder, "checkpoints"), network, monitor),
        keras.callbacks.CSVLogger(os.path.join(folder, "history.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(folder, "logs")),
        backup,  # last: an epoch counts as done once everything above has been written
    ]
    if initial_epoch < config.epochs:
        history = model.fit(train_data, epochs=config.epochs, steps_per_epoch=steps, initial_epoch=initial_epoch,
                            validation_data=validation_data, callbacks=fit_callbacks, verbose=2, shuffle=False)
        if model.stop_training and any(map(_is_nan, history.history.get("loss", []))):
            raise FloatingPointError("the loss became NaN; lower --learning_rate (the backup of the last good epoch "
                                     f"is in {backup.folder})")
    with files.atomic_path(os.path.join(folder, "model.keras"), suffix=".keras") as tmp:
        network.save(tmp)
    backup.remove()
    return network


def _is_nan(value):
    return value != value


def load_trained(path):
    """A ``model.keras`` written by ``run_training`` (loaded with ``safe_mode``: no code runs from the file). A file
    that is not one, or that carries code, is refused in one line naming it."""
    import zipfile

    try:
        return keras.models.load_model(path, safe_mode=True)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a Keras model this can load ({files.describe(error)})") from None

