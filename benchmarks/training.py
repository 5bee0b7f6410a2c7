"""Training throughput of RGB I3D on this machine: clips/s at 16x224x224 and 64x224x224, fp32 and mixed precision,
and the step time split into compute (a batch already in memory) and input wait (the TFRecord pipeline's extra).

The model is the one ``i3d train`` builds (new 101-class head, XLA, SGD), fed uint8 clips exactly as ``i3d train``
feeds them. Not a test: prints a table.

    python benchmarks/training.py [--frames 16 64] [--precision float32 mixed_bfloat16] [--xla on off] [--steps 3]
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def step_seconds(model, batches, steps):
    """Median wall time of ``model.train_on_batch`` over ``steps`` batches from the iterator ``batches``."""
    times = []
    for _ in range(steps):
        clips, labels = next(batches)
        start = time.perf_counter()
        model.train_on_batch(clips, labels)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fit_seconds(model, dataset, steps):
    """Wall time per step of ``model.fit`` reading ``dataset`` (input and compute together)."""
    model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)  # compile, fill the pipeline
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--xla", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    from i3d_keras.data import beam, datasets, pipeline, tfrecord
    from i3d_keras.training import TrainConfig, model_setup
    from i3d_keras.training.run import _with_input_scaling
    from input_pipeline import write_videos

    print(f"{beam.default_workers()} cores; batch {args.batch}; SGD; RGB I3D with a 101-class head\n")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_videos(os.path.join(folder, "videos"), 4)
        tfrecord.write_shards(datasets.from_folder(os.path.join(folder, "videos")), os.path.join(folder, "records"),
                              shards=2, pipeline_options=beam.pipeline_options(workers=2))
        for frames in args.frames:
            data = pipeline.build_dataset(os.path.join(folder, "records"), training=True, batch_size=args.batch,
                                          num_frames=frames, dtype="uint8").repeat()
            for precision, xla in [(p, x) for p in args.precision for x in args.xla]:
                config = TrainConfig(run_dir="", init="random", num_frames=frames, jit_compile=xla == "on",
                                     mixed_precision=None if precision == "float32" else precision).resolved()
                network = model_setup.build_model(config, 101)
                model = model_setup.compile_model(_with_input_scaling(network, tf.distribute.get_strategy()),
                                                  config, 100, 101)
                in_memory = iter(data.take(1).cache().repeat().as_numpy_iterator())
                start = time.perf_counter()
                model.train_on_batch(*next(in_memory))
                compile_seconds = time.perf_counter() - start
                compute = step_seconds(model, in_memory, args.steps)
                with_input = fit_seconds(model, data, args.steps)
                rows.append((frames, precision, xla, compile_seconds, compute, with_input))
                print_row(*rows[-1], batch=args.batch)

    print(f"\n{'clip':>12} {'precision':>15} {'XLA':>4} {'first step s':>13} {'compute s/step':>15} {'fit s/step':>11} "
          f"{'input wait':>11} {'clips/s':>8}")
    for row in rows:
        print_row(*row, batch=args.batch)


def print_row(frames, precision, xla, compile_seconds, compute, with_input, batch):
    wait = max(with_input - compute, 0.0)
    print(f"{f'{frames}x224x224':>12} {precision:>15} {xla:>4} {compile_seconds:13.1f} {compute:15.2f} {with_input:11.2f} "
          f"{wait / with_input:11.1%} {batch / with_input:8.3f}", flush=True)


if __name__ == "__main__":
    main()
