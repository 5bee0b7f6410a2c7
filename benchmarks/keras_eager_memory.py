"""Keras 3 keeps every intermediate tensor of an eager functional-model call alive until the call returns.

A minimal, self-contained reproduction for keras-team/keras#19500 (TensorFlow backend; needs only keras and
numpy): a plain stack of 1x1x1 3-D convolutions and ReLUs, whose activations are each ``--mib`` MiB, called once eagerly as
``model(x)`` and once as ``model.predict_on_batch(x)``, each in a fresh process (a second call in the same
process reuses the memory the first one left mapped, and hides the growth). Inside a ``tf.function`` (what
``predict_on_batch`` runs) TensorFlow frees each buffer after its last use, so the peak is about two activations;
the eager call's peak grows with the depth, because ``Function._run_through_graph`` (``keras/src/ops/function.py``)
holds every layer's output in ``tensor_dict``. ``i3d_keras.functional.LeanFunctional`` is the workaround this
project uses. Not a test.

    python benchmarks/keras_eager_memory.py [--depth 4 16 32] [--mib 64]
"""

import argparse
import os
import subprocess
import sys

CHILD = """
import sys
import numpy as np
import keras

def status(key):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) // 1024 for line in lines if line.startswith(key))

depth, mib, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
side = int(round((mib * 2**20 / 4 / 8) ** (1 / 3)))  # [1, side, side, side, 8] float32 = mib MiB per activation
inputs = keras.Input((side, side, side, 8))
x = inputs
for index in range(depth):
    x = keras.layers.ReLU()(keras.layers.Conv3D(8, 1)(x))
model = keras.Model(inputs, x)
clip = np.ones((1, side, side, side, 8), np.float32)
before = status("VmRSS")
model(clip) if how == "model(x)" else model.predict_on_batch(clip)
print(status("VmHWM") - before)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, nargs="+", default=[4, 16, 32])
    parser.add_argument("--mib", type=int, default=64, help="MiB per activation")
    args = parser.parse_args()
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    print(f"keras {subprocess.run([sys.executable, '-c', 'import keras; print(keras.__version__)'], env=env, capture_output=True, text=True).stdout.strip()}, "
          f"activations of {args.mib} MiB; growth of the peak RSS during the call, MiB")
    print("| conv + ReLU pairs | model(x) | predict_on_batch |")
    print("|---|---|---|")
    for depth in args.depth:
        cells = []
        for how in ("model(x)", "predict_on_batch"):
            result = subprocess.run([sys.executable, "-c", CHILD, str(depth), str(args.mib), how], env=env,
                                    capture_output=True, text=True, check=True)
            cells.append(result.stdout.strip().splitlines()[-1])
        print(f"| {depth} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
