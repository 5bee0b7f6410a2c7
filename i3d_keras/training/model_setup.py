"""The model a training run starts from: initial weights, a new head for the data set's classes, which layers
train, batch-norm handling, precision; and its optimizer, schedule, loss and metrics."""

import keras

from i3d_keras import architecture
from i3d_keras.model import I3D, dtype_policy

HEAD_PREFIX = "Logits"  # every classifier layer's name starts with it
RANDOM_INITS = ("random", "", None)  # a start without weights


def _trunk_and_head(config, classes, weights):
    """I3D from ``config`` with ``weights`` (None, a registered set or a file); new classifier of ``classes``."""
    if config.final_endpoint == "Mixed_5c" and config.crop_size >= 224:
        return I3D(weights=weights, classes=classes, modality=config.modality, dropout_rate=config.dropout_rate,
                   input_shape=(None, None, None, 3 if config.modality == "rgb" else 2))
    # a shorter network (to Mixed_4f, say) or crops under 224 (the I3D head's 2x7x7 pool needs a 7x7 Mixed_5c):
    # global average pool, dropout, a dense classifier
    trunk = I3D(weights=weights, include_top=False, final_endpoint=config.final_endpoint, pooling="avg",
                modality=config.modality)
    x = keras.layers.Dropout(config.dropout_rate, name="Logits_dropout")(trunk.output)
    logits = keras.layers.Dense(classes, name="Logits")(x)
    return keras.Model(trunk.input, logits, name=f"i3d_{config.modality}_{config.final_endpoint}")


def initial_model(config, classes):
    """The network with its starting weights: Kinetics (or any registered set), ImageNet Inception-V1
    inflated to 3D (the paper's recipe), random, or a ``.weights.h5`` of an earlier run (same classes)."""
    from i3d_keras import weights as weights_lib

    init = config.init
    if init in RANDOM_INITS:
        return _trunk_and_head(config, classes, None)
    if init == "imagenet":
        from i3d_keras import InceptionV1, inflate

        model = _trunk_and_head(config, classes, None)
        inflate(InceptionV1(weights="imagenet"), model)
        return model
    if weights_lib.lookup(init) is not None:
        return _trunk_and_head(config, classes, init)
    model = _trunk_and_head(config, classes, None)
    try:
        model.load_weights(init)
    except (ValueError, OSError) as error:
        raise ValueError(f"{init}: cannot start from these weights ({error}); a checkpoint must come from a run "
                         f"with the same modality, endpoint and number of classes ({classes})") from None
    return model


def fetch_start_weights(config):
    """Downloads and converts a registered start (``config.init``) now, before the run is seeded: converting
    builds a model, whose initialisers draw from Keras' random generator, so converting after seeding would start
    a first run (empty cache) differently from every later one."""
    from i3d_keras import pretrained
    from i3d_keras import weights as weights_lib

    if config.init not in RANDOM_INITS and weights_lib.lookup(config.init) is not None:
        pretrained.weights_file(config.init)


def synchronize_batch_norm(model):
    """A copy of ``model`` whose batch norms compute their statistics over all replicas (multi-GPU, small
    per-replica batches); weights copied."""

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["synchronized"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def set_trainable(model, trainable_from="all", freeze_bn=False):
    """Freezes what should not train: ``"all"`` trains everything, ``"head"`` only the classifier, an endpoint
    name (``"Mixed_4b"``) that block and everything above it. Frozen batch norms run in inference mode
    (Keras does that for non-trainable BatchNormalization); ``freeze_bn`` freezes every batch norm, for small
    batches. Returns the number of trainable weights."""
    from i3d_keras.model import VALID_ENDPOINTS

    if trainable_from not in ("all", "head") and trainable_from not in VALID_ENDPOINTS:
        raise ValueError(f"trainable_from must be all, head or one of {', '.join(VALID_ENDPOINTS)}, "
                         f"got {trainable_from!r}")
    names = [layer.name for layer in model.layers]
    if trainable_from == "all":
        first = 0
    elif trainable_from == "head":
        first = next(i for i, name in enumerate(names) if name.startswith(HEAD_PREFIX))
    else:
        starts = [i for i, name in enumerate(names) if name.startswith(architecture.keras_name(trainable_from))]
        if not starts:
            raise ValueError(f"{trainable_from} is not part of this model (it ends before it)")
        first = starts[0]
    for index, layer in enumerate(model.layers):
        layer.trainable = index >= first and not (freeze_bn and isinstance(layer, keras.layers.BatchNormalization))
    return len(model.trainable_weights)


def build_model(config, classes):
    """The model to train (under the strategy scope): start, new head, freezing, synchronised BN, precision.

    With mixed precision the layers compute in float16/bfloat16 and the logits come out in float32.
    """
    with dtype_policy(config.mixed_precision):
        model = initial_model(config, classes)
        if config.sync_bn:
            model = synchronize_batch_norm(model)
        if config.mixed_precision:
            logits = keras.layers.Activation("linear", dtype="float32", name="Logits_float32")(model.output)
            model = keras.Model(model.input, logits, name=model.name)
    set_trainable(model, config.trainable_from, config.freeze_bn)
    return model


def learning_rate(config, steps_per_epoch):
    """The schedule (Keras built-ins, in optimizer steps): step decay by 10x at ``decay_epochs``, cosine with
    linear warm-up, or constant."""
    rate = config.learning_rate
    if config.schedule == "step":
        boundaries = [epoch * steps_per_epoch for epoch in config.decay_epochs]
        values = [rate * 0.1 ** i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if config.schedule == "cosine":
        warmup = config.warmup_epochs * steps_per_epoch
        decay = max(1, (config.epochs - config.warmup_epochs) * steps_per_epoch)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(0.0, decay, warmup_target=rate, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(rate, decay)
    return rate


def use_xla(config, strategy=None):
    """Whether the training step compiles with XLA: ``config.jit_compile`` when set, else (None) only on GPUs
    and TPUs. On a CPU, TensorFlow's own kernels train I3D 4-5x faster than XLA's (``benchmarks/inference.py``).
    Never for several replicas on CPU devices, where XLA cannot place the replicas' variables (TensorFlow's known
    XLA issue "tf.Variable on a different device")."""
    import tensorflow as tf

    if config.jit_compile is False:
        return False
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        if any("CPU" in device.upper() for device in getattr(strategy.extended, "worker_devices", ())):
            return False
    if config.jit_compile is None:
        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return True


def compile_model(model, config, steps_per_epoch, classes, strategy=None):
    """Compiles ``model`` with the configured optimizer, schedule, loss (from logits), accuracy metrics and
    XLA (``use_xla``)."""
    schedule = learning_rate(config, steps_per_epoch)
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    else:
        optimizer = keras.optimizers.Adam(schedule, weight_decay=config.weight_decay or None)
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=metrics, jit_compile=use_xla(config, strategy))
    return model
