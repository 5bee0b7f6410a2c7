"""i3d_keras: I3D (Inflated 3D ConvNet) for Keras 3, with DeepMind's Kinetics weights."""

from i3d_keras.inception_v1 import InceptionV1
from i3d_keras.inflation import inflate
from i3d_keras.model import I3D, VALID_ENDPOINTS, endpoint_model
from i3d_keras.preprocessing import decode_predictions, preprocess_input

__version__ = "0.1.0"
__all__ = ["I3D", "InceptionV1", "VALID_ENDPOINTS", "decode_predictions", "endpoint_model", "inflate", "preprocess_input"]
