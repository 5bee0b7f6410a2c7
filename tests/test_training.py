"""Training: freezing and batch-norm policies, schedules, precision, data checks, MirroredStrategy equal to one device,
two MultiWorkerMirroredStrategy workers agreeing, ``i3d train`` killed and resumed, ``i3d evaluate``."""

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import clip_frames, i3d, i3d_killed_when, write_video
from i3d_keras.data import datasets
from i3d_keras.training import TrainConfig, model_setup, run_training

SMALL = dict(init="random", final_endpoint="Mixed_3c", num_frames=8, crop_size=48, short_side=64, batch_size=2)
SMALL_FLAGS = ("--init", "random", "--final_endpoint", "Mixed_3c", "--frames", 8, "--crop", 48, "--short_side", 64,
               "--batch_size", 2, "--learning_rate", 0.01, "--seed", 1)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two classes of three 12-frame videos that differ in colour."""
    root = tmp_path_factory.mktemp("train_videos")
    for label, name in enumerate(("blue", "red")):
        (root / name).mkdir()
        for index in range(3):
            write_video(root / name / f"{name}{index}.avi", clip_frames(12, 3 * label, seed=10 * label + index))
    return root


def test_trainable_from_and_frozen_batch_norm_statistics():
    import keras

    config = TrainConfig(run_dir="", trainable_from="Mixed_3b", dropout_rate=0.0, **SMALL).resolved()
    model = model_setup.compile_model(model_setup.build_model(config, 3), config, 10, 3)
    stem_bn, block_bn = model.get_layer("Conv3d_1a_7x7_bn"), model.get_layer("Mixed_3b_Branch_0_Conv3d_0a_1x1_bn")
    assert not stem_bn.trainable and block_bn.trainable and model.get_layer("Logits").trainable
    before = [np.array(layer.moving_mean) for layer in (stem_bn, block_bn)]
    stem_kernel = np.array(model.get_layer("Conv3d_1a_7x7_conv").kernel)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 48, 48, 3)).astype(np.float32)
    model.train_on_batch(x, np.array([0, 1]))
    assert np.array_equal(before[0], stem_bn.moving_mean)  # frozen: inference mode, statistics untouched
    assert not np.array_equal(before[1], block_bn.moving_mean)
    assert np.array_equal(stem_kernel, model.get_layer("Conv3d_1a_7x7_conv").kernel)

    head = model_setup.build_model(TrainConfig(run_dir="", trainable_from="head", **SMALL), 3)
    assert [w.path for w in head.trainable_weights] == ["Logits/kernel", "Logits/bias"]
    no_bn = model_setup.build_model(TrainConfig(run_dir="", freeze_bn=True, **SMALL), 3)
    assert not any(isinstance(l, keras.layers.BatchNormalization) and l.trainable for l in no_bn.layers)
    assert no_bn.get_layer("Conv3d_1a_7x7_conv").trainable
    with pytest.raises(ValueError, match="Mixed_5b is not part of this model"):
        model_setup.set_trainable(no_bn, "Mixed_5b")
    with pytest.raises(ValueError, match="trainable_from must be all, head or one of"):
        model_setup.set_trainable(no_bn, "Mixed_9z")


def test_full_i3d_gets_a_new_head_and_synchronised_batch_norm():
    config = TrainConfig(run_dir="", init="random", sync_bn=True)
    model = model_setup.build_model(config, 101)
    assert model.output_shape == (None, 101) and model.get_layer("Logits_Conv3d_0c_1x1_conv").filters == 101
    assert all(layer.synchronized for layer in model.layers if layer.__class__.__name__ == "BatchNormalization")
    small = model_setup.build_model(TrainConfig(run_dir="", init="random", crop_size=112), 7)  # I3D's head needs 224
    assert small.get_layer("Logits").get_weights()[0].shape == (1024, 7)
    assert small(np.zeros((1, 16, 112, 112, 3), np.float32)).shape == (1, 7)


def test_schedules_are_keras_builtins_in_steps():
    config = TrainConfig(run_dir="", epochs=9, learning_rate=0.1).resolved()
    assert config.decay_epochs == (6,)
    step = model_setup.learning_rate(config, steps_per_epoch=10)
    assert np.isclose(float(step(59)), 0.1) and np.isclose(float(step(61)), 0.01)
    cosine = model_setup.learning_rate(TrainConfig(run_dir="", epochs=10, learning_rate=0.1, schedule="cosine",
                                                   warmup_epochs=2).resolved(), steps_per_epoch=10)
    assert np.isclose(float(cosine(10)), 0.05) and np.isclose(float(cosine(20)), 0.1) and float(cosine(100)) < 1e-6
    assert TrainConfig(run_dir="", init="kinetics400").resolved().learning_rate == 0.01
    assert TrainConfig(run_dir="", init="imagenet").resolved().learning_rate == 0.1


def test_mixed_bfloat16_computes_in_bfloat16_with_float32_logits():
    config = TrainConfig(run_dir="", mixed_precision="mixed_bfloat16", jit_compile=False, **SMALL).resolved()
    model = model_setup.compile_model(model_setup.build_model(config, 3), config, 10, 3)
    assert model.get_layer("Conv3d_1a_7x7_conv").compute_dtype == "bfloat16"
    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 48, 48, 3)).astype(np.float32)
    assert model(x).dtype == "float32"
    logs = model.train_on_batch(x, np.array([0, 2]), return_dict=True)
    assert np.isfinite(logs["loss"])
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"  # the global policy is restored


def test_clear_errors_for_empty_data_and_mismatched_labels(videos, tmp_path):
    empty = datasets.VideoDataset([], datasets.LabelMap(["a", "b"]), name="empty")
    with pytest.raises(ValueError, match="empty: 0 videos, 2 classes: the training data set is empty"):
        run_training(TrainConfig(run_dir=str(tmp_path / "r"), **SMALL), empty)
    train = datasets.from_folder(videos)
    other = datasets.VideoDataset(train.samples, datasets.LabelMap(["red", "blue"]))
    with pytest.raises(ValueError, match="validation data's labels differ"):
        run_training(TrainConfig(run_dir=str(tmp_path / "r"), **SMALL), train, other)
    with pytest.raises(ValueError, match="6 videos, fewer than one batch of 8"):
        run_training(TrainConfig(run_dir=str(tmp_path / "r"), **{**SMALL, "batch_size": 8}), train)


def run_script(code, env=None, timeout=400):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, **(env or {})}, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_mirrored_strategy_over_two_cpus_equals_one_device_with_the_same_global_batch(tmp_path):
    """Two replicas of 2 clips must train like one device with 4: the gradients are all-reduced, the weights stay
    mirrored. Batch norm frozen and no dropout, so the batch split alone could change the result (synchronised
    batch norm's statistics differ from one device's by up to 2e-4 after a few steps on CPU; the multi-worker
    test covers it). Seeded, at a rate that does not amplify rounding: at lr 0.05 one random init in eight turned
    the 1e-8 rounding difference of the batch split into 6e-6 after four steps (1.6e-5 once in a full run)."""
    out = run_script("""
        import numpy as np, tensorflow as tf, keras
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from i3d_keras.training import TrainConfig, model_setup
        # XLA off for both: it cannot run replicas on logical CPUs, and its rounding differs from the kernels'
        config = TrainConfig(run_dir="", init="random", final_endpoint="Mixed_3b", dropout_rate=0.0, freeze_bn=True,
                             batch_size=4, learning_rate=0.01, jit_compile=False).resolved()
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (8, 8, 32, 32, 3)).astype(np.float32)
        y = np.array([0, 1, 2, 0, 1, 2, 0, 1], np.int32)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        start, finals = None, []
        for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
            with strategy.scope():
                model = model_setup.compile_model(model_setup.build_model(config, 3), config, 2, 3, strategy)
            if start is None:
                start = [np.array(w) for w in model.get_weights()]
            else:
                model.set_weights(start)
            model.fit(data, epochs=2, verbose=0, shuffle=False)  # four steps
            finals.append([np.array(w) for w in model.get_weights()])
        difference = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(a, b))
        print(strategy.num_replicas_in_sync, difference(*finals), difference(start, finals[0]))
    """)
    replicas, difference, moved = out.split()
    assert int(replicas) == 2 and float(moved) > 1e-4  # training changed the weights
    assert float(difference) < 1e-5, difference


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_multi_worker_processes_train_together_and_agree(videos, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "i3d_keras", "train", "--folder", str(videos), "--run_dir", str(run_dir),
               "--strategy", "multi_worker", "--epochs", "2", "--sync_bn", *map(str, SMALL_FLAGS)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster,
                                                                            "task": {"type": "worker", "index": i}})})
               for i in range(2)]
    outputs = [worker.communicate(timeout=500) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-4000:]
    import keras

    chief = keras.models.load_model(run_dir / "model.keras")
    other = keras.models.load_model(run_dir / "workers" / "1" / "model.keras")
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-5, err_msg=a.path)
    assert (run_dir / "checkpoints" / "last.weights.h5").exists() and (run_dir / "labels.txt").exists()


def history_epochs(run_dir):
    with open(run_dir / "history.csv", encoding="utf-8") as text:
        return [int(row["epoch"]) for row in csv.DictReader(text)]


def test_train_killed_resumes_without_redoing_epochs_then_evaluate(videos, tmp_path):
    run_dir = tmp_path / "run"
    args = ("train", "--folder", videos, "--run_dir", run_dir, "--epochs", 4, *SMALL_FLAGS)
    i3d_killed_when(lambda: (run_dir / "backup" / "epoch-00002").is_dir(), *args)
    done = history_epochs(run_dir)
    assert done[:2] == [0, 1] and len(done) < 4 and not (run_dir / "model.keras").exists()
    result = i3d(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stderr and "Epoch 1/4" not in result.stdout + result.stderr
    assert history_epochs(run_dir) == [0, 1, 2, 3]
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "config.json", "history.csv", "labels.txt", "logs",
                                           "model.keras"]
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["best.json", "best.weights.h5", "last.weights.h5"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["epochs"] == 4 and config["train_data"].endswith("6 videos, 2 classes")

    report_dir = tmp_path / "report"
    result = i3d("evaluate", "--model", run_dir / "model.keras", "--folder", videos, "--out", report_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "single clip" in result.stdout and "full video" in result.stdout
    report = json.loads((report_dir / "rgb_clip.json").read_text())
    assert report["videos"] == 6 and sum(map(sum, report["confusion"])) == 6
    assert (report_dir / "rgb_video_confusion.png").stat().st_size > 0

    again = i3d("train", "--folder", videos, "--run_dir", tmp_path / "from_checkpoint", "--epochs", 1,
                *SMALL_FLAGS[2:], "--init", run_dir / "checkpoints" / "last.weights.h5")
    assert again.returncode == 0, again.stderr[-3000:]


def test_xla_by_default_only_on_accelerators():
    """TensorFlow's own kernels train I3D 4-5x faster than XLA's on a CPU, so XLA is the default on GPUs and TPUs
    only; --xla / --noxla decide everywhere."""
    import tensorflow as tf

    accelerated = bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    assert model_setup.use_xla(TrainConfig(run_dir="").resolved()) is accelerated
    assert model_setup.use_xla(TrainConfig(run_dir="", jit_compile=True).resolved()) is True
    assert model_setup.use_xla(TrainConfig(run_dir="", jit_compile=False).resolved()) is False


def test_a_seeded_start_is_the_same_whether_the_weights_are_converted_now_or_cached(tmp_path, monkeypatch):
    """The first use converts the weights, which builds a model and draws random numbers: it comes before the
    seed, so a new head starts the same on a first run (empty cache) as on every later one."""
    import keras

    monkeypatch.setenv("I3D_KERAS_CACHE", str(tmp_path))
    config = TrainConfig(run_dir="", init="kinetics400", crop_size=112, seed=3).resolved()
    heads = []
    for _ in range(2):  # converts into the empty cache, then reads it
        model_setup.fetch_start_weights(config)
        keras.utils.set_random_seed(config.seed)
        heads.append(model_setup.build_model(config, 5).get_layer("Logits").get_weights()[0])
    assert os.path.isfile(tmp_path / "rgb_kinetics400.weights.h5")
    np.testing.assert_array_equal(*heads)
