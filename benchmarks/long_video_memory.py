"""Peak memory and time of ``i3d predict`` against video length: memory must stay flat, time grow linearly.

Writes synthetic videos of increasing length, runs ``python -m i3d_keras predict`` on each in a fresh
process and prints a table of wall time and peak RSS (``ru_maxrss`` of the child). Not a test.

    python benchmarks/long_video_memory.py [--seconds 10 40 160] [--window 64 --stride 64]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def write_video(path, seconds, fps=25, size=(320, 240)):
    import cv2

    width, height = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    for t in range(int(seconds * fps)):
        frame = background.copy()
        x = (4 * t) % (width - 60)
        frame[90:150, x:x + 60] = 255
        writer.write(frame)
    writer.release()


def run_predict(path, window, stride):
    start = time.time()
    child = subprocess.Popen(
        [sys.executable, "-m", "i3d_keras", "predict", "--json", "--window", str(window), "--stride", str(stride), path],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.stdout.close()
    if status != 0:
        raise SystemExit(f"predict failed on {path} (status {status})")
    return time.time() - start, usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 40, 160])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--stride", type=int, default=64)
    args = parser.parse_args()
    print(f"i3d predict, window {args.window} frames, stride {args.stride}, {os.cpu_count()} CPUs")
    print(f"{'video':>10} {'frames':>7} {'wall s':>8} {'s/frame':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.seconds:
            path = os.path.join(folder, f"{seconds:g}s.avi")
            write_video(path, seconds)
            wall, rss = run_predict(path, args.window, args.stride)
            frames = int(seconds * 25)
            print(f"{seconds:>9g}s {frames:>7} {wall:>8.1f} {wall / frames:>8.3f} {rss:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
