"""Shared fixtures: an isolated weights cache, synthetic videos, random weight trees, checkpoint writers, the built
documentation site."""

import html
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from i3d_keras.data.synthetic import write_video  # noqa: F401 -- the tests write their videos with it

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_VIDEOS = SHARED_DATA / "videos"


@pytest.fixture(scope="session", autouse=True)
def weights_cache(tmp_path_factory):
    """Converted weights go to a fresh folder per test session, never to the user's cache."""
    folder = tmp_path_factory.mktemp("i3d_keras_cache")
    os.environ["I3D_KERAS_CACHE"] = str(folder)
    os.environ["DNNLIB_CACHE_DIR"] = str(tmp_path_factory.mktemp("dnnlib"))  # i3d hub-cache's detector goes there
    return folder


def write_vfr_video(path, frames, times_ms):
    """Writes RGB frames shown at ``times_ms`` (milliseconds, increasing, uneven): a variable-frame-rate MPEG-4
    in Matroska, which OpenCV reads but cannot write (PyAV does)."""
    import fractions

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for frame, time_ms in zip(frames, times_ms):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
            picture.pts, picture.time_base = time_ms, fractions.Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return str(path)


def i3d(*args, timeout=600):
    """Runs ``python -m i3d_keras ARGS`` and returns the completed process (stdout and stderr as text)."""
    return subprocess.run(
        [sys.executable, "-m", "i3d_keras", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ), check=False,
    )


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def i3d_killed_when(condition, *args, timeout=300):
    """Starts ``python -m i3d_keras ARGS`` and SIGKILLs it (and its workers) as soon as ``condition()`` holds.

    Fails if the command ends or ``timeout`` passes first: the kill must land mid-run.
    """
    process = subprocess.Popen([sys.executable, "-m", "i3d_keras", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert process.poll() is None, f"finished before the kill: {process.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "condition never held"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def clip_frames(count, label, seed):
    """64x80 frames: a class-coloured textured background and a bright textured block moving right 2 px per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = np.empty((count, 64, 80, 3), np.uint8)
    texture = cv2.GaussianBlur(rng.integers(0, 60, (64, 80, 3), dtype=np.uint8), (0, 0), 1.0)
    block = cv2.GaussianBlur(rng.integers(150, 255, (20, 16, 3), dtype=np.uint8), (0, 0), 1.0)
    for t in range(count):
        frames[t] = texture + np.uint8([80, 40, 20]) * (label + 1)
        frames[t, 20:40, 2 * t:2 * t + 16] = block
    return frames


def random_tree(model, rank=3, seed=0):
    """The weight tree of ``model`` with every tensor random (batch-norm statistics too), so mappings are testable."""
    from i3d_keras import convert

    rng = np.random.default_rng(seed)
    tree = {}
    for key, var in convert.model_variables(model, rank).items():
        shape = tuple(var.shape)
        if key.endswith("moving_variance"):
            tree[key] = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        elif key.endswith("/kernel"):
            fan_in = int(np.prod(shape[:-1]))
            tree[key] = (rng.normal(0, 1, shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            tree[key] = rng.normal(0, 0.1, shape).astype(np.float32)
    return tree


def write_tf_checkpoint(prefix, tensors):
    """Writes a name-based TensorFlow checkpoint holding exactly ``tensors`` (``{name: array}``)."""
    import tensorflow as tf

    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    return str(prefix)


@pytest.fixture(scope="session")
def rgb_module(tmp_path_factory, kinetics_i3d):
    """``i3d export --weights kinetics400 --archive`` into a fresh folder (the command users run), once per
    session: the export tests and the action-recognition notebook use it. A first export is SIGKILLed while it
    writes; the second must complete, replace nothing half-written and leave no staging folder."""
    path = tmp_path_factory.mktemp("export") / "i3d-kinetics-400" / "1"
    staging = lambda: [name for name in os.listdir(path.parent) if name.startswith(".1.")] if path.parent.exists() else []
    i3d_killed_when(lambda: staging(), "export", "--weights", "kinetics400", "--out", path, "--archive")
    assert staging() and not path.exists()  # killed mid-way: only the hidden staging folder
    result = i3d("export", "--weights", "kinetics400", "--out", path, "--archive")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(path)
    again = i3d("export", "--weights", "kinetics400", "--out", path)
    assert again.returncode == 2 and f"error: {path} exists; pass overwrite=True (--overwrite) to replace it" in again.stderr
    return str(path)


@pytest.fixture(scope="session")
def kinetics_i3d():
    """``I3D(weights="kinetics400")`` with free clip length, built once per session."""
    from i3d_keras import I3D

    return I3D(weights="kinetics400", input_shape=(None, 224, 224, 3))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The documentation site: ``site/`` as the test command's ``mkdocs build --strict`` wrote it, unless a source
    (``mkdocs.yml``, ``docs/``, the package) is newer; then a fresh strict build."""
    site = REPO / "site"
    sources = [REPO / "mkdocs.yml", *(REPO / "docs").rglob("*"), *(REPO / "i3d_keras").rglob("*.py")]
    if (site / "sitemap.xml").exists() and (site / "sitemap.xml").stat().st_mtime > max(
            path.stat().st_mtime for path in sources):
        return site
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)], cwd=REPO,
                   check=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    return site


def html_text(markup):
    """The text of HTML markup, as a reader sees it."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def code_blocks(site, page):
    """The text of a built page's code blocks, as a reader would copy it."""
    markup = (site / page / "index.html").read_text(encoding="utf-8")
    return [html_text(block) for block in re.findall(r"<pre[^>]*>(.*?)</pre>", markup, re.S)]


def pytest_terminal_summary(terminalreporter):
    """After the run: what every entry point made of the bad-input corpus (tests/test_bad_inputs.py)."""
    counts = getattr(sys.modules.get("test_bad_inputs"), "COUNTS", None)
    if counts:
        terminalreporter.section("bad-input corpus")
        for entry, (worked, skipped, items) in counts.items():
            terminalreporter.write_line(f"{entry:>16}: {items} items, {worked} worked, {skipped} skipped with a message")
