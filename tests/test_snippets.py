"""Snippet features: counts and timestamps by the documented formulas, each snippet equal to the model on its
frames, 10 crops, two streams aligned, the CLI's files, resume after SIGKILL, bad videos."""

import json
import os

import numpy as np
import pytest

from conftest import error_lines, i3d, i3d_killed_when, write_video
from i3d_keras import load_video, snippets
from i3d_keras.data import flow, transforms
from i3d_keras.preprocessing import preprocess_input


def textured_video(path, frames, fps, seed=0):
    """A moving bright bar over noise, 320x240 (the short side is resized to 256)."""
    clip = np.random.default_rng(seed).integers(0, 120, (frames, 240, 320, 3), np.uint8)
    for t in range(frames):
        clip[t, 60:180, 10 + 6 * t:50 + 6 * t] = 250
    return str(write_video(path, clip, fps=fps))


@pytest.fixture(scope="module")
def rgb_model():
    return snippets.feature_model("kinetics400", "rgb")


@pytest.mark.parametrize("frames", [16, 47, 100, 101])
def test_snippet_starts_follow_the_formula_and_the_stream(frames):
    starts = snippets.snippet_starts(frames, 16, 4)
    assert len(starts) == (frames - 16) // 4 + 1 and starts == [4 * s for s in range(len(starts))]
    streamed = list(snippets.iter_snippets(range(frames), 16, 4))
    assert streamed[-1] == (None, frames)
    assert [start for start, _ in streamed[:-1]] == starts
    assert all(items == list(range(start, start + 16)) for start, items in streamed[:-1])
    padded = snippets.snippet_starts(frames, 16, 4, last="pad")
    assert padded == starts + ([starts[-1] + 4] if (frames - 16) % 4 else [])
    streamed = list(snippets.iter_snippets(range(frames), 16, 4, last="pad"))
    assert [start for start, _ in streamed[:-1]] == padded
    if len(padded) > len(starts):
        tail = streamed[-2][1]
        assert tail == list(range(padded[-1], frames)) + [frames - 1] * (padded[-1] + 16 - frames)
    times = snippets.snippet_timestamps(padded, 16, 30.0, frames)
    np.testing.assert_allclose(times[:, 0], np.array(padded) / 30.0)
    np.testing.assert_allclose(times[:, 1], np.minimum(np.array(padded) + 16, frames) / 30.0)


def test_native_and_resampled_rates_give_the_formula_s_snippets(tmp_path, rgb_model):
    path = textured_video(tmp_path / "v.avi", 47, fps=30)
    native = snippets.SnippetOptions(snippet=16, stride=8, fps=None)
    result = snippets.extract(path, {"rgb": rgb_model}, native)
    assert (result["frames"], result["fps"]) == (47, 30.0)
    assert result["features"].shape == ((47 - 16) // 8 + 1, 1024)
    np.testing.assert_allclose(result["timestamps"][:, 0], np.arange(4) * 8 / 30.0)
    resampled = snippets.extract(path, {"rgb": rgb_model}, snippets.SnippetOptions(snippet=16, stride=8, fps=25.0))
    frames_at_25 = len(load_video(path))  # 47 frames at 30 fps last 1.57 s: 40 frames at 25 fps
    assert resampled["frames"] == frames_at_25 == 40 and resampled["fps"] == 25.0
    assert resampled["features"].shape == ((40 - 16) // 8 + 1, 1024)
    np.testing.assert_allclose(resampled["timestamps"][-1], [24 / 25.0, 40 / 25.0])


def test_each_snippet_feature_is_the_model_on_its_frames(tmp_path, rgb_model):
    from i3d_keras import I3D, endpoint_model

    path = textured_video(tmp_path / "v.avi", 60, fps=25)
    options = snippets.SnippetOptions(snippet=32, stride=12, fps=25.0)
    result = snippets.extract(path, {"rgb": rgb_model}, options, batch_size=2)
    frames = load_video(path)
    starts = snippets.snippet_starts(len(frames), 32, 12)
    assert result["features"].shape == (len(starts), 1024) == (3, 1024)
    mixed_5c = endpoint_model(I3D(weights="kinetics400", include_top=False), ("Mixed_5c",))
    for row, start in zip(result["features"], starts):
        endpoint = np.asarray(mixed_5c(preprocess_input(frames[None, start:start + 32]))["Mixed_5c"])[0]  # [4, 7, 7, C]
        pooled = np.stack([endpoint[t:t + 2].mean(axis=(0, 1, 2)) for t in range(len(endpoint) - 1)])  # 2x7x7, VALID
        np.testing.assert_allclose(row, pooled.mean(axis=0), atol=1e-5)
        assert np.abs(row - endpoint.mean(axis=(0, 1, 2))).max() > 1e-4  # not the plain mean: edge steps count once


def test_ten_crops_are_the_five_crops_and_their_mirror_images():
    clip = np.random.default_rng(1).integers(0, 256, (3, 256, 341, 2), np.uint8)
    views = np.asarray(transforms.multi_crop(clip, "10", 224, is_flow=True))
    boxes = [(0, 0), (0, 341 - 224), (256 - 224, 0), (256 - 224, 341 - 224), (16, 58)]
    explicit = [clip[:, top:top + 224, left:left + 224] for top, left in boxes]
    mirrored = [np.concatenate([255 - view[:, :, ::-1, :1], view[:, :, ::-1, 1:]], axis=-1) for view in explicit]
    np.testing.assert_array_equal(views, np.stack(explicit + mirrored))  # flow's x changes sign when mirrored
    rgb = clip[..., :1].repeat(3, axis=-1)
    np.testing.assert_array_equal(np.asarray(transforms.multi_crop(rgb, "10", 224, is_flow=False))[5:],
                                  np.stack([view[:, :, ::-1] for view in np.asarray(transforms.multi_crop(rgb, "5", 224, False))]))
    assert np.asarray(transforms.multi_crop(rgb, "resize", 224, False)).shape == (1, 3, 224, 224, 3)


def write_flow(tmp_path, path, frames, fps):
    """A flow folder of random fields for the video at ``path`` (one field fewer than frames)."""
    fields = np.random.default_rng(7).integers(0, 256, (frames - 1, 256, 341, 2), np.uint8)
    flow.write_flow_folder(flow.folder_for(path, tmp_path / "flow"), iter(fields), fps=fps)
    return fields


def test_two_streams_are_aligned_snippet_for_snippet_rgb_first(tmp_path, rgb_model):
    path = textured_video(tmp_path / "v.avi", 32, fps=25)
    fields = write_flow(tmp_path, path, 32, fps=None)
    flow_model = snippets.feature_model(None, "flow")  # random init: the flow weights need a download
    options = snippets.SnippetOptions(snippet=16, stride=16, fps=None, streams=("rgb", "flow"))
    both = snippets.extract(path, {"rgb": rgb_model, "flow": flow_model}, options, flow_root=tmp_path / "flow")
    rgb_only = snippets.extract(path, {"rgb": rgb_model}, snippets.SnippetOptions(snippet=16, stride=16, fps=None))
    assert both["features"].shape == (2, 2048)
    np.testing.assert_allclose(both["features"][:, :1024], rgb_only["features"], atol=1e-6)
    per_frame = np.concatenate([fields, fields[-1:]])  # the last frame has no next frame: its field repeats
    for row, start in zip(both["features"][:, 1024:], (0, 16)):
        clip = per_frame[start:start + 16, 16:240, 58:282]  # centre crop of 256x341
        np.testing.assert_allclose(row, np.asarray(flow_model(preprocess_input(clip[None])))[0], atol=1e-5)
    wrong = snippets.SnippetOptions(snippet=16, stride=16, fps=25.0, streams=("flow",))
    with pytest.raises(ValueError, match="flow computed at the native fps, snippets at 25.0 fps"):
        snippets.extract(path, {"flow": flow_model}, wrong, flow_root=tmp_path / "flow")


def test_cli_writes_npz_with_metadata_and_an_index_and_names_bad_videos(tmp_path):
    videos = [textured_video(tmp_path / f"clip{i}.avi", 40, fps=25, seed=i) for i in range(2)]
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    out = tmp_path / "features"
    result = i3d("features", "--snippet", "16", "--stride", "8", "--crops", "5", "--noaverage_crops", "--out", out,
                 *videos, tmp_path / "broken.avi")
    assert result.returncode == 1 and error_lines(result.stderr)[0].startswith(f"error: {tmp_path / 'broken.avi'}: ")
    with np.load(out / "clip0.npz", allow_pickle=False) as data:
        assert data["features"].shape == (4, 5, 1024) and data["timestamps"].shape == (4, 2)
        assert (float(data["fps"]), int(data["frames"]), int(data["snippet"]), int(data["stride"])) == (25.0, 40, 16, 8)
        assert (str(data["crops"]), str(data["streams"]), str(data["source"])) == ("5", "rgb", videos[0])
    index = json.loads((out / "index.json").read_text())
    assert sorted(index) == ["clip0.npz", "clip1.npz"] and index["clip1.npz"]["shape"] == [4, 5, 1024]
    help_text = i3d("features", "--help").stdout
    assert all(name in help_text for name in ("--preset", "thumos-i3d", "video-features", "--crops", "--streams"))


def test_a_killed_extraction_resumes_without_redoing_what_is_done(tmp_path):
    videos = [textured_video(tmp_path / f"clip{i}.avi", 48, fps=25, seed=i) for i in range(4)]
    out = tmp_path / "features"
    args = ("features", "--snippet", "16", "--crops", "5", "--out", out, *videos)
    npz = lambda: sorted(name for name in os.listdir(out) if name.endswith(".npz")) if out.is_dir() else []  # noqa: E731
    i3d_killed_when(lambda: npz(), *args)
    done = npz()
    assert 1 <= len(done) < 4  # killed mid-batch
    stamps = {name: os.stat(out / name).st_mtime_ns for name in done}
    again = i3d(*args)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} already done" in again.stderr
    assert all(os.stat(out / name).st_mtime_ns == stamp for name, stamp in stamps.items())
    assert sorted(json.loads((out / "index.json").read_text())) == [f"clip{i}.npz" for i in range(4)]
    for i in range(4):
        with np.load(out / f"clip{i}.npz", allow_pickle=False) as data:
            assert data["features"].shape == (3, 1024)
