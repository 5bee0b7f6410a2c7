"""Input pipeline throughput: 64x224x224 training clips from TFRecords and from raw videos, next to the bare
OpenCV decode rate of the same videos (the limit), with 1 and all cores, and the I3D training step they feed.

Writes synthetic 10 s, 25 fps, 480x360 mp4 videos (or uses ``--videos``), builds TFRecords from them, then
times each path. Not a test: prints a table.

    python benchmarks/input_pipeline.py [--videos 8] [--clips 48] [--skip_model]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def write_videos(folder, count, seconds=10, size=(480, 360), fps=25):
    """Class-per-folder synthetic videos: textured background, a textured square moving around."""
    import cv2

    rng = np.random.default_rng(0)
    width, height = size
    for index in range(count):
        os.makedirs(os.path.join(folder, f"class{index % 2}"), exist_ok=True)
        path = os.path.join(folder, f"class{index % 2}", f"video{index}.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3)
        square = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
        for t in range(int(seconds * fps)):
            frame = background.copy()
            x, y = int(200 + 150 * np.sin(t / 20)), int(140 + 100 * np.cos(t / 15))
            frame[y:y + 80, x:x + 80] = square
            writer.write(frame)
        writer.release()


def bare_decode(paths, threads):
    """Frames/s of cv2.VideoCapture.read over ``paths`` (no resize), OpenCV limited to ``threads``."""
    import cv2

    cv2.setNumThreads(threads)
    frames, start = 0, time.perf_counter()
    for path in paths:
        capture = cv2.VideoCapture(path)
        if threads == 1:
            capture.set(cv2.CAP_PROP_N_THREADS, 1)
        while capture.grab():
            capture.retrieve()
            frames += 1
        capture.release()
    return frames / (time.perf_counter() - start)


def pipeline_rate(dataset, clips, threads):
    """Clips/s delivered by ``dataset`` (batch 1, repeated) with a tf.data thread pool of ``threads``."""
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    iterator = iter(dataset.repeat().with_options(options))
    next(iterator)  # warm-up: open files, build functions
    start = time.perf_counter()
    for _ in range(clips):
        next(iterator)
    return clips / (time.perf_counter() - start)


def training_step_seconds(frames=64, batch=1):
    """Seconds of one I3D RGB training step (forward, backward, SGD) at batch x frames x 224 x 224."""
    import keras

    from i3d_keras import I3D

    model = I3D(weights=None, input_shape=(frames, 224, 224, 3), classes=101)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(-1, 1, (batch, frames, 224, 224, 3)).astype(np.float32)
    y = np.zeros(batch, np.int32)
    model.train_on_batch(x, y)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="number of synthetic videos")
    parser.add_argument("--source", nargs="+", help="use these video files instead of synthetic ones")
    parser.add_argument("--clips", type=int, default=48, help="clips timed per pipeline measurement")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--skip_model", action="store_true", help="do not time the I3D training step")
    args = parser.parse_args()

    from i3d_keras.data import beam, datasets, decoding, pipeline, tfrecord

    cores = beam.default_workers()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if args.source:
            dataset = datasets.VideoDataset([datasets.Sample(path, 0) for path in args.source], datasets.LabelMap(["any"]))
            described = f"{len(args.source)} given videos"
        else:
            videos = os.path.join(folder, "videos")
            write_videos(videos, args.videos)
            dataset = datasets.from_folder(videos)
            described = f"{args.videos} synthetic videos, 10 s, 25 fps, 480x360 mp4v"
        paths = [sample.path for sample in dataset.samples]
        print(f"{described}; {cores} cores; clips of {args.frames}x224x224")

        start = time.perf_counter()
        report = tfrecord.write_shards(dataset, os.path.join(folder, "records"), shards=max(2, cores),
                                       pipeline_options=beam.pipeline_options(workers=cores))
        build = time.perf_counter() - start
        frames_written = sum(decoding.frame_count(path) or 0 for path in paths)  # at 25 fps, from the metadata
        size = sum(os.path.getsize(p) for p in tfrecord.list_shards(os.path.join(folder, "records")))
        print(f"build-tfrecords: {report.done} videos in {build:.1f} s on {cores} processes = "
              f"{frames_written / build:.0f} frames/s; {size / frames_written / 1024:.1f} KiB per stored frame")

        options = dict(training=True, batch_size=1, num_frames=args.frames)
        for threads in sorted({1, cores}):
            bare = bare_decode(paths, threads)
            rows.append(("bare OpenCV decode (limit)", threads, None, bare))
            raw = pipeline_rate(pipeline.build_dataset(dataset, dtype="uint8", **options), args.clips, threads)
            rows.append(("raw videos -> uint8 clips", threads, raw, raw * args.frames))
            for dtype in ("float32", "uint8"):
                records = pipeline_rate(pipeline.build_dataset(os.path.join(folder, "records"), dtype=dtype, **options),
                                        args.clips, threads)
                rows.append((f"TFRecords -> {dtype} clips", threads, records, records * args.frames))

    print(f"\n{'path':<30} {'cores':>5} {'clips/s':>8} {'frames/s':>9} {'frames/s/core':>14}")
    for name, threads, clips, frames in rows:
        clip_text = f"{clips:8.2f}" if clips else f"{'-':>8}"
        print(f"{name:<30} {threads:>5} {clip_text} {frames:9.0f} {frames / threads:14.0f}")
    per_core = max(clips / threads for name, threads, clips, _ in rows if name.startswith("TFRecords"))
    print(f"\ncores to feed 100 clips/s of {args.frames} frames from TFRecords: {100 / per_core:.0f} "
          f"({per_core:.2f} clips/s per core)")
    if not args.skip_model:
        step = training_step_seconds(args.frames)
        best = max(clips for name, _, clips, _ in rows if name.startswith("TFRecords") and clips)
        print(f"I3D RGB training step, 1x{args.frames}x224x224 on this CPU: {step:.2f} s; the TFRecord pipeline needs "
              f"{1 / best:.3f} s per clip, i.e. it is ready {step * best:.0f}x faster than the step consumes")


if __name__ == "__main__":
    main()
