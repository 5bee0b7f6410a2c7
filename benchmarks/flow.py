"""Optical flow: our TV-L1 in TensorFlow (``tvl1``) against OpenCV's ``DualTVL1OpticalFlow`` (``tvl1-opencv``),
side by side on the same frames, plus the fast methods and the cost of storing fields.

1. Speed on real frames (the shared mmaction2 clip at 25 fps, short side 256, grayscale): pairs/s of ours on all
   cores, and of OpenCV with one process per core (the machine's throughput as the Beam job runs it), at 224x224
   (centre crop) and 256x340; the inner iterations each ran per pair (OpenCV's: the same stopping rule, counted
   by ours on the same pairs: OpenCV does not report them); the cold start (compilation) apart.
2. Fidelity on ``--pairs`` consecutive pairs of each shared clip: end-point error (EPE) of ours against OpenCV,
   and OpenCV's own noise floor (OpenCV on the same frames with +-1 grey level of noise, against OpenCV).
3. What the flow stream sees: a flow I3D (random initialisation, seeded: the flow weights our tests have) on
   both flows of the first clip, relative difference of Mixed_5c features and logits.
4. Known synthetic motion (EPE against the truth) for every method, and the storage of uint8 fields.
5. With ``--memory``: peak RSS of ``flow.iter_flow`` (the default method, 32 pairs at a time) over 40 and 160
   pairs of a moving 128x170 texture, each in a fresh process: memory must stay flat as the video gets longer.

``--cpu avx2`` limits both to AVX2 + FMA code paths (XLA's ``--xla_cpu_max_isa=AVX2``, OpenCV's dispatch with
its AVX-512 paths disabled), which on an AVX-512 machine gives an AVX2 machine's kernels.

Not a test: prints tables. Name the CPU flags in what you report (printed first).

    python benchmarks/flow.py [--pairs 16] [--speed_pairs 16] [--skip_fidelity] [--memory] [--cpu native|avx2]
"""

import argparse
import multiprocessing
import os
import sys
import time

import numpy as np

CLIPS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "videos")
# --cpu avx2: XLA's and OpenCV's kernels limited to AVX2 + FMA (set before either starts; OpenCV's workers inherit it)
AVX2_ONLY = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
             "OPENCV_CPU_DISABLE": "AVX512F,AVX512_COMMON,AVX512_SKX,AVX512_CNL,AVX512_CLX,AVX512_ICL"}


def cpu_flags():
    flags = set()
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("flags"):
                flags |= set(line.split(":")[1].split())
    names = [name for name in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if name in flags]
    return f"{os.cpu_count()} cores, " + " ".join(names)


def gray_pairs(name, count, crop=None):
    from i3d_keras.data import decoding, flow

    frames = decoding.iter_frames(os.path.join(CLIPS, name), fps=25, short_side=256, crop=None)
    grays = np.stack([flow.to_gray(frame) for frame, _ in zip(frames, range(count + 1))])
    if crop:
        top, left = (grays.shape[1] - crop[0]) // 2, (grays.shape[2] - crop[1]) // 2
        grays = grays[:, top:top + crop[0], left:left + crop[1]]
    return grays[:-1], grays[1:]


def _opencv_worker(args):
    import cv2

    cv2.setNumThreads(1)
    previous, following = args
    calc = cv2.optflow.DualTVL1OpticalFlow_create().calc
    return np.stack([calc(a, b, None) for a, b in zip(previous, following)])


def opencv_machine(previous, following, processes):
    """OpenCV's flow of the pairs with one process per core; returns (flow, seconds)."""
    chunks = [(previous[i::processes], following[i::processes]) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_opencv_worker, [(p[:1], f[:1]) for p, f in chunks])  # start-up apart
        start = time.perf_counter()
        results = pool.map(_opencv_worker, chunks)
        seconds = time.perf_counter() - start
    flow = np.empty(previous.shape + (2,), np.float32)
    for i, result in enumerate(results):
        flow[i::processes] = result
    return flow, seconds


def epe(a, b):
    return np.hypot(*np.moveaxis(np.asarray(a) - np.asarray(b), -1, 0)).ravel()


def speed(pairs):
    from i3d_keras.data import tvl1

    cores = os.cpu_count()
    print(f"\n1. speed, {pairs} real pairs (mmaction2 clip); OpenCV: {cores} processes x 1 thread; "
          f"ours: {tvl1.CPU_STREAMS} streams on all cores{' + GPU' if tvl1.on_gpu() else ''}")
    print(f"{'size':>9} {'ours pairs/s':>13} {'OpenCV pairs/s':>15} {'speed-up':>9} {'iterations/pair':>16} "
          f"{'cold start s':>13} {'EPE mean px':>12}")
    for size, crop in (("224x224", (224, 224)), ("256x340", None)):
        previous, following = gray_pairs("mmaction2_demo.mp4", pairs, crop)
        start = time.perf_counter()
        tvl1.tvl1_batch(previous[:1], following[:1])
        cold = time.perf_counter() - start
        start = time.perf_counter()
        ours, iterations = tvl1.tvl1_batch(previous, following, return_iterations=True)
        ours_rate = pairs / (time.perf_counter() - start)
        theirs, seconds = opencv_machine(previous, following, cores)
        theirs_rate = pairs / seconds
        print(f"{size:>9} {ours_rate:13.2f} {theirs_rate:15.2f} {ours_rate / theirs_rate:8.1f}x "
              f"{iterations.mean():16.0f} {cold:13.1f} {epe(ours, theirs).mean():12.4f}")
    return


def fidelity(pairs):
    from i3d_keras.data import tvl1

    print(f"\n2. fidelity, {pairs} consecutive pairs per clip, every pixel (EPE in px; bar: ours <= 1.5 x noise floor)")
    print(f"{'clip':<32} {'size':>8} {'mean |flow|':>11} {'ours mean':>10} {'noise mean':>11} {'ratio':>6} "
          f"{'ours p99':>9} {'noise p99':>10} {'ratio':>6}")
    fields = None
    for name in ("mmaction2_demo.mp4", "decord_flipping_a_pancake.mkv"):
        previous, following = gray_pairs(name, pairs)
        reference, _ = opencv_machine(previous, following, os.cpu_count())
        rng = np.random.default_rng(0)
        noisy = [np.clip(f.astype(int) + rng.integers(-1, 2, f.shape), 0, 255).astype(np.uint8)
                 for f in (previous, following)]
        again, _ = opencv_machine(*noisy, os.cpu_count())
        ours = tvl1.tvl1_batch(previous, following)
        mine, noise = epe(ours, reference), epe(again, reference)
        size = f"{previous.shape[1]}x{previous.shape[2]}"
        print(f"{name:<32} {size:>8} {np.hypot(*np.moveaxis(reference, -1, 0)).mean():11.2f} {mine.mean():10.4f} "
              f"{noise.mean():11.4f} {mine.mean() / noise.mean():6.2f} {np.percentile(mine, 99):9.3f} "
              f"{np.percentile(noise, 99):10.3f} {np.percentile(mine, 99) / np.percentile(noise, 99):6.2f}")
        if fields is None:
            fields = (ours, reference)
    return fields


def flow_stream(ours, reference):
    import keras

    from i3d_keras import I3D, endpoint_model
    from i3d_keras.data import flow

    keras.utils.set_random_seed(0)
    model = I3D(weights=None, modality="flow", input_shape=(None, 224, 224, 2))
    features = endpoint_model(model, ("Mixed_5c",))

    def clip(fields):
        top, left = (fields.shape[1] - 224) // 2, (fields.shape[2] - 224) // 2
        codes = flow.quantize(fields[:, top:top + 224, left:left + 224])
        return (codes.astype(np.float32) / 127.5 - 1)[None]

    relative = lambda x, y: float(np.abs(x - y).max() / np.abs(y).max())  # noqa: E731
    a, b = clip(ours), clip(reference)
    mixed_5c = relative(features.predict_on_batch(a)["Mixed_5c"], features.predict_on_batch(b)["Mixed_5c"])
    print(f"\n3. the flow stream on the first clip's {len(ours)} fields (centre 224, stored as uint8), our flow vs "
          "OpenCV's, flow I3D with random initialisation (seed 0)")
    print(f"   Mixed_5c max relative difference {mixed_5c:.2e}; "
          f"logits {relative(model.predict_on_batch(a), model.predict_on_batch(b)):.2e}; stored uint8 codes differ at "
          f"{np.mean(flow.quantize(ours) != flow.quantize(reference)) * 100:.2f} % of values")


def synthetic_and_storage():
    import cv2

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from test_tvl1 import moved_pair

    from i3d_keras.data import flow

    print("\n4. known motion at 224x224 (EPE vs truth, px, away from a 16 px border), one pair each")
    print(f"{'method':<12} {'translation':>12} {'rotation+zoom':>14}")
    pairs = {motion: moved_pair((224, 224), motion) for motion in ("translation", "rotation")}
    for method in flow.METHODS:
        calc = flow.estimator(method)
        errors = [epe(calc(first[None], second[None])[0][16:-16, 16:-16], true[16:-16, 16:-16]).mean()
                  for first, second, true in pairs.values()]
        print(f"{method:<12} {errors[0]:12.3f} {errors[1]:14.3f}")

    first, second, _ = pairs["rotation"]
    codes = flow.quantize(flow.estimator("tvl1")(first[None], second[None])[0])
    exact = flow.dequantize(codes)
    print("\nstorage of one 224x224 TV-L1 field (x and y as 8-bit grayscale images); quantisation step 0.078 px")
    print(f"{'format':<12} {'bytes/field':>12} {'max error px':>13} {'mean error px':>14}")
    for name, extension, params in (("PNG", ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]),
                                    ("JPEG q95", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]),
                                    ("JPEG q75", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 75])):
        stored, size = [], 0
        for channel in range(2):
            data = cv2.imencode(extension, codes[..., channel], params)[1]
            size += len(data)
            stored.append(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
        error = np.abs(flow.dequantize(np.stack(stored, axis=-1)) - exact)
        print(f"{name:<12} {size:12d} {error.max():13.3f} {error.mean():14.4f}")


MEMORY_CHILD = """
import resource, sys, time
import numpy as np
from i3d_keras.data import flow
count = int(sys.argv[1])
base = (np.random.default_rng(0).random((160, 220, 3)) * 255).astype(np.uint8)
frames = (np.roll(base, t, axis=1)[:128, :170].copy() for t in range(count + 1))
start = time.perf_counter()
fields = sum(1 for _ in flow.iter_flow(frames))
print(fields, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def memory():
    import subprocess

    print("\n5. peak RSS of flow.iter_flow (tvl1) against video length, fresh process each")
    print(f"{'pairs':>6} {'seconds':>8} {'peak RSS MiB':>13}")
    for count in (40, 160):
        result = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(count)], capture_output=True, text=True,
                                check=True)
        fields, seconds, peak = result.stdout.split()
        print(f"{fields:>6} {float(seconds):8.1f} {peak:>13}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16, help="consecutive pairs per clip for fidelity")
    parser.add_argument("--speed_pairs", type=int, default=16, help="pairs timed per size")
    parser.add_argument("--skip_fidelity", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also the long-video memory table")
    parser.add_argument("--cpu", choices=["native", "avx2"], default="native",
                        help="avx2: limit XLA and OpenCV to AVX2 + FMA (an AVX2 machine's kernels)")
    args = parser.parse_args()
    if args.cpu == "avx2":
        os.environ.update(AVX2_ONLY)
    import cv2

    limited = ", kernels limited to AVX2 + FMA (" + " ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + ")"
    print(f"CPU: {cpu_flags()}{limited if args.cpu == 'avx2' else ''}; OpenCV {cv2.__version__}")
    speed(args.speed_pairs)
    if not args.skip_fidelity:
        flow_stream(*fidelity(args.pairs))
    synthetic_and_storage()
    if args.memory:
        memory()


if __name__ == "__main__":
    main()
