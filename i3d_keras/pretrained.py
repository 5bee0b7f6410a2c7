"""The registered weight sets as Keras weight files, for code that has a set's name and no model at hand.

``weights`` holds the registry and the cache and builds no model; each architecture's module (``model``,
``inception_v1``) knows the model its sets fill. This module, above both, picks it by the set's architecture.
"""

from i3d_keras import weights


def full_model(spec):
    """The randomly initialised model registered set ``spec`` fills exactly (with its classifier)."""
    if spec.architecture == "inception_v1":
        from i3d_keras import inception_v1

        return inception_v1.full_model_of_weights(spec)
    from i3d_keras import model

    return model.full_model_of_weights(spec)


def weights_file(name):
    """The converted, sha256-checked ``.weights.h5`` of registered set ``name`` (built on first use)."""
    return weights.weights_file(name, full_model)


def convert_source(spec, source_path, output_path):
    """``weights.convert_source`` into the model ``spec`` fills (``i3d convert --source``)."""
    return weights.convert_source(spec, source_path, output_path, full_model(spec))
