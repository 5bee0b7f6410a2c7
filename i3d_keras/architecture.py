"""I3D's architecture as data, with no Keras: the stages, DeepMind's scope names and the batch-norm constants.

The Keras model (``layers``, ``model``), the converters (``convert``), the TF1 graph (``hub_v1``) and the PyTorch
twin (``torch_i3d``) all read these tables, so imports point one way and a PyTorch process need not import Keras.
Scope names are how every checkpoint addresses the weights (``Mixed_4b/Branch_1/Conv3d_0b_3x3``); Keras layer
names are the same with ``/`` replaced by ``_`` (Keras 3 forbids slashes).
"""

import collections

BN_EPSILON = 1e-3  # DeepMind's (and TF-Hub's, and piergiaj/pytorch-i3d's); I3D(batch_norm_epsilon=...) changes it
BN_MOMENTUM = 0.999

Stage = collections.namedtuple("Stage", "kind suffix kernel strides channels")

# The network below the classifier, shared by I3D (3D kernels as written) and Inception-V1 (the last two
# numbers of each kernel and stride). Mixed blocks list their six branch widths, see layers.inception_block.
ARCHITECTURE = (
    Stage("conv", "1a_7x7", (7, 7, 7), (2, 2, 2), 64),
    Stage("pool", "2a_3x3", (1, 3, 3), (1, 2, 2), None),
    Stage("conv", "2b_1x1", (1, 1, 1), (1, 1, 1), 64),
    Stage("conv", "2c_3x3", (3, 3, 3), (1, 1, 1), 192),
    Stage("pool", "3a_3x3", (1, 3, 3), (1, 2, 2), None),
    Stage("mixed", "3b", None, None, (64, 96, 128, 16, 32, 32)),
    Stage("mixed", "3c", None, None, (128, 128, 192, 32, 96, 64)),
    Stage("pool", "4a_3x3", (3, 3, 3), (2, 2, 2), None),
    Stage("mixed", "4b", None, None, (192, 96, 208, 16, 48, 64)),
    Stage("mixed", "4c", None, None, (160, 112, 224, 24, 64, 64)),
    Stage("mixed", "4d", None, None, (128, 128, 256, 24, 64, 64)),
    Stage("mixed", "4e", None, None, (112, 144, 288, 32, 64, 64)),
    Stage("mixed", "4f", None, None, (256, 160, 320, 32, 128, 128)),
    Stage("pool", "5a_2x2", (2, 2, 2), (2, 2, 2), None),
    Stage("mixed", "5b", None, None, (256, 160, 320, 32, 128, 128)),
    Stage("mixed", "5c", None, None, (384, 192, 384, 48, 128, 128)),
)


def keras_name(scope):
    """The Keras layer-name prefix of a TensorFlow scope: ``Mixed_4b/Branch_1/Conv3d_0b_3x3`` -> ``Mixed_4b_Branch_1_Conv3d_0b_3x3``."""
    return scope.replace("/", "_")


def conv_prefix(rank):
    """``Conv3d`` or ``Conv2d``: the unit prefix of DeepMind's I3D and TF-slim's Inception-V1 scopes."""
    return f"Conv{rank}d"


def pool_prefix(rank):
    """``MaxPool3d`` (DeepMind) or ``MaxPool`` (TF-slim)."""
    return "MaxPool3d" if rank == 3 else "MaxPool"


def block_unit_names(block, rank=3):
    """The scopes inside inception block ``block``, keyed by branch position.

    Keeps the published checkpoints' quirk: in ``Mixed_5b`` the second conv of Branch_2 is ``..._0a_3x3``.
    """
    conv, pool = conv_prefix(rank), pool_prefix(rank)
    branch_2b = "0a_3x3" if block == "Mixed_5b" else "0b_3x3"
    return {
        "0a": f"{block}/Branch_0/{conv}_0a_1x1",
        "1a": f"{block}/Branch_1/{conv}_0a_1x1",
        "1b": f"{block}/Branch_1/{conv}_0b_3x3",
        "2a": f"{block}/Branch_2/{conv}_0a_1x1",
        "2b": f"{block}/Branch_2/{conv}_{branch_2b}",
        "3pool": f"{block}/Branch_3/{pool}_0a_3x3",
        "3b": f"{block}/Branch_3/{conv}_0b_1x1",
    }


def endpoint_name(stage, rank=3):
    """The scope of a stage: ``Conv3d_1a_7x7``, ``MaxPool3d_2a_3x3`` or ``Mixed_3b`` (2D: ``Conv2d_...``, ``MaxPool_...``)."""
    if stage.kind == "mixed":
        return f"Mixed_{stage.suffix}"
    prefix = conv_prefix(rank) if stage.kind == "conv" else pool_prefix(rank)
    return f"{prefix}_{stage.suffix}"


def logits_scope(rank=3):
    """``Logits/Conv3d_0c_1x1`` (2D: ``Logits/Conv2d_0c_1x1``): the classifier's scope."""
    return f"Logits/{conv_prefix(rank)}_0c_1x1"


VALID_ENDPOINTS = tuple(endpoint_name(stage) for stage in ARCHITECTURE)


def unit_scopes(rank=3, final_endpoint=None):
    """Every conv-BN unit's scope in network order, up to and including ``final_endpoint``."""
    scopes = []
    for stage in ARCHITECTURE:
        name = endpoint_name(stage, rank)
        if stage.kind == "conv":
            scopes.append(name)
        elif stage.kind == "mixed":
            scopes += [s for key, s in block_unit_names(name, rank).items() if key != "3pool"]
        if name == final_endpoint:
            break
    return scopes


def endpoint_layer_name(endpoint, rank=3):
    """The Keras layer whose output is ``endpoint`` (a conv unit ends in its ReLU)."""
    is_conv = endpoint.startswith(conv_prefix(rank))
    return keras_name(endpoint) + ("_relu" if is_conv else "")
