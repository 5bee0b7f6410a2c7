"""Dataset jobs on Apache Beam's local runner: TV-L1 flow throughput per worker and its scaling from 1 to N worker
processes, TFRecord building, and the balance of a list with one long video; then what Kinetics-400 flow costs on
a cluster at the measured rate.

Synthetic 340x256 videos at 25 fps (Kinetics' size after the 256-short-side resize), flow at the 256 short side.
Not a test: prints tables.

    python benchmarks/beam_jobs.py [--videos 6] [--seconds 1] [--workers 1 2]
"""

import argparse
import os
import tempfile
import time

KINETICS_CLIPS = 240_000  # Kinetics-400 train + validation, about
KINETICS_FIELDS = 249  # a 10 s clip at 25 fps: 250 frames, 249 consecutive pairs


def write_videos(folder, count, seconds, long_one=False):
    """``count`` textured videos moving at different speeds (one ``4 * seconds`` long with ``long_one``)."""
    import numpy as np

    from i3d_keras.data.synthetic import write_video

    os.makedirs(folder, exist_ok=True)
    import cv2

    rng = np.random.default_rng(0)  # a smooth texture, as natural frames are (TV-L1 needs its full iterations on noise)
    texture = cv2.GaussianBlur(rng.random((256 + 128, 340 + 128, 3)).astype(np.float32), (0, 0), 2.0)
    texture = ((texture - texture.min()) / np.ptp(texture) * 255).astype(np.uint8)
    paths = []
    for index in range(count):
        frames = int(25 * seconds * (4 if long_one and index == 0 else 1))
        clip = np.stack([np.roll(texture, (t * (1 + index % 3), 2 * t), axis=(0, 1))[:256, :340]
                         for t in range(frames)])
        paths.append(write_video(os.path.join(folder, f"clip{index:03d}.avi"), clip))
    return paths


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each video")
    parser.add_argument("--workers", type=int, nargs="+", default=None, help="local worker counts (default 1..cores)")
    parser.add_argument("--price", type=float, default=0.01, help="US$ per vCPU-hour for the cluster estimate "
                        "(about a spot/preemptible general-purpose vCPU; say what you pay)")
    args = parser.parse_args()
    from i3d_keras import quiet
    from i3d_keras.data import beam, datasets, tfrecord

    quiet.hide()  # the workers' TensorFlow start-up lines

    cores = beam.default_workers()
    counts = args.workers or list(range(1, cores + 1))
    flags = sorted({flag for line in open("/proc/cpuinfo") if line.startswith("flags")
                    for flag in line.split(":")[1].split()} & {"avx2", "avx512f", "avx512_bf16", "amx_tile"})
    print(f"{cores} cores ({' '.join(flags)}); {args.videos} videos of {args.seconds:g} s, 340x256, 25 fps\n")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_videos(os.path.join(folder, "videos"), args.videos, args.seconds)
        for workers in counts:
            job = beam.FlowJob(os.path.join(folder, f"flow{workers}"))
            report, seconds = timed(lambda: beam.compute_flow(paths, job, beam.pipeline_options(workers=workers)))
            assert not report.failures, report.failures
            rows.append(("flow (TV-L1)", workers, report.amount, "fields", seconds))
        dataset = datasets.VideoDataset([datasets.Sample(path, 0) for path in paths], datasets.LabelMap(["any"]))
        for workers in counts:
            report, seconds = timed(lambda: tfrecord.write_shards(
                dataset, os.path.join(folder, f"records{workers}"), shards=2,
                pipeline_options=beam.pipeline_options(workers=workers)))
            rows.append(("build-tfrecords", workers, report.done, "videos", seconds))
        unbalanced = write_videos(os.path.join(folder, "unbalanced"), args.videos, args.seconds, long_one=True)
        workers = counts[-1]
        job = beam.FlowJob(os.path.join(folder, "flow_unbalanced"))
        report, seconds = timed(lambda: beam.compute_flow(unbalanced, job, beam.pipeline_options(workers=workers)))
        rows.append(("flow, one 4x video", workers, report.amount, "fields", seconds))

    print("| job | workers | done | s | per s | per s per worker | speed-up vs 1 worker |")
    print("|---|---|---|---|---|---|---|")
    single = {}
    for name, workers, amount, unit, seconds in rows:
        rate = amount / seconds
        single.setdefault(name, rate if workers == 1 else None)
        speedup = f"{rate / single[name]:.2f}x" if single.get(name) else "-"
        print(f"| {name} | {workers} | {amount} {unit} | {seconds:.1f} | {rate:.2f} | {rate / workers:.2f} "
              f"| {speedup} |")
    flow_rows = [row for row in rows if row[0] == "flow (TV-L1)"]
    per_worker = flow_rows[-1][2] / flow_rows[-1][4] / flow_rows[-1][1]
    cpu_hours = KINETICS_CLIPS * KINETICS_FIELDS / per_worker / 3600
    print(f"\nKinetics-400 flow ({KINETICS_CLIPS} clips x {KINETICS_FIELDS} fields) at {per_worker:.2f} fields/s per "
          f"worker: {cpu_hours:,.0f} worker-hours = {cpu_hours / 24:,.0f} worker-days; on 1,000 vCPUs "
          f"{cpu_hours / 1000:.0f} h; at ${args.price}/vCPU-hour about ${cpu_hours * args.price:,.0f}")


if __name__ == "__main__":
    main()
