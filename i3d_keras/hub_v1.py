"""I3D as a module in the TF1 Hub format, the shape of TF-Hub's ``deepmind/i3d-kinetics-400/1`` and ``-600/1``, so
that code written for those modules runs unchanged on it.

The module is a TF1 SavedModel with one graph, for the empty tag set, and ``tfhub_module.pb``:

- signature ``default``: input ``rgb_input`` (the placeholder ``input_frames``), float32 ``[batch, T >= 9, 224,
  224, 3]`` in [-1, 1]; output ``default``, the logits averaged over time ``[batch, classes]``;
- graph names as DeepMind's ``i3d.py`` makes them inside ``hub.Module``: variables
  ``RGB/inception_i3d/Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w`` and ``.../batch_norm/moving_mean``, the averaged
  logits ``RGB/inception_i3d/Mean`` (what the original FVD code reads as ``<module>_apply_default/RGB/inception_i3d/
  Mean:0``), the input ``input_frames`` (what code that calls ``.prune`` feeds).

So ``hub.load(path).signatures["default"]``, ``hub.KerasLayer(path)``, ``hub.load(path).prune("input_frames:0",
"RGB/inception_i3d/Mean:0")`` and TF1's ``hub.Module(path)`` all work. The graph is built with ``tf.compat.v1``
from ``model.ARCHITECTURE`` (the names come from that table) and filled from the Keras model's weight tree.
``export`` validates the written module against the Keras model before putting it in place.
"""

import json
import os

import numpy as np

from i3d_keras import architecture, convert, files
from i3d_keras.data.decoding import CROP_SIZE
from i3d_keras.architecture import ARCHITECTURE, endpoint_name, logits_scope
from i3d_keras.model import MODALITY_CHANNELS

INPUT_NAME = "input_frames"  # the placeholder op
SIGNATURE_INPUT = "rgb_input"  # the default signature's input key
OUTPUT_TENSOR = "inception_i3d/Mean:0"  # below the stream's scope (RGB/ or Flow/)
MODULE_DEF = b"\x08\x03"  # tensorflow_hub.ModuleDef(format=FORMAT_V3), serialised
MODULE_DEF_FILE = "tfhub_module.pb"
VALIDATION_FILE = "validation.json"
TOLERANCE = 1e-5
VALIDATION_FRAMES = 16


def stream_scope(modality):
    """``RGB`` or ``Flow``: the scope above ``inception_i3d`` in DeepMind's graphs."""
    return {"rgb": "RGB", "flow": "Flow"}[modality]


def _variable(tf1, name, shape, trainable=True):
    return tf1.get_variable(name, shape, tf1.float32, tf1.zeros_initializer(), trainable=trainable, use_resource=True)


def _unit(tf1, x, scope, channels, kernel, strides, assignments, tree):
    """Sonnet's ``Unit3D``: conv (``SAME``, no bias) -> batch norm (offset, moving statistics) -> ReLU."""
    with tf1.variable_scope(scope.split("/")[-1]):
        with tf1.variable_scope("conv_3d"):
            w = _variable(tf1, "w", list(kernel) + [x.shape[-1], channels])
        with tf1.variable_scope("batch_norm"):
            stats = {param: _variable(tf1, param, [1, 1, 1, 1, channels], trainable=param == "beta")
                     for param in convert.BN_PARAMS}
        assignments[w] = tree[f"{scope}/kernel"]
        for param, variable in stats.items():
            assignments[variable] = np.reshape(tree[f"{scope}/{param}"], [1, 1, 1, 1, channels])
        x = tf1.nn.conv3d(x, w, [1, *strides, 1], "SAME")
        x = tf1.nn.batch_normalization(x, stats["moving_mean"], stats["moving_variance"], stats["beta"], None,
                                       architecture.BN_EPSILON)
        return tf1.nn.relu(x)


def _max_pool(tf1, x, kernel, strides):
    return tf1.nn.max_pool3d(x, [1, *kernel, 1], [1, *strides, 1], "SAME")


def _inception_block(tf1, x, block, channels, assignments, tree):
    names = architecture.block_unit_names(block)
    c0, c1a, c1b, c2a, c2b, c3 = channels
    unit = lambda x, key, c, k: _unit(tf1, x, names[key], c, k, (1, 1, 1), assignments, tree)  # noqa: E731
    with tf1.variable_scope(block):
        with tf1.variable_scope("Branch_0"):
            branch_0 = unit(x, "0a", c0, (1, 1, 1))
        with tf1.variable_scope("Branch_1"):
            branch_1 = unit(unit(x, "1a", c1a, (1, 1, 1)), "1b", c1b, (3, 3, 3))
        with tf1.variable_scope("Branch_2"):
            branch_2 = unit(unit(x, "2a", c2a, (1, 1, 1)), "2b", c2b, (3, 3, 3))
        with tf1.variable_scope("Branch_3"):
            branch_3 = unit(_max_pool(tf1, x, (3, 3, 3), (1, 1, 1)), "3b", c3, (1, 1, 1))
        return tf1.concat([branch_0, branch_1, branch_2, branch_3], 4)


def build_graph(tree, modality, classes):
    """The module's graph: ``(graph, input placeholder, averaged logits, {variable: value})``."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    graph, assignments = tf1.Graph(), {}
    with graph.as_default():
        frames = tf1.placeholder(tf1.float32, [None, None, CROP_SIZE, CROP_SIZE, MODALITY_CHANNELS[modality]],
                                 name=INPUT_NAME)
        with tf1.variable_scope(stream_scope(modality)), tf1.variable_scope("inception_i3d"):
            net = frames
            for stage in ARCHITECTURE:
                name = endpoint_name(stage)
                if stage.kind == "conv":
                    net = _unit(tf1, net, name, stage.channels, stage.kernel, stage.strides, assignments, tree)
                elif stage.kind == "pool":
                    net = _max_pool(tf1, net, stage.kernel, stage.strides)
                else:
                    net = _inception_block(tf1, net, name, stage.channels, assignments, tree)
            head, conv = logits_scope().split("/")
            with tf1.variable_scope(head):
                net = tf1.nn.avg_pool3d(net, [1, 2, 7, 7, 1], [1, 1, 1, 1, 1], "VALID")
                with tf1.variable_scope(conv), tf1.variable_scope("conv_3d"):
                    w, b = _variable(tf1, "w", [1, 1, 1, net.shape[-1], classes]), _variable(tf1, "b", [classes])
                assignments[w], assignments[b] = tree[f"{logits_scope()}/kernel"], tree[f"{logits_scope()}/bias"]
                logits = tf1.squeeze(tf1.nn.conv3d(net, w, [1] * 5, "SAME") + b, [2, 3], name="SpatialSqueeze")
            averaged = tf1.reduce_mean(logits, axis=1, name="Mean")
    return graph, frames, averaged, assignments


def _tensor_info(tensor):
    from tensorflow.core.protobuf import meta_graph_pb2

    return meta_graph_pb2.TensorInfo(name=tensor.name, dtype=tensor.dtype.as_datatype_enum,
                                     tensor_shape=tensor.shape.as_proto())


def write(model, folder):
    """Writes ``model`` (an I3D with its classifier) as a TF1 Hub module into the empty or new ``folder``."""
    import tensorflow as tf

    from i3d_keras import serving

    tf1 = tf.compat.v1
    modality, classes = serving.modality_of(model), model.output_shape[-1]
    if modality == "two-stream":
        raise ValueError("the TF1 Hub format holds one stream; export the RGB or the flow model")
    graph, frames, averaged, assignments = build_graph(convert.read_tree(model), modality, classes)
    with graph.as_default(), tf1.Session(graph=graph) as session:
        for variable, value in assignments.items():
            variable.load(np.asarray(value, np.float32), session)
        signature = tf1.saved_model.build_signature_def({SIGNATURE_INPUT: _tensor_info(frames)},
                                                        {"default": _tensor_info(averaged)})
        builder = tf1.saved_model.Builder(os.path.join(folder, "saved_model"))
        builder.add_meta_graph_and_variables(session, [], signature_def_map={"default": signature},
                                             strip_default_attrs=True)
        builder.save()
    for name in os.listdir(os.path.join(folder, "saved_model")):  # the Builder wants a new folder: move up
        os.replace(os.path.join(folder, "saved_model", name), os.path.join(folder, name))
    os.rmdir(os.path.join(folder, "saved_model"))
    with open(os.path.join(folder, MODULE_DEF_FILE), "wb") as out:
        out.write(MODULE_DEF)


def validate(folder, model):
    """Loads ``folder`` as ``hub.load`` does (``tf.saved_model.load(folder, tags=[])``) and compares the
    ``default`` signature and the pruned graph with ``model`` on a fixed random clip; raises on a difference."""
    import tensorflow as tf

    from i3d_keras import serving

    modality = serving.modality_of(model)
    clip = np.random.default_rng(0).uniform(-1, 1, (1, VALIDATION_FRAMES, CROP_SIZE, CROP_SIZE,
                                                    MODALITY_CHANNELS[modality])).astype(np.float32)
    expected = np.asarray(model(clip, training=False))
    loaded = tf.saved_model.load(folder, tags=[])
    pruned = loaded.prune(f"{INPUT_NAME}:0", f"{stream_scope(modality)}/{OUTPUT_TENSOR}")
    checks = {"signatures['default']": loaded.signatures["default"](tf.constant(clip))["default"],
              "prune": pruned(tf.constant(clip))}
    report = {}
    for name, value in checks.items():
        difference = report[name] = float(np.abs(np.asarray(value) - expected).max())
        if not difference <= TOLERANCE:
            raise ValueError(f"{folder}: {name} differs from the Keras model by {difference:g} (> {TOLERANCE})")
    return report


def export(model, path, weights_name="custom", overwrite=False):
    """Writes ``model`` as a validated TF1 Hub module at ``path``, atomically. Returns ``path``."""
    from i3d_keras import backend

    from i3d_keras.model import batch_norm_epsilon

    backend.require_tensorflow("A TF1 Hub module export")
    if batch_norm_epsilon(model) != architecture.BN_EPSILON:
        raise ValueError(f"the TF1 Hub format is DeepMind's graph, with batch-norm epsilon {architecture.BN_EPSILON:g}; this "
                         f"model's is {batch_norm_epsilon(model):g}: export it in another format")
    path = os.path.abspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    files.remove_leftovers(path)
    with files.atomic_folder(path) as staging:
        import tensorflow as tf

        with files.writing(path, also=(tf.errors.OpError,)):
            write(model, staging)
        report = {"max_abs_difference": validate(staging, model), "tolerance": TOLERANCE, "weights": weights_name,
                  "signature": {"default": {"inputs": {SIGNATURE_INPUT: INPUT_NAME}, "outputs": ["default"]}},
                  "parameters": model.count_params()}
        with files.writing(path), open(os.path.join(staging, VALIDATION_FILE), "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    return path
