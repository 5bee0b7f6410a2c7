"""Wall time of ``i3d fvd-stats`` over N videos at each worker count, and whether the statistics agree.

Writes ``--videos`` synthetic action clips (``data.synthetic``, ``--frames`` frames of ``--size`` pixels, as
``.npy``: decoding costs nothing, so this times the job and the detector) into a temporary folder, then runs
``i3d fvd-stats DATA --protocol P --out ...`` once per ``--workers`` value, each from nothing, and prints a table
(wall seconds, videos/s, max |difference| of mean and m2 against the first row). Not a test.

    python benchmarks/fvd_stats.py [--videos 1000] [--workers 1 2] [--protocol stylegan-v] [--frames 20]
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from i3d_keras import fvd
from i3d_keras.data import synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--protocol", default="stylegan-v", choices=list(fvd.PROTOCOLS))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, "data")
        os.makedirs(data)
        for index in range(args.videos):
            clip = synthetic.render_clip(index % 6, frames=args.frames, size=args.size, seed=index)
            np.save(os.path.join(data, f"{index:05d}.npy"), clip)
        print(f"{args.videos} videos of {args.frames}x{args.size}x{args.size}, protocol {args.protocol}, "
              f"{os.cpu_count()} cores ({platform.processor() or platform.machine()})")
        print("| workers | wall s | videos/s | max diff of mean vs first | max diff of m2 vs first |")
        print("|---|---|---|---|---|")
        first = None
        for workers in args.workers:
            out = os.path.join(folder, f"ref-{workers}.npz")
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "i3d_keras", "fvd-stats", data, "--protocol", args.protocol,
                            "--out", out, "--workers", str(workers)], check=True, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            stats = fvd.Statistics.load(out)
            first = first or stats
            print(f"| {workers} | {wall:.0f} | {args.videos / wall:.2f} | {np.abs(stats.mean - first.mean).max():.1g} "
                  f"| {np.abs(stats.m2 - first.m2).max():.1g} |", flush=True)


if __name__ == "__main__":
    main()
