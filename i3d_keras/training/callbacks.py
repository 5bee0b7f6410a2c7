"""Callbacks of a training run: an atomic per-epoch backup to resume from after a kill, the best and last
weights written atomically, and the count of skipped videos per epoch."""

import glob
import json
import logging
import math
import os
import shutil

import keras

from i3d_keras import files

log = logging.getLogger(__name__)

STATE_FILE = "state.weights.h5"


def latest_backup(folder):
    """``(epochs done, weights path)`` of the newest complete backup in ``folder``, or ``(0, None)``."""
    backups = sorted(glob.glob(os.path.join(folder, "epoch-*")))
    if not backups:
        return 0, None
    with open(os.path.join(backups[-1], "epoch.json"), encoding="utf-8") as info:
        return json.load(info)["epochs_done"], os.path.join(backups[-1], STATE_FILE)


def trim_history(path, epochs_done):
    """Drops the rows of a CSV history for epochs after ``epochs_done`` (written just before a kill, then redone)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as text:
        lines = text.read().splitlines()
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",")[0]) < epochs_done]
    if kept != lines:
        with files.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in kept))


class EpochBackup(keras.callbacks.Callback):
    """After every epoch, writes model and optimizer state (with the epoch number) as one folder, atomically,
    and removes the older ones. ``restore(model)`` before ``fit`` returns the epoch to resume at."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def restore(self, model):
        epochs_done, path = latest_backup(self.folder)
        if path:
            model.optimizer.build(model.trainable_variables)
            model.load_weights(path)
            log.warning("resuming from %s after epoch %d", os.path.dirname(path), epochs_done)
        return epochs_done

    def on_epoch_end(self, epoch, logs=None):
        target = os.path.join(self.folder, f"epoch-{epoch + 1:05d}")
        with files.atomic_folder(target) as staging:
            self.model.save_weights(os.path.join(staging, STATE_FILE))
            with open(os.path.join(staging, "epoch.json"), "w", encoding="utf-8") as info:
                json.dump({"epochs_done": epoch + 1}, info)
        for older in sorted(glob.glob(os.path.join(self.folder, "epoch-*")))[:-1]:
            shutil.rmtree(older, ignore_errors=True)

    def remove(self):
        """Drops the backups once the run has finished (its outputs are complete)."""
        shutil.rmtree(self.folder, ignore_errors=True)


class WeightsCheckpoint(keras.callbacks.Callback):
    """Writes ``last.weights.h5`` after every epoch and ``best.weights.h5`` when ``monitor`` improves (lower
    for losses, higher otherwise), atomically, of ``model`` (the network without the input scaling)."""

    def __init__(self, folder, model, monitor):
        super().__init__()
        self.folder, self.network, self.monitor = folder, model, monitor
        self.record = os.path.join(folder, "best.json")
        self.lower_is_better = "loss" in monitor

    def _best(self):
        try:
            with open(self.record, encoding="utf-8") as text:
                return json.load(text)["value"]
        except OSError:
            return math.inf if self.lower_is_better else -math.inf

    def _save(self, name):
        path = os.path.join(self.folder, name)
        with files.atomic_path(path, suffix=".weights.h5") as tmp:
            self.network.save_weights(tmp)

    def on_epoch_end(self, epoch, logs=None):
        self._save("last.weights.h5")
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(value):
            return
        best = self._best()
        if (value < best) if self.lower_is_better else (value > best):
            self._save("best.weights.h5")
            with files.atomic_path(self.record) as tmp, open(tmp, "w", encoding="utf-8") as out:
                json.dump({"monitor": self.monitor, "value": value, "epoch": epoch + 1}, out)


class SkippedVideosReport(keras.callbacks.Callback):
    """Reports how many videos an epoch skipped (unreadable files), then starts a new count."""

    def __init__(self, skipped):
        super().__init__()
        self.skipped = skipped

    def on_epoch_end(self, epoch, logs=None):
        if self.skipped.count:
            log.warning("epoch %d: %s", epoch + 1, self.skipped.describe())
        self.skipped.reset()
