"""Optical flow: known motion recovered through the whole store-and-reload path, the uint8 code, pictures, and
the ``i3d flow`` command (bad files, resume, shards, SIGKILL)."""

import json
import os

import numpy as np
import pytest

from conftest import error_lines, i3d, i3d_killed_when, write_video
from i3d_keras.data import decoding, flow

SIZE = 64


def textured_frames(count, dx, dy, size=SIZE, seed=0):
    """A smooth random texture translated by (dx, dy) pixels per frame (sub-pixel steps by interpolation)."""
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur((rng.random((size * 3, size * 3, 3)) * 255).astype(np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / np.ptp(texture) * 255
    frames = []
    for t in range(count):
        shift = np.float32([[1, 0, dx * t - size], [0, 1, dy * t - size]])  # output(x) = texture(x - shift)
        frames.append(cv2.warpAffine(texture, shift, (size, size), flags=cv2.INTER_CUBIC))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("dx, dy", [(3.0, 0.0), (-2.5, 1.25), (0.0, -6.0)])
def test_tvl1_recovers_known_motion_after_the_storage_round_trip(tmp_path, dx, dy):
    video = write_video(tmp_path / "moving.avi", textured_frames(6, dx, dy))
    count = flow.compute_flow_folder(str(video), str(tmp_path / "flow"), short_side=SIZE)
    assert count == 5
    fields = flow.dequantize(flow.read_flow_folder(tmp_path / "flow"))
    inner = fields[:, 8:-8, 8:-8]  # the borders see texture entering the frame
    assert abs(inner[..., 0].mean() - dx) < 0.5 and abs(inner[..., 1].mean() - dy) < 0.5
    assert flow.read_flow_info(tmp_path / "flow")["method"] == "tvl1"  # TensorFlow's, the default


def test_fast_methods_see_the_same_direction():
    frames = textured_frames(3, 2.0, -1.0)
    for method in ("dis", "farneback"):
        fields = np.stack(list(flow.iter_flow(frames, method)))[:, 8:-8, 8:-8]
        assert abs(fields[..., 0].mean() - 2.0) < 0.5 and abs(fields[..., 1].mean() + 1.0) < 0.5, method
    with pytest.raises(ValueError, match="unknown flow method 'tvl2'"):
        flow.estimator("tvl2")


def test_quantization_clips_at_20_px_and_rounds_to_a_0_078_px_step():
    pixels = np.array([-35.0, -20.0, -7.3, 0.0, 0.04, 12.345, 20.0, 99.0], np.float32)
    codes = flow.quantize(pixels)
    assert codes.dtype == np.uint8 and codes[0] == codes[1] == 0 and codes[-1] == codes[-2] == 255
    back = flow.dequantize(codes)
    assert np.all(np.abs(back - np.clip(pixels, -20, 20)) <= 40 / 255 / 2 + 1e-6)
    # the model's input is q / 127.5 - 1, i.e. the clipped flow divided by 20
    np.testing.assert_allclose(codes / 127.5 - 1, back / 20, atol=1e-6)


def test_jpeg_storage_reads_back_close(tmp_path):
    fields = [flow.quantize(f) for f in flow.iter_flow(textured_frames(3, 1.0, 0.5))]
    flow.write_flow_folder(tmp_path / "f", fields, image_format="jpg")
    stored = flow.read_flow_folder(tmp_path / "f").astype(int)
    assert stored.shape == (2, SIZE, SIZE, 2) and sorted(os.listdir(tmp_path / "f"))[0] == "flow.json"
    assert np.abs(stored - np.stack(fields)).mean() < 1.0


def test_colour_coding_follows_direction():
    right = flow.flow_to_color(np.tile(np.float32([3, 0]), (4, 4, 1)))[0, 0]
    down = flow.flow_to_color(np.tile(np.float32([0, 3]), (4, 4, 1)))[0, 0]
    still = flow.flow_to_color(np.zeros((4, 4, 2), np.float32), max_magnitude=1)[0, 0]
    assert right.argmax() == 0 and right.max() == 255  # red: rightwards, full speed
    assert down[0] > 100 and down[1] > 100 and down[2] < 50  # yellow-green quarter turn (y points down)
    assert still.max() == 0
    wheel = flow.color_wheel(33)
    assert wheel.shape == (33, 33, 3) and wheel[16, 32].argmax() == 0 and wheel[0, 0].max() == 0


def test_one_frame_video_has_no_flow(tmp_path):
    video = write_video(tmp_path / "still.avi", textured_frames(1, 0, 0))
    with pytest.raises(decoding.VideoError, match="still.avi: only one frame"):
        flow.compute_flow_folder(str(video), str(tmp_path / "flow"), short_side=SIZE)
    assert not os.path.exists(tmp_path / "flow") and os.listdir(tmp_path) == ["still.avi"]


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    paths = [write_video(folder / f"clip{i}.avi", textured_frames(10 + i, 1.0 + i, 0.0, seed=i)) for i in range(3)]
    return [str(path) for path in paths]


def test_flow_command_batch_goes_on_after_bad_files_and_resumes(tmp_path, videos):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    out = tmp_path / "flow"
    result = i3d("flow", "--out", out, "--short_side", SIZE, "--workers", 2, "--visualize", *videos, junk)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [f"error: {junk}: not a video OpenCV can decode (unknown format or damaged header)"]
    assert "3 videos, " in result.stderr and "1 failed" in result.stderr
    assert (out / "failed.tsv").read_text() == f"{junk}\tnot a video OpenCV can decode (unknown format or damaged header)\n"
    for i, path in enumerate(videos):
        info = json.loads((out / f"clip{i}" / "flow.json").read_text())
        assert info["fields"] == 9 + i and (info["height"], info["width"]) == (SIZE, SIZE)
        stored = flow.read_flow_folder(out / f"clip{i}")  # two Beam workers: bit for bit this process's flow
        np.testing.assert_array_equal(stored, np.stack(list(flow.video_flow(path, short_side=SIZE))))
        fields = flow.dequantize(stored)[:, 8:-8, 8:-8]
        assert abs(fields[..., 0].mean() - (1.0 + i)) < 0.5
        assert (out / f"clip{i}.flow.png").stat().st_size > 0
    stamp = (out / "clip0" / "x_00000.png").stat().st_mtime_ns
    again = i3d("flow", "--out", out, "--short_side", SIZE, *videos)
    assert again.returncode == 0 and "3 already done; 0 failed" in again.stderr and (out / "failed.tsv").read_text() == ""
    assert (out / "clip0" / "x_00000.png").stat().st_mtime_ns == stamp


def test_flow_killed_mid_run_resumes_without_redoing_or_half_files(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    videos = [str(write_video(folder / f"v{i}.avi", textured_frames(25, 1.5, 0.5, seed=i))) for i in range(4)]
    out = tmp_path / "flow"
    # OpenCV's TV-L1: the job's mechanics, on a method slow enough to be killed mid-run
    args = ("flow", "--out", out, "--short_side", SIZE, "--workers", 1, "--method", "tvl1-opencv", *videos)
    i3d_killed_when(lambda: (out / "v0").is_dir(), *args)
    finished = {name: (out / name / "flow.json").stat().st_mtime_ns for name in os.listdir(out) if not name.startswith(".")}
    assert "v0" in finished and len(finished) < 4
    for name in finished:  # whatever is visible is complete
        assert flow.read_flow_folder(out / name).shape == (24, SIZE, SIZE, 2)
    result = i3d(*args)
    assert result.returncode == 0 and f"{len(finished)} already done" in result.stderr
    assert sorted(os.listdir(out)) == ["failed.tsv", "v0", "v1", "v2", "v3"]  # and the killed run's temporary folder is gone
    for name, stamp in finished.items():
        assert (out / name / "flow.json").stat().st_mtime_ns == stamp
    for i in range(4):
        assert flow.read_flow_folder(out / f"v{i}").shape == (24, SIZE, SIZE, 2)
