"""Peak memory and time of every documented way to run I3D on one clip, each in its own process, with PyTorch eager
in the same run.

Idioms (RGB, ``kinetics400`` weights, one clip ``1 x T x 224 x 224 x 3``): ``model(x)`` (the README's first
example), ``model.predict(x)``, ``model.predict_on_batch(x)``, ``i3d predict`` and ``i3d features`` on a video
file of T frames (decoding included), ``fvd.embeddings`` (uint8 clip, ``original`` protocol) and the SavedModel's
``default`` signature (``tf.saved_model.load``, what ``hub.load`` calls; exported once, before timing); and a
PyTorch I3D (``i3d_keras.torch_i3d``, same weights) in eager mode under ``torch.no_grad()``.

Peak: the process's VmHWM, imports and weights included. Time: the second call in the process
(the first traces / compiles); for the two commands, the whole command's wall time (start, tracing and decoding
included). The goal: at T = 250 every idiom within 1.25x of the leanest, and within PyTorch eager's peak plus
TensorFlow's own import (the ``import tensorflow`` row). Not a test.

    python benchmarks/memory.py [--frames 64 250] [--idioms ...]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
IDIOMS = ("import tensorflow", "model(x)", "model.predict", "predict_on_batch", "i3d predict", "i3d features",
          "fvd.embeddings", "SavedModel default", "torch eager")
COMMANDS = {"i3d predict": ["predict"], "i3d features": ["features", "--out"]}


def peak_mib():
    """This process's VmHWM (its own memory map's peak: ``ru_maxrss`` also counts the parent's pages at fork)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))


def clip(frames, dtype="float32"):
    import numpy as np

    rng = np.random.default_rng(0)
    if dtype == "uint8":
        return rng.integers(0, 256, (1, frames, 224, 224, 3), dtype=np.uint8)
    return rng.uniform(-1, 1, (1, frames, 224, 224, 3)).astype(np.float32)


def twice(call):
    """Calls ``call`` twice; returns the second call's seconds."""
    call()
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(idiom, frames, folder):
    """Runs ``idiom`` in this process; returns the seconds of its timed call."""
    if idiom == "import tensorflow":
        import tensorflow  # noqa: F401

        return 0.0
    if idiom == "torch eager":  # run with KERAS_BACKEND=torch: no TensorFlow in the process
        import torch

        from i3d_keras import torch_i3d

        model = torch_i3d.load(os.path.join(folder, "pytorch_i3d.pt"), "pytorch-i3d")
        x = torch.from_numpy(clip(frames).transpose(0, 4, 1, 2, 3).copy())
        with torch.no_grad():
            return twice(lambda: model(x))
    if idiom == "fvd.embeddings":
        from i3d_keras import fvd

        model, x = fvd.detector(), clip(frames, "uint8")
        return twice(lambda: fvd.embeddings(x, model=model))
    if idiom == "SavedModel default":
        import tensorflow as tf

        signature = tf.saved_model.load(os.path.join(folder, "saved_model")).signatures["default"]
        x = tf.constant(clip(frames))
        return twice(lambda: signature(x))
    from i3d_keras import I3D

    model, x = I3D(weights="kinetics400", input_shape=(None, 224, 224, 3)), clip(frames)
    call = {"model(x)": lambda: model(x), "model.predict": lambda: model.predict(x, verbose=0),
            "predict_on_batch": lambda: model.predict_on_batch(x)}[idiom]
    return twice(call)


def write_video(path, frames):
    """A 256x340 MJPG video of ``frames`` frames at 25 fps: a moving square on noise."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (340, 256))
    background = np.random.default_rng(0).integers(0, 255, (256, 340, 3), dtype=np.uint8)
    for t in range(frames):
        frame = background.copy()
        frame[100:160, (4 * t) % 280:(4 * t) % 280 + 60] = 255
        writer.write(frame)
    writer.release()


def run_command(idiom, frames, folder):
    """``(peak MiB, seconds)`` of ``i3d predict`` / ``i3d features`` on a video of ``frames`` frames (the
    calling process's only child, so ``RUSAGE_CHILDREN`` is its peak)."""
    video = os.path.join(folder, f"clip_{frames}.avi")
    if not os.path.exists(video):
        write_video(video, frames)
    arguments = COMMANDS[idiom] + ([os.path.join(folder, f"features_{frames}")] if idiom == "i3d features" else [])
    command = [sys.executable, "-m", "i3d_keras", *arguments, video]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip().splitlines()[-1]}")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def in_subprocess(idiom, frames, folder):
    command = [sys.executable, __file__, "--child", idiom, str(frames), folder]
    env = dict(os.environ, KERAS_BACKEND="torch") if idiom == "torch eager" else None
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        raise RuntimeError(f"{idiom} at {frames} frames: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def export(folder):
    """The SavedModel, and the weights as a pytorch-i3d state dict (for the PyTorch row)."""
    from i3d_keras import I3D, serving, torch_i3d

    model = I3D(weights="kinetics400", input_shape=None)
    serving.export(model, os.path.join(folder, "saved_model"), weights_name="kinetics400")
    torch_i3d.save(model, os.path.join(folder, "pytorch_i3d.pt"), "pytorch-i3d")


def describe_machine():
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":")[1].split())
                break
    wanted = [flag for flag in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if flag in flags]
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {' '.join(wanted)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 250])
    parser.add_argument("--idioms", nargs="+", default=list(IDIOMS), choices=IDIOMS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--export", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        export(args.export)
        return
    if args.child:
        idiom, frames, folder = args.child
        if idiom in COMMANDS:
            peak, seconds = run_command(idiom, int(frames), folder)
        else:
            seconds = measure(idiom, int(frames), folder)
            peak = peak_mib()
        print(json.dumps({"peak": peak, "seconds": seconds}))
        return
    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        # in a process of its own: this one stays small for its children
        subprocess.run([sys.executable, __file__, "--export", folder], check=True, capture_output=True)
        results = {}
        for idiom in args.idioms:
            for frames in args.frames:
                results[idiom, frames] = in_subprocess(idiom, frames, folder)
                print(f"{idiom} T={frames}: {results[idiom, frames]}", file=sys.stderr, flush=True)
    header = " | ".join(f"T = {frames}: peak GB | s" for frames in args.frames)
    print(f"| idiom | {header} |")
    print("|---|" + "---|---|" * len(args.frames))
    for idiom in args.idioms:
        cells = " | ".join(f"{results[idiom, frames]['peak'] / 1024:.2f} | {results[idiom, frames]['seconds']:.2f}"
                           for frames in args.frames)
        print(f"| {idiom} | {cells} |")
    longest = max(args.frames)
    peaks = {idiom: results[idiom, longest]["peak"] for idiom in args.idioms if idiom != "import tensorflow"}
    if peaks:
        leanest = min(peaks.values())
        print(f"T = {longest}: " + ", ".join(f"{idiom} {peak / leanest:.2f}x" for idiom, peak in peaks.items())
              + " the leanest")


if __name__ == "__main__":
    main()
