"""FVD on fixed synthetic cases (numbers anyone can re-check) and the throughput of the statistics pass.

Real set: ``--videos`` synthetic action clips (``data.synthetic``, classes growing / shrinking / rotating,
seeds 0..N-1). Generated sets: the same classes with other seeds (a good generator), the other three classes
(other motions), and the real clips with Gaussian noise (sigma 25) and with every frame frozen (no motion).
Prints FVD under each protocol (and under ``videogpt`` with DeepMind's batch-norm epsilon, its definition before
the epsilon was a protocol field) and videos/s of ``fvd.statistics`` (the detector dominates). Not a test.

    python benchmarks/fvd.py [--videos 64] [--frames 16] [--size 64] [--batch_size 16]
"""

import argparse
import dataclasses
import time

import numpy as np

from i3d_keras import fvd
from i3d_keras.data import synthetic


def clips(labels, count, frames, size, seed_offset):
    return np.stack([synthetic.render_clip(labels[i % len(labels)], frames=frames, size=size, seed=seed_offset + i)
                     for i in range(count)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()

    real = clips((0, 1, 2), args.videos, args.frames, args.size, 0)
    noisy = np.clip(real + np.random.default_rng(0).normal(0, 25, real.shape), 0, 255).astype(np.uint8)
    cases = {
        "same motions, other seeds": clips((0, 1, 2), args.videos, args.frames, args.size, 10_000),
        "other motions": clips((3, 4, 5), args.videos, args.frames, args.size, 20_000),
        "real + noise (sigma 25)": noisy,
        "real, frozen frames": synthetic.single_frame_clips(real),
    }
    protocols = dict(fvd.PROTOCOLS)
    protocols["videogpt, eps 1e-3"] = dataclasses.replace(fvd.PROTOCOLS["videogpt"], name="videogpt, eps 1e-3",
                                                          epsilon=fvd.DEEPMIND)
    by_epsilon = {protocol.epsilon: protocol for protocol in protocols.values()}  # one detector per epsilon
    models = {epsilon: fvd.detector(protocol) for epsilon, protocol in by_epsilon.items()}
    rates = {}
    print(f"{args.videos} videos per set, {args.frames} frames of {args.size}x{args.size}, batches of {args.batch_size}")
    print("| generated set | " + " | ".join(protocols) + " |")
    print("|---|" + "---|" * len(protocols))
    real_stats = {}
    for name, protocol in protocols.items():
        start = time.perf_counter()
        real_stats[name] = fvd.statistics(real, protocol, model=models[protocol.epsilon], batch_size=args.batch_size)
        rates[name] = args.videos / (time.perf_counter() - start)
    for case, videos in cases.items():
        row = [fvd.fvd(real_stats[name], videos, protocol, model=models[protocol.epsilon], batch_size=args.batch_size)
               for name, protocol in protocols.items()]
        print(f"| {case} | " + " | ".join(f"{value:.2f}" for value in row) + " |", flush=True)
    print("statistics pass, videos/s (first pass includes tracing): "
          + ", ".join(f"{name} {rate:.2f}" for name, rate in rates.items()))


if __name__ == "__main__":
    main()
