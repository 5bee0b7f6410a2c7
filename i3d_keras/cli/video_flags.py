"""Flags shared by the commands that read videos (predict, features)."""

from absl import flags

from i3d_keras.data import decoding
from i3d_keras.inference import DEFAULT_STRIDE, DEFAULT_WINDOW
from i3d_keras.model import DTYPES

flags.DEFINE_string("weights", "kinetics400", "Registered weight set or .weights.h5 file.")
flags.DEFINE_float("fps", decoding.DEFAULT_FPS, "Resample frames to this rate (0 keeps the native rate).")
flags.DEFINE_integer("window", DEFAULT_WINDOW, "Frames per model call; longer videos are cut into windows.")
flags.DEFINE_integer("stride", DEFAULT_STRIDE, "Frames between the starts of consecutive windows.")
flags.DEFINE_enum("dtype", "float32", DTYPES, "Compute precision: mixed_bfloat16 on CPUs with AVX512-BF16/AMX, "
                  "mixed_float16 on GPUs (the same top classes, logits within a few tenths; docs: Performance).")
FLAGS = flags.FLAGS


def window_options():
    """The keyword arguments of ``inference.video_windows`` chosen by the flags."""
    if FLAGS.window < 9:
        raise ValueError(f"--window must be at least 9 frames, got {FLAGS.window}")
    return {"window": FLAGS.window, "stride": min(FLAGS.stride, FLAGS.window), "fps": FLAGS.fps or None}
