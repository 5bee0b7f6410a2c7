"""The 2D Inception-V1 of TF-slim (GoogLeNet with batch norm), built from the same table as I3D.

Its ImageNet weights are what I3D is inflated from (see ``inflation``). Inputs are channels-last images
``[batch, height, width, 3]`` in [-1, 1]; the ImageNet classifier has 1001 classes (0 = background).
"""

import keras

from i3d_keras import layers
from i3d_keras.functional import LeanFunctional
from i3d_keras.model import ARCHITECTURE, build_trunk, check_head_arguments, endpoint_name, logits_scope

VALID_ENDPOINTS_2D = tuple(endpoint_name(stage, rank=2) for stage in ARCHITECTURE)


def InceptionV1(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1001,
    classifier_activation=None,
    dropout_rate=0.2,
    final_endpoint=None,
    name="inception_v1",
):
    """Builds TF-slim's Inception-V1 with batch norm; arguments as ``keras.applications`` and ``I3D``.

    ``weights``: None, ``"imagenet"`` (TF-slim's checkpoint, converted on first use) or a ``.weights.h5`` path.
    """
    from i3d_keras import weights as weights_lib

    if weights is not None:
        weights_lib.lookup(weights)
    check_head_arguments(include_top, pooling, final_endpoint, VALID_ENDPOINTS_2D)
    if input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)

    inputs = keras.Input(shape=input_shape, name="image") if input_tensor is None else input_tensor
    x = build_trunk(inputs, rank=2, final_endpoint=final_endpoint or "Mixed_5c")
    if include_top:
        x = layers.classifier_head(x, logits_scope(2), classes, 7, dropout_rate, classifier_activation, rank=2)
    else:
        x = layers.global_pool(x, pooling, rank=2)
    model = LeanFunctional(inputs, x, name=name)
    if weights is not None:
        weights_lib.load_into(model, weights, full_model_of_weights, rank=2)
    return model


def full_model_of_weights(spec):
    """The randomly initialised Inception-V1 that registered set ``spec`` fills exactly."""
    return InceptionV1(weights=None, classes=spec.classes)
