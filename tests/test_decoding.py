"""Video decoding: frame-rate resampling, resize and crop, windows, looping, and errors that name the file."""

import numpy as np
import pytest

from conftest import write_vfr_video, write_video
from i3d_keras.data import decoding
from i3d_keras.data.decoding import VideoError


def counter_video(path, frames, fps, size=(64, 48)):
    """Frame i is a flat grey of level 4*i: its index can be read back after lossy coding."""
    width, height = size
    levels = (np.arange(frames) * 4).astype(np.uint8)
    clip = np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()
    return write_video(path, clip, fps)


def read_indices(path, **kwargs):
    return [int(round(frame.mean() / 4)) for frame in decoding.iter_frames(str(path), short_side=None, crop=None, **kwargs)]


def test_native_rate_keeps_every_frame(tmp_path):
    path = counter_video(tmp_path / "v.avi", 30, fps=25)
    assert read_indices(path, fps=None) == list(range(30))
    assert read_indices(path, fps=25) == list(range(30))


def test_30fps_is_resampled_to_25fps_by_timestamp(tmp_path):
    path = counter_video(tmp_path / "v.avi", 60, fps=30)
    # output frame k (time k/25 s) shows source frame floor(k * 30 / 25)
    assert read_indices(path, fps=25) == [int(k * 30 / 25) for k in range(50)]


def test_12fps_is_upsampled_to_25fps(tmp_path):
    path = counter_video(tmp_path / "v.avi", 12, fps=12)
    indices = read_indices(path, fps=25)
    assert indices == [int(k * 12 / 25) for k in range(25)]


def test_short_side_resize_and_centre_crop(tmp_path):
    clip = np.zeros((3, 240, 320, 3), np.uint8)
    clip[:, :, 160:] = 255  # right half white
    path = write_video(tmp_path / "wide.avi", clip)
    frames = list(decoding.iter_frames(str(path), short_side=256, crop=None))
    assert frames[0].shape == (256, 341, 3)
    cropped = list(decoding.iter_frames(str(path)))
    assert cropped[0].shape == (224, 224, 3) and cropped[0].dtype == np.uint8
    # the centre crop keeps the black/white border in the middle: columns 0..111 black, 112.. white
    assert cropped[0][:, :100].mean() < 20 and cropped[0][:, 124:].mean() > 235


def test_rgb_channel_order(tmp_path):
    clip = np.zeros((2, 32, 32, 3), np.uint8)
    clip[..., 0] = 250  # pure red
    frame = next(decoding.iter_frames(str(write_video(tmp_path / "red.avi", clip)), short_side=None, crop=None))
    assert frame[..., 0].mean() > 200 and frame[..., 2].mean() < 50


def test_windows_cover_the_stream():
    frames = [np.full((1,), i) for i in range(10)]
    starts = [int(w[0, 0]) for w in decoding.iter_windows(iter(frames), window=4, stride=3)]
    assert starts == [0, 3, 6]  # the last window is aligned to the end: frames 6..9
    windows = list(decoding.iter_windows(iter(frames), window=4, stride=4))
    assert [int(w[0, 0]) for w in windows] == [0, 4, 6] and all(len(w) == 4 for w in windows)
    exact = list(decoding.iter_windows(iter(frames[:8]), window=4, stride=4))
    assert [int(w[0, 0]) for w in exact] == [0, 4]


def test_short_streams_are_looped():
    frames = [np.full((1,), i) for i in range(4)]
    (clip,) = decoding.iter_windows(iter(frames), window=16, stride=8, min_frames=9)
    assert clip[:, 0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    (clip,) = decoding.iter_windows(iter(frames * 3), window=16, stride=8, min_frames=9)
    assert len(clip) == 12


def test_missing_empty_and_foreign_files_are_named(tmp_path):
    with pytest.raises(VideoError, match=r"nothere\.mp4: no such file"):
        next(decoding.iter_frames(str(tmp_path / "nothere.mp4")))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: empty file"):
        next(decoding.iter_frames(str(empty)))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match=r"junk\.mp4: not a video"):
        list(decoding.iter_frames(str(junk)))
    with pytest.raises(VideoError, match="is a folder"):
        next(decoding.iter_frames(str(tmp_path)))


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    """Permissions say so before OpenCV would call it "not a video" (faked: the tests may run as root, whom
    permissions do not stop)."""
    import os

    locked = str(counter_video(tmp_path / "locked.avi", 3, 25))
    readable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: str(path) != locked and readable(path, mode, **kw))
    with pytest.raises(VideoError, match=r"locked\.avi: no permission to read it"):
        next(decoding.iter_frames(locked))


def test_truncated_video_uses_what_decodes(tmp_path, caplog):
    path = counter_video(tmp_path / "cut.avi", 40, fps=25, size=(64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    indices = read_indices(path, fps=None)
    assert 0 < len(indices) < 40 and indices == list(range(len(indices)))
    assert "cut.avi: decoded only" in caplog.text


def test_frames_smaller_than_the_crop(tmp_path):
    path = write_video(tmp_path / "tiny.avi", np.zeros((3, 16, 16, 3), np.uint8))
    with pytest.raises(VideoError, match="smaller than the 224 crop"):
        list(decoding.iter_frames(str(path), short_side=None))


def test_variable_frame_rate_is_resampled_by_timestamps(tmp_path):
    """12 frames shown at uneven times over 1 s: at 25 fps, frame k is the one on screen at 40k ms; 26 in all."""
    times_ms = [0, 20, 100, 120, 300, 320, 340, 600, 610, 700, 900, 1000]
    clip = np.stack([np.full((48, 64, 3), 20 * i, np.uint8) for i in range(len(times_ms))])
    path = write_vfr_video(tmp_path / "vfr.mkv", clip, times_ms)
    levels = [int(round(frame.mean() / 20)) for frame in decoding.iter_frames(path, short_side=None, crop=None)]
    assert levels == [max(i for i, t in enumerate(times_ms) if t <= 40 * k) for k in range(26)]
    assert levels != list(range(len(times_ms)))  # not simply every decoded frame


def test_load_video_gives_what_i3d_predict_feeds_the_model(tmp_path):
    from i3d_keras import inference, load_video, preprocess_input

    clip = np.random.default_rng(3).integers(0, 256, (40, 240, 320, 3), np.uint8)
    clip[:, 100:140] = 255  # something with structure, so a wrong crop or resize shows
    path = str(write_video(tmp_path / "clip.avi", clip, fps=30))
    frames = load_video(path)
    assert frames.dtype == np.uint8 and frames.shape == (34, 224, 224, 3)  # 40 frames at 30 fps: 1.33 s, 34 frames at 25 fps
    window = next(inference.video_windows(path))  # i3d predict's own decoding, resampling and scaling
    np.testing.assert_array_equal(preprocess_input(frames[None]), window)
    np.testing.assert_array_equal(load_video(path, max_frames=10), frames[:10])
    assert load_video(path, fps=None).shape[0] == 40 and load_video(path, size=112).shape == (34, 112, 112, 3)
    with pytest.raises(VideoError, match="missing.avi"):
        load_video(str(tmp_path / "missing.avi"))
