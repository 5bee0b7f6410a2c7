"""Drop-ins for artifacts on dead links, each used the way its unchanged calling code uses it:

- the TF-Hub handles (``i3d hub-cache`` + the TF1 Hub format): ``hub.load(URL).signatures["default"]``,
  ``hub.KerasLayer(URL)`` in tf_keras, the graph-and-prune pattern, and TF1's ``hub.Module(URL)`` with
  tensorflow_hub 0.15 in ``.venv-legacy`` (``tests/legacy_venv.py``), all with no network;
- StyleGAN-V's TorchScript FVD detector (``i3d export --format torchscript``) under bare ``torch.jit.load`` on
  PyTorch 2.4.1 (legacy venv) and the newest installed;
- pytorch-i3d / TATS state dicts (``--format pytorch-i3d``) in an ``InceptionI3d`` written here.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

import legacy_venv
from conftest import error_lines, i3d
from reference_torch_i3d import ReferenceInceptionI3d, torch_logits
from i3d_keras import I3D, convert, fvd, hub_cache, runtimes
from i3d_keras.convert import pytorch_i3d
from i3d_keras.data.synthetic import render_clip

LEGACY_PYTHON = legacy_venv.python()
needs_legacy_venv = pytest.mark.skipif(LEGACY_PYTHON is None, reason="no .venv-legacy (TF 2.15, tensorflow_hub "
                                       "0.15, PyTorch 2.4.1): python tests/legacy_venv.py makes it, as the README's "
                                       "test command does")
# no network: every download goes to a proxy that is not there
OFFLINE = {key: "http://127.0.0.1:9" for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
HANDLE = {400: "https://tfhub.dev/deepmind/i3d-kinetics-400/1", 600: "https://tfhub.dev/deepmind/i3d-kinetics-600/1"}

# User code, as the programs that load those handles write it (our own text).
TF2_PATTERNS = '''
import sys
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

clip, out, handles = np.load(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = {}
for number, handle in enumerate(handles[:2]):
    # the TensorFlow action-recognition tutorial
    i3d = hub.load(handle).signatures["default"]
    results[f"tutorial {number}"] = i3d(tf.constant(clip))["default"].numpy()

    # a hub.KerasLayer in a tf_keras model
    model = tf_keras.Sequential([tf_keras.layers.InputLayer(input_shape=(None, 224, 224, 3)),
                                 hub.KerasLayer(handle)])
    results[f"keras_layer {number}"] = model.predict(clip, verbose=0)

    # FVD ports: the graph's input tensor, pruned to the averaged logits
    base_model = hub.load(handle)
    input_tensor = base_model.graph.get_tensor_by_name("input_frames:0")
    i3d_model = base_model.prune(input_tensor, "RGB/inception_i3d/Mean:0")
    results[f"pruned {number}"] = i3d_model(tf.constant(clip)).numpy()
np.savez(out, resolved=np.array([hub.resolve(handle) for handle in handles[2:]]), **results)
'''

TF1_MODULE = '''
import sys
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub

clip, out, handles = np.load(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = {}
for number, handle in enumerate(handles):
    with tf.Graph().as_default():
        videos = tf.compat.v1.placeholder(tf.float32, [None, None, 224, 224, 3])
        # the original FVD code: a named module, its averaged logits read by tensor name
        module_name = "fvd_kinetics_id3_module_" + videos.name.replace(":", "_")
        module = hub.Module(handle, name=module_name)
        logits = module(videos)
        embedding = tf.compat.v1.get_default_graph().get_tensor_by_name(
            module_name + "_apply_default/RGB/inception_i3d/Mean:0")
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(tf.compat.v1.tables_initializer())
            results[f"called {number}"], results[f"read {number}"] = session.run([logits, embedding], {videos: clip})
np.savez(out, version=hub.__version__, **results)
'''

STYLEGAN_V_DETECTOR = '''
import sys
sys.modules["i3d_keras"] = None  # the file must run without i3d-keras
import numpy as np
import torch

detector = torch.jit.load(sys.argv[1]).eval().to(torch.device("cpu"))
detector_kwargs = dict(rescale=True, resize=True, return_features=True)  # StyleGAN-V's FVD settings
results = {}
for side, path in zip(("real", "fake"), sys.argv[3:]):
    videos = torch.from_numpy(np.load(path)).permute(0, 4, 1, 2, 3).float()  # [b, c, t, h, w], 0..255
    with torch.no_grad():
        results[side] = detector(videos, **detector_kwargs).numpy()
        results[side + " probabilities"] = detector(videos, rescale=True, resize=True, return_features=False).numpy()
np.savez(sys.argv[2], version=torch.__version__, **results)
'''


# dnnlib's cache rule, written here from StyleGAN-V's src/dnnlib/util.py (open_url): a URL is answered from
# <DNNLIB_CACHE_DIR>/downloads/<md5 of the URL string>_* when exactly one file matches, before any network.
# StyleGAN-V then runs ``with dnnlib.util.open_url(detector_url) as f: detector = torch.jit.load(f)``.
DNNLIB_DETECTOR = """
import glob, hashlib, os, socket, sys

def no_network(*args, **kwargs):
    raise OSError("the network is blocked in this test")

socket.socket.connect = socket.create_connection = no_network  # only the cache can answer

def open_url(url):
    cache = os.path.join(os.environ["DNNLIB_CACHE_DIR"], "downloads")
    found = glob.glob(os.path.join(cache, hashlib.md5(url.encode("utf-8")).hexdigest() + "_*"))
    if len(found) != 1:
        raise SystemExit(f"dnnlib would download {url}: {len(found)} cache files match")
    return open(found[0], "rb")

sys.argv[1] = open_url(sys.argv[1])
""" + STYLEGAN_V_DETECTOR


def run_python(python, code, *args, env=None):
    """Runs ``code`` with ``python`` and fails with its stderr's end when it fails."""
    result = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, **(env or {})), cwd="/", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def hub_cache_dir(tmp_path_factory, kinetics_i3d):
    """``TFHUB_CACHE_DIR=D i3d hub-cache`` with no network: Kinetics-400 installed, Kinetics-600 skipped (its
    checkpoint cannot be downloaded), then a random-weights 600-class module installed under its handles."""
    folder = tmp_path_factory.mktemp("tfhub_modules")
    env = dict(os.environ, TFHUB_CACHE_DIR=str(folder), DNNLIB_CACHE_DIR=str(folder.parent / "dnnlib"), **OFFLINE)
    result = subprocess.run([sys.executable, "-m", "i3d_keras", "hub-cache"], capture_output=True, text=True,
                            timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    handles, detector = result.stdout.split("TorchScript FVD detector")  # then the dnnlib names, as listed
    listed = [line.split()[0] for line in handles.splitlines() if line.startswith("  ")]
    assert listed == hub_cache.handles("kinetics400") and len(listed) == 24
    assert [line.split()[0] for line in detector.splitlines() if line.startswith("  ")] == list(hub_cache.DETECTOR_URLS)
    assert "kinetics600: skipped" in result.stderr
    keras.utils.set_random_seed(600)
    model_600 = I3D(weights=None, classes=600, input_shape=(None, 224, 224, 3))
    module = runtimes.export(model_600, tmp_path_factory.mktemp("k600") / "module", "tf1_hub")
    hub_cache.install(module, str(folder), "kinetics600")
    clip = np.random.default_rng(25).uniform(-1, 1, (2, 10, 224, 224, 3)).astype(np.float32)
    np.save(folder.parent / "clip.npy", clip)
    expected = {400: np.asarray(kinetics_i3d(clip, training=False)), 600: np.asarray(model_600(clip, training=False))}
    return folder, folder.parent / "clip.npy", expected


def test_tf2_patterns_on_the_dead_handles_give_ourlogits(hub_cache_dir, tmp_path):
    folder, clip, expected = hub_cache_dir
    spellings = hub_cache.handles("kinetics400") + hub_cache.handles("kinetics600")
    run_python(sys.executable, TF2_PATTERNS, clip, tmp_path / "out.npz", HANDLE[400], HANDLE[600], *spellings,
               env=dict(TFHUB_CACHE_DIR=str(folder), **OFFLINE))
    with np.load(tmp_path / "out.npz") as out:
        for number, classes in enumerate((400, 600)):
            for pattern in ("tutorial", "keras_layer", "pruned"):
                assert out[f"{pattern} {number}"].shape == (2, classes)
                np.testing.assert_allclose(out[f"{pattern} {number}"], expected[classes], atol=1e-5, err_msg=pattern)
        modules = [os.path.realpath(hub_cache.module_folder(str(folder), weights)) for weights in ("kinetics400",
                                                                                                   "kinetics600")]
        assert [os.path.realpath(path) for path in out["resolved"]] == [modules[0]] * 24 + [modules[1]] * 24


@needs_legacy_venv
def test_tf1_hub_module_with_tensorflow_hub_0_15(hub_cache_dir, tmp_path):
    folder, clip, expected = hub_cache_dir
    run_python(LEGACY_PYTHON, TF1_MODULE, clip, tmp_path / "out.npz", HANDLE[400], HANDLE[600],
               env=dict(TFHUB_CACHE_DIR=str(folder), **OFFLINE))
    with np.load(tmp_path / "out.npz") as out:
        assert str(out["version"]) == "0.15.0"
        for number, classes in enumerate((400, 600)):
            np.testing.assert_allclose(out[f"called {number}"], expected[classes], atol=1e-5)
            np.testing.assert_allclose(out[f"read {number}"], expected[classes], atol=1e-5)


def test_hub_cache_refuses_a_folder_it_did_not_write_and_uninstalls_exactly_its_own(tmp_path):
    cache = tmp_path / "cache"
    foreign = pathlib.Path(hub_cache.handle_folder(str(cache), HANDLE[400]))
    foreign.mkdir(parents=True)
    (foreign / "saved_model.pb").write_bytes(b"someone else's module")
    (cache / "unrelated.txt").write_text("left alone")
    before = sorted(os.listdir(cache))
    result = i3d("hub-cache", "--cache_dir", cache, "--weights", "kinetics400")
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, result.stderr
    assert str(foreign) in error_lines(result.stderr)[0] and "refusing" in error_lines(result.stderr)[0]
    assert sorted(os.listdir(cache)) == before and (foreign / "saved_model.pb").read_bytes() == b"someone else's module"

    (foreign / "saved_model.pb").unlink()
    foreign.rmdir()
    before = sorted(os.listdir(cache))
    module = tmp_path / "module"
    module.mkdir()
    (module / "saved_model.pb").write_bytes(b"ours")
    installed = hub_cache.install(str(module), str(cache), "kinetics400")
    assert len(installed) == 24 and (pathlib.Path(installed[HANDLE[400]]) / "saved_model.pb").read_bytes() == b"ours"
    assert hub_cache.install(str(module), str(cache), "kinetics400") == installed  # again: replaces its own
    result = i3d("hub-cache", "--cache_dir", cache, "--uninstall", "--weights", "kinetics400")
    assert result.returncode == 0, result.stderr
    assert "removed 24 handles" in result.stdout
    assert sorted(os.listdir(cache)) == before


def test_dnnlib_cache_rule_finds_our_detector_offline_and_hub_cache_keeps_to_its_own_files(tmp_path):
    """The cache rule of the StyleGAN-V code that loads the detector; the stylegan-v embeddings through it are
    checked in ``test_stylegan_v_code_runs_unchanged_after_hub_cache``."""
    cache = tmp_path / "downloads"
    export = tmp_path / "export"
    export.mkdir()
    (export / hub_cache.DETECTOR).write_bytes(b"ours")
    cache.mkdir()
    (cache / "unrelated.pt").write_bytes(b"left alone")
    foreign = pathlib.Path(hub_cache.dnnlib_file(str(cache), hub_cache.DETECTOR_URLS[0]).replace(
        hub_cache.DETECTOR, "i3d_torchscript.pt.tmp"))  # another <md5>_ file: dnnlib would read neither
    foreign.write_bytes(b"a download in progress")
    with pytest.raises(FileExistsError, match="another file under a detector URL's dnnlib name"):
        hub_cache.install_detector(str(export), str(cache))
    foreign.unlink()
    before = sorted(os.listdir(cache))
    installed = hub_cache.install_detector(str(export), str(cache))
    assert list(installed) == list(hub_cache.DETECTOR_URLS) and len(installed) == 6
    assert all(pathlib.Path(path).read_bytes() == b"ours" for path in installed.values())
    assert hub_cache.install_detector(str(export), str(cache)) == installed  # again: replaces its own
    assert len(hub_cache.uninstall_detector(str(cache))) == 6 and sorted(os.listdir(cache)) == before
    pathlib.Path(installed[hub_cache.DETECTOR_URLS[0]]).write_bytes(b"the real download")  # not ours: refused
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        hub_cache.install_detector(str(export), str(cache))
    assert pathlib.Path(installed[hub_cache.DETECTOR_URLS[0]]).read_bytes() == b"the real download"


# -- PyTorch ---------------------------------------------------------------------------------------------------

def test_pytorch_i3d_export_loads_strictly_into_inception_i3d_and_round_trips_bit_exact(kinetics_i3d, tmp_path):
    folder = runtimes.export(kinetics_i3d, tmp_path / "pt", "pytorch-i3d")
    path = os.path.join(folder, runtimes.MODEL_FILES["pytorch-i3d"])
    state = torch.load(path, weights_only=True)
    reference = ReferenceInceptionI3d()
    reference.load_state_dict(state, strict=True)
    clip = np.random.default_rng(3).uniform(-1, 1, (1, 12, 224, 224, 3)).astype(np.float32)
    expected = np.asarray(kinetics_i3d(clip, training=False))
    np.testing.assert_allclose(torch_logits(reference, clip), expected, atol=1e-4)
    tree, back = convert.read_tree(kinetics_i3d), pytorch_i3d.convert(path)
    assert set(back) == set(tree) and all(np.array_equal(back[key], tree[key]) for key in tree)

    # a batch-norm scale other than 1 (fine-tuned in PyTorch) is folded: same logits as the PyTorch model
    state["Mixed_4c.b1b.bn.weight"] = torch.linspace(0.5, 1.5, state["Mixed_4c.b1b.bn.weight"].numel())
    reference.load_state_dict(state, strict=True)
    model = I3D(weights=None, input_shape=(None, 224, 224, 3))
    convert.assign(model, pytorch_i3d.tree_from_state_dict({k: v.numpy() for k, v in state.items()}))
    np.testing.assert_allclose(np.asarray(model(clip, training=False)), torch_logits(reference, clip), atol=1e-4)


def test_convert_cli_brings_a_flow_charades_state_dict_back_bit_exact(tmp_path):
    keras.utils.set_random_seed(157)
    flow = I3D(weights=None, modality="flow", classes=157, input_shape=(None, 224, 224, 2))
    folder = runtimes.export(flow, tmp_path / "flow", "pytorch-i3d")
    source = tmp_path / "flow_charades.pt"
    os.replace(os.path.join(folder, runtimes.MODEL_FILES["pytorch-i3d"]), source)
    ReferenceInceptionI3d(157, in_channels=2).load_state_dict(torch.load(source, weights_only=True), strict=True)
    out = tmp_path / "flow_charades.weights.h5"
    result = i3d("convert", "--source", source, "--format", "pytorch-i3d", "--out", out)
    assert result.returncode == 0, result.stderr
    back = I3D(weights=str(out), modality="flow", classes=157)
    for mine, theirs in zip(flow.weights, back.weights):
        assert mine.path == theirs.path and np.array_equal(np.asarray(mine), np.asarray(theirs))


class _Payload:
    """A pickle that runs a command when loaded (what weights_only=True refuses)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _state_dict():
    keras.utils.set_random_seed(1)
    return {key: torch.from_numpy(value) for key, value in
            pytorch_i3d.state_dict_from_tree(convert.read_tree(I3D(weights=None, input_shape=(None, 224, 224, 3)))).items()}


def test_bad_pytorch_i3d_files_get_one_line_exit_2_and_nothing_written(tmp_path):
    """A pickle that would run code, through the command; a missing key and a wrong shape, the one-line errors
    (``ValueError``s, which the command prints as ``error: ...``, exit 2) of the same conversion."""
    source, marker, out = tmp_path / "evil.pt", tmp_path / "pwned", tmp_path / "out.weights.h5"
    torch.save({"Conv3d_1a_7x7.conv3d.weight": _Payload(marker)}, source)
    result = i3d("convert", "--source", source, "--format", "pytorch-i3d", "--out", out)
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, result.stderr
    assert str(source) in error_lines(result.stderr)[0] and "refusing" in error_lines(result.stderr)[0]
    assert not out.exists() and not marker.exists() and "Traceback" not in result.stderr
    from i3d_keras import pretrained, weights

    for case, words in (("missing key", "Mixed_4d.b2b.bn.running_var"), ("wrong shape", "with the wrong shape")):
        state = _state_dict()
        if case == "missing key":
            del state["Mixed_4d.b2b.bn.running_var"]
        else:
            state["logits.conv3d.weight"] = torch.zeros(400, 1024, 1, 1, 2)
        torch.save(state, source)
        spec = weights.WeightSet("local", str(source), "rgb", 400, "pytorch_i3d", ())
        with pytest.raises(ValueError) as error:
            pretrained.convert_source(spec, str(source), str(out))  # what i3d convert runs
        assert str(source) in str(error.value) and words in str(error.value) and "\n" not in str(error.value)
        assert not out.exists()


@pytest.fixture(scope="module")
def stylegan_v_videos(tmp_path_factory, kinetics_i3d):
    """Real and generated stand-ins, uint8 [6, 16, 64, 80, 3] (16 frames: the protocol's clip, offset 0), with
    their ``i3d_keras.fvd`` embeddings under the ``stylegan-v`` protocol."""
    folder = tmp_path_factory.mktemp("stylegan_v")
    rng = np.random.default_rng(16)
    make = lambda seed: np.stack([render_clip(i % 5, frames=16, size=80, seed=seed + i)[:, 8:72] for i in range(6)])
    real, fake = make(0), make(100)
    fake[..., 0] = np.clip(fake[..., 0].astype(int) + rng.integers(0, 60, fake.shape[:-1]), 0, 255)
    embeddings = {}
    for side, videos in (("real", real), ("fake", fake)):
        np.save(folder / f"{side}.npy", videos)
        embeddings[side] = fvd.embeddings(videos, "stylegan-v", model=kinetics_i3d)
    return folder, embeddings


@pytest.mark.parametrize("python", [sys.executable, pytest.param(LEGACY_PYTHON, marks=needs_legacy_venv)],
                         ids=["newest torch", "torch 2.4.1"])
def test_stylegan_v_code_runs_unchanged_after_hub_cache(hub_cache_dir, stylegan_v_videos, python, tmp_path):
    """StyleGAN-V's FVD code as it is: its detector URL opened through dnnlib's cache (no network), then the
    TorchScript detector that ``i3d hub-cache`` placed there gives our ``stylegan-v`` embeddings and FVD."""
    folder, ours = stylegan_v_videos
    env = {"DNNLIB_CACHE_DIR": str(hub_cache_dir[0].parent / "dnnlib"), **OFFLINE}
    run_python(python, DNNLIB_DETECTOR, hub_cache.DETECTOR_URLS[0], tmp_path / "out.npz", folder / "real.npy",
               folder / "fake.npy", env=env)
    with np.load(tmp_path / "out.npz") as out:
        out = dict(out)
    expected_version = torch.__version__ if python == sys.executable else "2.4.1"
    assert str(out["version"]).split("+")[0] == expected_version.split("+")[0]
    for side in ("real", "fake"):
        np.testing.assert_allclose(out[side], ours[side], atol=1e-4)
        probabilities = torch.softmax(torch.from_numpy(out[side]), 1).numpy()
        np.testing.assert_allclose(out[side + " probabilities"], probabilities, atol=1e-6)
    theirs = fvd.frechet_distance(out["real"], out["fake"], "stylegan-v")
    reference = fvd.frechet_distance(ours["real"], ours["fake"], "stylegan-v")  # what fvd.fvd computes
    assert theirs == pytest.approx(reference, rel=1e-4) and reference > 1
