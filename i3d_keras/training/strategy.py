"""Choosing the ``tf.distribute`` strategy: all local GPUs, several machines from ``TF_CONFIG``, a TPU, or one device."""

import json
import os

STRATEGIES = ("auto", "mirrored", "multi_worker", "tpu", "one_device")


def cluster_workers():
    """The number of machines ``TF_CONFIG`` describes (chief and workers); 1 without ``TF_CONFIG``."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", [])) or 1


def select_strategy(name="auto"):
    """A strategy by name; ``auto``: multi-worker when ``TF_CONFIG`` names several machines, mirrored over
    the local GPUs when there are several, otherwise the default (one device). Call it before any other
    TensorFlow work (multi-worker needs that)."""
    import tensorflow as tf

    from i3d_keras import backend

    backend.require_tensorflow("Training with tf.distribute (i3d train, i3d demo)")

    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "auto":
        if cluster_workers() > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """Whether this process writes the run's shared outputs (the only process, or task 0 / the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def worker_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return (resolver.task_id or 0) if resolver is not None and resolver.task_type else 0
