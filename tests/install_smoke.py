"""Installs the project as a user would, in a fresh venv of another Python, and checks what users call.

``python tests/install_smoke.py --python 3.13`` (part of the README's test command and so of ``.ci/run``):

1. finds that Python (``python3.13`` on PATH, or pyenv's), makes a fresh venv in a temporary folder and runs
   ``pip install .`` there: no test extras, setuptools as the venv brings it (none on 3.12+);
2. runs this file again inside it (``--inside``), which checks, with random-init weights (no download):
   ``import tensorflow_hub``; ``i3d export`` (exit 0, quiet stderr); ``hub.load(path).signatures["default"]``,
   Keras 3 ``TFSMLayer`` and ``hub.KerasLayer`` against the Keras model (1e-5); ``i3d predict`` on a synthetic
   clip against the model on ``load_video``'s frames; ``i3d flow`` as a Beam pipeline on two local workers (its
   fields and its dead-letter report); ``i3d predict --help``.

Ends with ``smoke: N passed, N failed``; exits 1 when anything failed.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-5


def find_python(version):
    """The interpreter of ``version`` (``"3.13"``): on PATH, else pyenv's newest of that series."""
    for candidate in (f"python{version}",):
        found = shutil.which(candidate)
        if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
            return found
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.path.expanduser("~/.pyenv")
    versions = sorted((name for name in os.listdir(os.path.join(root, "versions")) if name.startswith(version + "."))
                      if os.path.isdir(os.path.join(root, "versions")) else [])
    for name in reversed(versions):
        path = os.path.join(root, "versions", name, "bin", f"python{version}")
        if os.path.exists(path):
            return path
    sys.exit(f"smoke: no Python {version} found (python{version} on PATH or pyenv); install it to run this check")


def outside(version):
    python = find_python(version)
    with tempfile.TemporaryDirectory(prefix=f"i3d-smoke-{version}-") as folder:
        venv = os.path.join(folder, "venv")
        subprocess.run([python, "-m", "venv", venv], check=True)
        venv_python = os.path.join(venv, "bin", "python")
        print(f"smoke: pip install . into a fresh Python {version} venv", flush=True)
        subprocess.run([venv_python, "-m", "pip", "install", "-q", REPOSITORY], check=True)
        result = subprocess.run([venv_python, os.path.abspath(__file__), "--inside"], cwd=folder)
    sys.exit(result.returncode)


def i3d(*args):
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "i3d"), *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def inside():
    import numpy as np

    folder = os.getcwd()
    results = []

    def check(name):
        def run(function):
            try:
                detail = function()
                results.append((name, True))
                print(f"  ok      {name}{': ' + detail if detail else ''}", flush=True)
            except Exception:
                results.append((name, False))
                print(f"  FAILED  {name}\n{traceback.format_exc()}", flush=True)
        return run

    import i3d_keras

    print(f"smoke: Python {sys.version.split()[0]}, i3d_keras from {os.path.dirname(i3d_keras.__file__)}", flush=True)
    assert os.path.dirname(i3d_keras.__file__).startswith(sys.prefix), "not the installed package"

    @check("import tensorflow_hub")
    def _():
        import setuptools
        import tensorflow_hub

        return f"tensorflow_hub {tensorflow_hub.__version__}, setuptools {setuptools.__version__}"

    import keras

    keras.utils.set_random_seed(0)
    model = i3d_keras.I3D(weights=None, input_shape=(None, 224, 224, 3))
    weights = os.path.join(folder, "random.weights.h5")
    model.save_weights(weights)
    module = os.path.join(folder, "module")
    clip = np.random.default_rng(0).uniform(-1, 1, (1, 10, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(model(clip, training=False))

    def close(actual, what):
        difference = float(np.abs(np.asarray(actual) - expected).max())
        assert difference <= TOLERANCE, f"{what} differs by {difference}"
        return f"max |difference| {difference:.1g}"

    @check("i3d export: exit 0, stderr only the validation line")
    def _():
        done = i3d("export", "--weights", weights, "--classes", 400, "--out", module)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("validated against the Keras model"), done.stderr
        return lines[0]

    @check('hub.load(path).signatures["default"]')
    def _():
        import tensorflow as tf
        import tensorflow_hub as hub

        return close(hub.load(module).signatures["default"](tf.constant(clip))["default"], "default signature")

    @check("keras.layers.TFSMLayer")
    def _():
        layer = keras.layers.TFSMLayer(module, call_endpoint="serve", call_training_endpoint="train")
        return close(layer(clip), "TFSMLayer")

    @check("hub.KerasLayer (tf-keras)")
    def _():
        import tensorflow_hub as hub
        import tf_keras

        hub_model = tf_keras.Sequential([hub.KerasLayer(module, trainable=True)])
        return close(hub_model(clip, training=False), "hub.KerasLayer")

    @check("i3d predict on a synthetic clip = the model on load_video's frames")
    def _():
        from i3d_keras.data import synthetic

        video = os.path.join(folder, "clip.avi")
        synthetic.write_video(video, synthetic.render_clip(2, frames=20, size=256, seed=1))
        done = i3d("predict", "--weights", weights, "--json", video)
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        top = json.loads(done.stdout)["top"][0]["index"]
        logits = np.asarray(model(i3d_keras.preprocess_input(i3d_keras.load_video(video)[None]), training=False))
        assert top == int(logits.argmax()), (top, int(logits.argmax()))
        return f"top class {top}"

    @check("i3d flow on 2 local Beam workers: fields of the known motion, failed.tsv names the bad file")
    def _():
        from i3d_keras.data import flow, synthetic

        video, junk = os.path.join(folder, "flow_clip.avi"), os.path.join(folder, "junk.avi")
        synthetic.write_video(video, synthetic.render_clip(0, frames=6, size=64, seed=2))
        with open(junk, "wb") as out:
            out.write(b"\0" * 64)
        out = os.path.join(folder, "flow")
        done = i3d("flow", "--method", "dis", "--workers", "2", "--short_side", "64", "--out", out, video, junk)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert flow.read_flow_folder(os.path.join(out, "flow_clip")).shape == (5, 64, 64, 2)
        with open(os.path.join(out, "failed.tsv")) as report:
            assert report.read().startswith(junk + "\t"), done.stderr
        return "5 fields"

    @check("i3d predict --help lists its flags")
    def _():
        done = i3d("predict", "--help")
        assert done.returncode == 0 and "--top" in done.stdout and not done.stderr, done.stderr

    failed = sum(not ok for _, ok in results)
    print(f"smoke: {len(results) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.13", help="the Python version to install into (default: 3.13)")
    parser.add_argument("--inside", action="store_true", help="run the checks in this interpreter")
    arguments = parser.parse_args()
    inside() if arguments.inside else outside(arguments.python)
