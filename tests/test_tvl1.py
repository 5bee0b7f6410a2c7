"""TV-L1 in TensorFlow (``data.tvl1``) against OpenCV's ``DualTVL1OpticalFlow``: each building block against the
OpenCV function it stands for, the whole method against OpenCV's own noise floor on real clips and against the
true motion of synthetic pairs, the batched path against single pairs, and bad inputs."""

import os

import numpy as np
import pytest

from i3d_keras.data import decoding, flow, tvl1

SHARED_VIDEOS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "videos")


def cv2():
    return decoding._cv2()


def random_images(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.float32)


def test_pyramid_levels_are_sized_as_opencv_sizes_them():
    images = random_images((2, 61, 83))
    sizes = tvl1.pyramid_sizes(61, 83)
    assert sizes == [(61, 83), (49, 66), (39, 53), (31, 42), (25, 34)]
    assert tvl1.pyramid_sizes(40, 300) == [(40, 300), (32, 240), (26, 192), (21, 154), (17, 123)]
    assert tvl1.pyramid_sizes(24, 24) == [(24, 24), (19, 19)]  # the next, 15x15, would be under 16
    level = images
    for size in sizes[1:]:
        ours = tvl1.resize_linear(level, size, 1 / 0.8).numpy()
        theirs = np.stack([cv2().resize(image, None, fx=0.8, fy=0.8, interpolation=cv2().INTER_LINEAR)
                           for image in level])
        assert theirs.shape == ours.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
        level = theirs


def test_flow_upsampling_is_opencvs_resize_to_a_size():
    images = random_images((2, 49, 66))
    ours = tvl1.resize_linear(images, (61, 83)).numpy()
    theirs = np.stack([cv2().resize(image, (83, 61), interpolation=cv2().INTER_LINEAR) for image in images])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)  # 255-scale values: float32 rounding of the weights


def test_median_is_opencvs_5x5_median_blur():
    images = random_images((2, 37, 45))
    images[0, :6, :6] = 7.0  # ties
    ours = tvl1.median_blur5(images).numpy()
    theirs = np.stack([cv2().medianBlur(image, 5) for image in images])
    np.testing.assert_array_equal(ours, theirs)


def test_warp_is_opencvs_bicubic_remap_with_a_zero_border():
    images = random_images((2, 40, 52))
    rng = np.random.default_rng(1)
    u1, u2 = (rng.standard_normal((2, 2, 40, 52)) * 4).astype(np.float32)  # many points fall outside
    y, x = np.mgrid[0:40, 0:52].astype(np.float32)
    ours = tvl1.warp_bicubic(images[..., None], u1, u2).numpy()[..., 0]
    theirs = np.stack([cv2().remap(image, x + a, y + b, cv2().INTER_CUBIC) for image, a, b in zip(images, u1, u2)])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_finite_differences_follow_opencvs_edges():
    image = random_images((1, 5, 6))
    dx, dy = (d.numpy()[0] for d in tvl1.centered_gradient(image))
    i = image[0]
    assert dx[2, 0] == pytest.approx(0.5 * (i[2, 1] - i[2, 0])) and dx[2, 3] == pytest.approx(0.5 * (i[2, 4] - i[2, 2]))
    assert dy[4, 1] == pytest.approx(0.5 * (i[4, 1] - i[3, 1]))
    fx, fy = (d.numpy()[0] for d in tvl1.forward_gradient(image))
    assert fx[1, 5] == 0 and fy[4, 2] == 0 and fx[4, 2] == pytest.approx(i[4, 3] - i[4, 2])
    div = tvl1.divergence(image, 2 * image).numpy()[0]
    assert div[0, 0] == pytest.approx(3 * i[0, 0]) and div[2, 3] == pytest.approx(i[2, 3] - i[2, 2] + 2 * (i[2, 3] - i[1, 3]))


def moved_pair(size, motion, seed=0):
    """Two uint8 frames of a smooth texture and the true flow from the first to the second (pixels, x first):
    ``translation`` by (1.6, -0.7) px, or ``rotation`` by 2 degrees about the centre with a 3 % zoom."""
    height, width = size
    rng = np.random.default_rng(seed)
    source = cv2().GaussianBlur(rng.random((height + 32, width + 32)).astype(np.float32), (0, 0), 2.0)
    source = (source - source.min()) / np.ptp(source) * 255
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if motion == "translation":
        true = np.stack([np.full_like(x, 1.6), np.full_like(y, -0.7)], axis=-1)
    else:
        cx, cy, angle, scale = width / 2, height / 2, np.deg2rad(2.0), 1.03
        rx = scale * (np.cos(angle) * (x - cx) - np.sin(angle) * (y - cy)) + cx
        ry = scale * (np.sin(angle) * (x - cx) + np.cos(angle) * (y - cy)) + cy
        true = np.stack([rx - x, ry - y], axis=-1).astype(np.float32)
    back_x, back_y = x - true[..., 0], y - true[..., 1]
    for _ in range(5):  # second(p + true(p)) = first(p): invert the smooth motion by fixed-point iteration
        moved = cv2().remap(true, back_x, back_y, cv2().INTER_LINEAR)
        back_x, back_y = x - moved[..., 0], y - moved[..., 1]
    first = cv2().remap(source, x + 16, y + 16, cv2().INTER_CUBIC)
    second = cv2().remap(source, back_x + 16, back_y + 16, cv2().INTER_CUBIC)
    return np.clip(first, 0, 255).astype(np.uint8), np.clip(second, 0, 255).astype(np.uint8), true


def end_point_errors(estimate, reference):
    return np.hypot(*np.moveaxis(np.asarray(estimate) - np.asarray(reference), -1, 0)).ravel()


@pytest.mark.parametrize("motion", ["translation", "rotation"])
def test_known_motion_is_recovered_as_well_as_opencv_recovers_it(motion):
    first, second, true = moved_pair((64, 64), motion)
    ours = tvl1.tvl1_batch(first[None], second[None])[0]
    theirs = flow.estimator("tvl1-opencv")(first[None], second[None])[0]
    inner = (slice(8, -8), slice(8, -8))  # the borders see texture entering the frame
    ours_error = end_point_errors(ours[inner], true[inner]).mean()
    theirs_error = end_point_errors(theirs[inner], true[inner]).mean()
    assert ours_error <= theirs_error + 0.01, (ours_error, theirs_error)
    assert end_point_errors(ours, theirs).mean() < 0.02  # and it is OpenCV's field, not just as good a one


def real_pairs(name, count, width=340):
    """``count`` consecutive grayscale pairs of a shared clip as our pipeline makes them (25 fps, short side 256),
    centre-cropped to ``width`` (one compiled size for both clips)."""
    path = os.path.join(SHARED_VIDEOS, name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is not here (../shared/data)")
    frames = decoding.iter_frames(path, fps=25, short_side=256, crop=None)
    grays = np.stack([flow.to_gray(frame) for frame, _ in zip(frames, range(count + 1))])
    left = (grays.shape[2] - width) // 2
    grays = grays[:, :, left:left + width]
    return grays[:-1], grays[1:]


@pytest.mark.parametrize("name", ["mmaction2_demo.mp4", "decord_flipping_a_pancake.mkv"])
def test_real_clips_match_opencv_within_its_own_noise(name):
    previous, following = real_pairs(name, 3)
    opencv = flow.estimator("tvl1-opencv")
    reference = opencv(previous, following)
    rng = np.random.default_rng(0)
    noisy = [np.clip(frames.astype(int) + rng.integers(-1, 2, frames.shape), 0, 255).astype(np.uint8)
             for frames in (previous, following)]
    noise = end_point_errors(opencv(*noisy), reference)
    ours = end_point_errors(tvl1.tvl1_batch(previous, following), reference)
    assert ours.mean() <= 1.5 * noise.mean(), (ours.mean(), noise.mean())
    assert np.percentile(ours, 99) <= 1.5 * np.percentile(noise, 99), (np.percentile(ours, 99), np.percentile(noise, 99))


def test_a_batch_gives_each_pair_the_flow_it_gets_alone():
    # the batched computation (what a GPU runs): pairs converge at different iterations and are frozen there
    pairs = [moved_pair((64, 64), motion, seed) for motion, seed in (("translation", 0), ("rotation", 1), ("rotation", 2))]
    previous = np.stack([first for first, _, _ in pairs])
    following = np.stack([second for _, second, _ in pairs])
    still = previous[:1]  # a pair without motion converges at once, and must stay converged
    previous, following = np.concatenate([previous, still]), np.concatenate([following, still])
    together, counts = (value.numpy() for value in tvl1.compiled()(np.float32(previous), np.float32(following)))
    alone = [tvl1.tvl1_batch(a[None], b[None], return_iterations=True) for a, b in zip(previous, following)]
    assert counts[3] == 5 * 5 and not together[3].any()  # the still pair: one iteration per warp, frozen at 0
    assert len(set(counts[:3])) == 3, counts  # the others stopped at different iterations too
    for index, (field, count) in enumerate(alone):
        # the same stopping points and fields up to float rounding: XLA fuses a batch and a single pair
        # differently, and a change within rounding can stop a warp one iteration apart, which moves the field by
        # far less than OpenCV's own noise floor (0.04-0.14 px mean for +-1 grey level)
        assert abs(int(counts[index]) - int(count[0])) <= max(2, count[0] // 100), (counts, index, count)
        assert end_point_errors(together[index], field[0]).mean() < 0.03


def test_frames_can_be_float_in_zero_to_one_as_in_opencv():
    first, second, _ = moved_pair((64, 64), "translation")
    from_uint8 = tvl1.tvl1_batch(first[None], second[None])
    from_float = tvl1.tvl1_batch(first[None] / np.float32(255), second[None] / np.float32(255))
    np.testing.assert_allclose(from_float, from_uint8, atol=1e-3)


@pytest.mark.parametrize("previous, following, message", [
    (np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 9), np.uint8), r"of one shape and type, not \(2, 8, 8\) uint8"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), r"grayscale frames \[B, H, W\]"),
    (np.zeros((1, 8, 8), np.float32), np.full((1, 8, 8), np.nan, np.float32), "non-finite values"),
    (np.zeros((1, 2, 8), np.uint8), np.zeros((1, 2, 8), np.uint8), "8x2 pixels are too small"),
    (np.zeros((1, 8, 8), np.int32), np.zeros((1, 8, 8), np.int32), "not int32"),
])
def test_bad_frames_are_refused_in_one_line(previous, following, message):
    with pytest.raises(ValueError, match=message):
        tvl1.tvl1_batch(previous, following)
