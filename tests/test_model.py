"""The Keras I3D: architecture, names, constructor arguments and head replacement."""

import os
import platform
import subprocess
import sys

import keras
import numpy as np
import pytest

from i3d_keras import I3D, VALID_ENDPOINTS, convert, endpoint_model
from i3d_keras.model import split_model, unit_scopes

# DeepMind's endpoint shapes for a 16-frame 224x224 clip (Inception-V1 widths; time halves at 1a, 4a, 5a).
EXPECTED_SHAPES_16x224 = {
    "Conv3d_1a_7x7": (8, 112, 112, 64),
    "MaxPool3d_2a_3x3": (8, 56, 56, 64),
    "Conv3d_2c_3x3": (8, 56, 56, 192),
    "MaxPool3d_3a_3x3": (8, 28, 28, 192),
    "Mixed_3b": (8, 28, 28, 256),
    "Mixed_3c": (8, 28, 28, 480),
    "MaxPool3d_4a_3x3": (4, 14, 14, 480),
    "Mixed_4b": (4, 14, 14, 512),
    "Mixed_4f": (4, 14, 14, 832),
    "MaxPool3d_5a_2x2": (2, 7, 7, 832),
    "Mixed_5b": (2, 7, 7, 832),
    "Mixed_5c": (2, 7, 7, 1024),
}


@pytest.fixture(scope="module")
def random_rgb():
    return I3D(weights=None)


def test_endpoint_shapes():
    model = I3D(weights=None, include_top=False, input_shape=(16, 224, 224, 3))
    outputs = endpoint_model(model, tuple(EXPECTED_SHAPES_16x224)).output
    for endpoint, shape in EXPECTED_SHAPES_16x224.items():
        assert tuple(outputs[endpoint].shape[1:]) == shape, endpoint


def test_names_follow_deepmind_scopes(random_rgb):
    scopes = unit_scopes()
    assert len(scopes) == 1 + 2 + 9 * 6  # stem convs + 6 units in each of the nine Mixed blocks
    assert "Mixed_5b/Branch_2/Conv3d_0a_3x3" in scopes and "Mixed_5c/Branch_2/Conv3d_0b_3x3" in scopes
    names = {layer.name for layer in random_rgb.layers}
    assert {"Mixed_4b_Branch_1_Conv3d_0b_3x3_conv", "Mixed_4b_Branch_1_Conv3d_0b_3x3_bn", "Logits_Conv3d_0c_1x1_conv"} <= names
    bn = random_rgb.get_layer("Conv3d_1a_7x7_bn")
    assert (bn.epsilon, bn.momentum, bn.scale, bn.center) == (1e-3, 0.999, False, True)
    conv = random_rgb.get_layer("Conv3d_1a_7x7_conv")
    assert (conv.use_bias, conv.padding, conv.strides) == (False, "same", (2, 2, 2))


def test_any_length_and_size_without_top():
    model = I3D(weights=None, include_top=False, pooling="avg")
    assert model.input_shape == (None, None, None, None, 3)
    for shape in [(1, 8, 96, 128, 3), (2, 20, 64, 64, 3)]:
        assert np.asarray(model(np.zeros(shape, np.float32))).shape == (shape[0], 1024)
    features = I3D(weights=None, include_top=False, pooling=None)(np.zeros((1, 16, 64, 64, 3), np.float32))
    assert features.shape == (1, 2, 2, 2, 1024)
    maxed = I3D(weights=None, include_top=False, pooling="max", final_endpoint="Mixed_4f")
    assert maxed.output_shape == (None, 832)


def test_top_accepts_any_length_from_nine_frames(random_rgb):
    for frames in (9, 10, 33):
        logits = random_rgb(np.random.default_rng(frames).uniform(-1, 1, (1, frames, 224, 224, 3)).astype(np.float32))
        assert logits.shape == (1, 400) and np.all(np.isfinite(logits))
    with pytest.raises(ValueError, match="at least 9 frames"):
        I3D(weights=None, input_shape=(8, 224, 224, 3))


def test_a_clip_too_short_for_the_top_fails_at_call_time_instead_of_nan(random_rgb):
    """Fewer than 9 frames leave one time step at Mixed_5c, which the 2x7x7 VALID pool makes empty: NaN before."""
    import tensorflow as tf

    from i3d_keras import inference

    short = np.zeros((1, 8, 224, 224, 3), np.float32)
    with pytest.raises(ValueError, match="needs clips of at least 9 frames.*pools 2x7x7 positions and got 1x7x7"):
        random_rgb(short)  # eager, and every call whose clip length is known when traced
    with pytest.raises(ValueError, match="at least 9 frames"):
        random_rgb.predict(short, verbose=0)
    graph = tf.function(lambda clip: random_rgb(clip, training=False),
                        input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32)])  # length unknown
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 9 frames"):
        graph(tf.constant(short))
    assert np.all(np.isfinite(graph(tf.constant(np.zeros((1, 9, 224, 224, 3), np.float32)))))
    assert np.all(np.isfinite(inference.forward(random_rgb)(tf.constant(np.zeros((1, 9, 224, 224, 3), np.float32)))))


def test_flow_modality_and_softmax():
    flow = I3D(weights=None, modality="flow", classifier_activation="softmax", classes=10)
    assert flow.input_shape == (None, None, 224, 224, 2)
    probs = np.asarray(flow(np.zeros((2, 9, 224, 224, 2), np.float32)))
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pooling": "mean"}, "pooling"),
        ({"modality": "depth"}, "modality"),
        ({"input_shape": (16, 224, 224, 2)}, "channels"),
        ({"weights": "imagenet21k"}, "Unknown weights"),
        ({"weights": "kinetics400", "modality": "flow"}, "rgb stream"),
        ({"include_top": False, "final_endpoint": "Mixed_9z"}, "Unknown endpoint"),
        ({"final_endpoint": "Mixed_4f"}, "include_top=False"),
        ({"input_shape": (16, 112, 112, 3)}, "at least 193 pixels"),
    ],
)
def test_arguments_are_validated_before_building(kwargs, message):
    kwargs.setdefault("weights", None)
    with pytest.raises(ValueError, match=message):
        I3D(**kwargs)


def test_new_head_keeps_the_pretrained_trunk(kinetics_i3d):
    model = I3D(weights="kinetics400", classes=101)
    assert model.output_shape == (None, 101)
    pretrained, fine_tune = convert.read_tree(kinetics_i3d), convert.read_tree(model)
    trunk = [key for key in pretrained if not key.startswith("Logits/")]
    assert len(trunk) == len(fine_tune) - 2
    for key in trunk:
        np.testing.assert_array_equal(fine_tune[key], pretrained[key], err_msg=key)
    assert fine_tune["Logits/Conv3d_0c_1x1/kernel"].shape == (1, 1, 1, 1024, 101)


def test_features_model_shares_the_kinetics_trunk(kinetics_i3d):
    features = I3D(weights="kinetics400", include_top=False, final_endpoint="Mixed_4c")
    tree = convert.read_tree(features)
    reference = convert.read_tree(kinetics_i3d)
    assert tree and all(np.array_equal(value, reference[key]) for key, value in tree.items())
    assert not any(key.startswith(("Mixed_4d", "Mixed_5", "Logits")) for key in tree)


def test_valid_endpoints_are_deepmind_s():
    assert VALID_ENDPOINTS[0] == "Conv3d_1a_7x7" and VALID_ENDPOINTS[-1] == "Mixed_5c" and len(VALID_ENDPOINTS) == 16


def test_split_model_composes_to_the_model_and_shares_its_layers(random_rgb):
    bottom, top = split_model(random_rgb, "Mixed_4b")
    assert bottom.output_shape == (None, None, 14, 14, 480)  # MaxPool3d_4a's output
    clip = np.random.default_rng(4).uniform(-1, 1, (1, 9, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(top(bottom(clip))), np.asarray(random_rgb(clip)), atol=1e-5)
    below = {layer.name for layer in bottom.layers[1:]}
    above = {layer.name for layer in top.layers[1:]}
    assert not below & above and len(below) + len(above) == len(random_rgb.layers) - 1
    assert all(name.startswith(("Mixed_4", "Mixed_5", "MaxPool3d_5a", "Logits")) for name in above)
    assert top.get_layer("Mixed_5c_Branch_0_Conv3d_0a_1x1_conv") is random_rgb.get_layer("Mixed_5c_Branch_0_Conv3d_0a_1x1_conv")


def test_split_model_rejects_what_it_cannot_split(random_rgb):
    with pytest.raises(ValueError, match="Cannot split at 'Conv3d_1a_7x7'"):
        split_model(random_rgb, "Conv3d_1a_7x7")
    with pytest.raises(ValueError, match="ends before"):
        split_model(I3D(weights=None, include_top=False, final_endpoint="Mixed_3b"), "Mixed_3c")


KERNEL_CHECK = """
import os, sys
if sys.argv[1] == "tensorflow-first":
    import tensorflow  # TensorFlow reads TF_ENABLE_ONEDNN_OPTS as it starts: 0 here, as it defaults on AVX2 CPUs
    os.environ.pop("TF_ENABLE_ONEDNN_OPTS")
    if sys.argv[2] == "user-chose-eigen":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import i3d_keras
from tensorflow.python.util import _pywrap_util_port
model = i3d_keras.I3D(weights=None, include_top=False, input_shape=(8, 32, 32, 3))
i3d_keras.I3D(weights=None, include_top=False, input_shape=(8, 32, 32, 3))
pools = {type(layer).__name__ for layer in model.layers if "MaxPool" in layer.name}
print(os.environ["TF_ENABLE_ONEDNN_OPTS"], _pywrap_util_port.IsMklEnabled(), *sorted(pools))
"""


def _kernel_check(*args, onednn=None):
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    env.update({"TF_ENABLE_ONEDNN_OPTS": onednn} if onednn else {}, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", KERNEL_CHECK, *args], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.split(), result.stderr.count("oneDNN kernels off")


@pytest.mark.skipif((sys.platform, platform.machine()) != ("linux", "x86_64"),
                    reason="TensorFlow's oneDNN switch is an x86 Linux matter")
def test_importing_i3d_keras_turns_onednn_on_and_warns_once_when_tensorflow_started_first():
    # imported first, i3d_keras turns oneDNN on (TensorFlow leaves it off on AVX2 CPUs), unless the user said no;
    # on Eigen kernels the max pools are separable
    assert _kernel_check("i3d-keras-first", "-") == (["1", "True", "MaxPooling3D"], 0)
    assert _kernel_check("i3d-keras-first", "-", onednn="0") == (["0", "False", "SeparablePooling3D"], 0)
    # TensorFlow started with oneDNN off (as on an AVX2 CPU): too late to turn it on, so one warning
    assert _kernel_check("tensorflow-first", "-", onednn="0") == (["1", "False", "SeparablePooling3D"], 1)
    chose_eigen = _kernel_check("tensorflow-first", "user-chose-eigen", onednn="0")
    assert chose_eigen == (["0", "False", "SeparablePooling3D"], 0)


def test_the_eigen_kernels_model_has_separable_max_pools_and_the_same_logits_exactly(monkeypatch):
    from i3d_keras import backend, layers

    keras.utils.set_random_seed(5)
    model = I3D(weights=None, input_shape=(None, 224, 224, 3))
    monkeypatch.setattr(backend, "tensorflow_runs_eigen_kernels", lambda: True)
    separable = I3D(weights=None, input_shape=(None, 224, 224, 3))
    separable.set_weights(model.get_weights())
    pools = [(layer.name, type(layer)) for layer in separable.layers if "MaxPool" in layer.name]
    assert len(pools) == 4 + 9 and {kind for _, kind in pools} == {layers.SeparablePooling3D}
    assert [name for name, _ in pools] == [layer.name for layer in model.layers if "MaxPool" in layer.name]
    clip = np.random.default_rng(2).uniform(-1, 1, (1, 12, 224, 224, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(separable(clip, training=False)), np.asarray(model(clip, training=False)))


# -- eager calls: LeanFunctional ----------------------------------------------------------------------------------

EAGER_MEMORY = """
import sys
import numpy as np
from i3d_keras import I3D

def peak_mib(call):
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # the peak (VmHWM) starts again from the current RSS
    call()
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))

model = I3D(weights=None, input_shape=(None, 224, 224, 3))
clip = np.random.default_rng(0).uniform(-1, 1, (1, int(sys.argv[1]), 224, 224, 3)).astype(np.float32)
print(peak_mib(lambda: model.predict_on_batch(clip)), peak_mib(lambda: model(clip)))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="peak RSS is reset through Linux's /proc")
def test_an_eager_call_peaks_as_low_as_predict_on_batch():
    """Keras 3 keeps every activation of an eager functional call alive until it returns (6.3 GB at 250 frames
    against 1.85 GB); ``LeanFunctional`` runs it compiled. Each figure includes its first call's tracing."""
    result = subprocess.run([sys.executable, "-c", EAGER_MEMORY, "250"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    predict_on_batch, eager = map(int, result.stdout.split())
    assert eager <= 1.25 * predict_on_batch, (eager, predict_on_batch)


def test_eager_calls_give_keras_values_and_gradients():
    """The compiled eager path is the same graph: values and gradients equal Keras' own layer-by-layer call."""
    import tensorflow as tf

    keras.utils.set_random_seed(5)
    lean = I3D(weights=None, include_top=False, pooling="avg", input_shape=(None, None, None, 3))
    plain = keras.Model(lean.input, lean.output)  # the same layers, Keras' eager call
    assert type(lean).__name__ == "LeanFunctional" and type(plain) is not type(lean)
    clip = tf.constant(np.random.default_rng(6).uniform(-1, 1, (2, 9, 64, 64, 3)).astype(np.float32))
    gradients = []
    for model in (lean, plain):
        with tf.GradientTape() as tape:
            tape.watch(clip)
            loss = tf.reduce_sum(model(clip) ** 2)
        gradients.append(tape.gradient(loss, [clip, *model.trainable_weights[:3], model.trainable_weights[-1]]))
    for ours, theirs in zip(*gradients):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(lean(clip)), np.asarray(plain(clip)), atol=1e-6)
