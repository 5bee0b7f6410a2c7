"""Clip sampling and augmentation ops, checked against hand-computed indices and pixels."""

import numpy as np
import tensorflow as tf

from i3d_keras.data import transforms


def test_window_indices_centre_random_and_looped():
    np.testing.assert_array_equal(transforms.window_indices(10, 4, training=False), [3, 4, 5, 6])
    np.testing.assert_array_equal(transforms.window_indices(3, 7, training=False), [0, 1, 2, 0, 1, 2, 0])
    starts = {int(transforms.window_indices(10, 4, training=True)[0]) for _ in range(200)}
    assert starts == set(range(7))  # every start 0..6, nothing beyond
    looped = transforms.window_indices(3, 5, training=True)
    np.testing.assert_array_equal(looped, [0, 1, 2, 0, 1])


def ramp_clip(frames=3, height=6, width=8, channels=2):
    """clip[t, y, x, c] = 100 t + 10 y + x + c: every pixel says where it came from."""
    t, y, x, c = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    return (100 * t + 10 * y + x + c).astype(np.uint8)


def test_flip_negates_flow_x_and_keeps_y():
    clip = transforms.normalize(ramp_clip())
    flipped = transforms.flip(clip, is_flow=True).numpy()
    np.testing.assert_allclose(flipped[..., 0], -clip.numpy()[:, :, ::-1, 0])
    np.testing.assert_allclose(flipped[..., 1], clip.numpy()[:, :, ::-1, 1])
    rgb = transforms.normalize(ramp_clip(channels=3))
    np.testing.assert_allclose(transforms.flip(rgb, is_flow=False).numpy(), rgb.numpy()[:, :, ::-1])
    # flipped in the uint8 code (255 - q), then normalised: exactly the same
    np.testing.assert_allclose(transforms.normalize(transforms.flip(ramp_clip(), is_flow=True)), flipped, atol=1e-6)


def test_random_flip_happens_about_half_the_time():
    clip = transforms.normalize(ramp_clip())
    flips = sum(int(transforms.random_flip(clip, True)[0, 0, 0, 1] != clip[0, 0, 0, 1]) for _ in range(200))
    assert 70 < flips < 130


def test_crops_take_the_same_square_from_every_frame():
    clip = ramp_clip(height=6, width=8)
    centre = transforms.center_crop(clip, 4).numpy()
    np.testing.assert_array_equal(centre, clip[:, 1:5, 2:6])
    for _ in range(20):
        crop = transforms.random_crop(clip, 4).numpy()
        top, left = divmod(int(crop[0, 0, 0, 0]), 10)
        np.testing.assert_array_equal(crop, clip[:, top:top + 4, left:left + 4])
    small = transforms.center_crop(np.zeros((2, 3, 5, 3), np.uint8), 4)  # upscaled so that the crop fits
    assert small.shape == (2, 4, 4, 3)
    resized = transforms.random_resized_crop(tf.constant(clip), 5)
    assert resized.shape == (3, 5, 5, 2) and resized.dtype == tf.uint8


def test_augment_outputs_float_in_range():
    clip = ramp_clip(height=10, width=12, channels=3)
    for training, resized in ((True, False), (True, True), (False, False)):
        out = transforms.augment(tf.constant(clip), training, 8, is_flow=False, resized_crop=resized)
        assert out.shape == (3, 8, 8, 3) and out.dtype == tf.float32
        assert -1 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1
        raw = transforms.augment(tf.constant(clip), training, 8, is_flow=False, resized_crop=resized, to_float=False)
        assert raw.shape == (3, 8, 8, 3) and raw.dtype == tf.uint8
    np.testing.assert_allclose(transforms.augment(tf.constant(clip), False, 8, False).numpy(),
                               clip[:, 1:9, 2:10] / 127.5 - 1, atol=1e-6)
