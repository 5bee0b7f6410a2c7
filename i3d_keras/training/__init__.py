"""Training and transfer learning around ``model.fit``, under ``tf.distribute``."""

from i3d_keras.training.config import TrainConfig
from i3d_keras.training.run import run_training

__all__ = ["TrainConfig", "run_training"]
