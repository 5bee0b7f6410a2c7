"""Makes ``.venv-legacy``: the oldest stack the drop-ins serve, where ``tests/test_drop_ins.py`` runs unchanged
user code against our exports.

``python tests/legacy_venv.py`` (part of the README's test command): a Python 3.11 venv with TensorFlow 2.15 and
tensorflow_hub 0.15.0 (the last release with TF1's ``hub.Module``; it imports ``tf.compat.v1.estimator``, which
TensorFlow 2.16 removed) and PyTorch 2.4.1 (the oldest PyTorch the TorchScript drop-in supports). i3d-keras is not
installed there: the drop-ins must run without it. Does nothing when the venv already has exactly these.
"""

import os
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPOSITORY, ".venv-legacy")
PACKAGES = ("tensorflow-cpu==2.15.1", "tensorflow-hub==0.15.0", "torch==2.4.1", "numpy<2", "setuptools<81")
MARKER = os.path.join(VENV, "i3d-keras-legacy.txt")  # the package list it was made with


def python():
    """The legacy venv's interpreter, or None when it has not been made."""
    path = os.path.join(VENV, "bin", "python")
    return path if os.path.isfile(MARKER) and os.path.isfile(path) else None


def main():
    wanted = "\n".join(PACKAGES) + "\n"
    if python() and open(MARKER, encoding="utf-8").read() == wanted:
        print(f"{VENV}: up to date")
        return
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", *PACKAGES], check=True)
    with open(MARKER, "w", encoding="utf-8") as out:
        out.write(wanted)
    print(f"{VENV}: made ({', '.join(PACKAGES)})")


if __name__ == "__main__":
    main()
