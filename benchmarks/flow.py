"""Optical flow speed and accuracy: TV-L1 (what the pretrained flow weights saw) against the fast DIS and Farneback,
on synthetic motion with exact ground truth, at 224x224 and at the 256-short-side size; plus the cost of storing
the uint8 fields as PNG or JPEG.

One core (OpenCV single-threaded), frame pairs/s; end-point error (EPE, px) averaged away from the borders.
Not a test: prints tables.

    python benchmarks/flow.py [--pairs 3]
"""

import argparse
import time

import numpy as np


def texture(height, width, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 2.0)
    return ((image - image.min()) / np.ptp(image) * 255).astype(np.float32)


def moved_pair(size, motion):
    """Two grayscale frames and the true flow from the first to the second (pixels, x then y).

    ``translation``: (3.4, -1.7) px everywhere; ``rotation``: 2 degrees about the centre plus a 3% zoom.
    """
    import cv2

    height, width = size
    source = texture(height + 64, width + 64)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if motion == "translation":
        true = np.stack([np.full_like(x, 3.4), np.full_like(y, -1.7)], axis=-1)
    else:
        cx, cy = width / 2, height / 2
        angle, scale = np.deg2rad(2.0), 1.03
        rx = scale * (np.cos(angle) * (x - cx) - np.sin(angle) * (y - cy)) + cx
        ry = scale * (np.sin(angle) * (x - cx) + np.cos(angle) * (y - cy)) + cy
        true = np.stack([rx - x, ry - y], axis=-1).astype(np.float32)
    # second(p + true(p)) = first(p): sample the second frame where the moved points came from (iteratively)
    first = cv2.remap(source, x + 32, y + 32, cv2.INTER_CUBIC)
    back_x, back_y = (x - true[..., 0]).astype(np.float32), (y - true[..., 1]).astype(np.float32)
    for _ in range(5):  # invert the (smooth) motion by fixed-point iteration
        moved = cv2.remap(true, back_x, back_y, cv2.INTER_LINEAR)
        back_x, back_y = (x - moved[..., 0]).astype(np.float32), (y - moved[..., 1]).astype(np.float32)
    second = cv2.remap(source, back_x + 32, back_y + 32, cv2.INTER_CUBIC)
    to_uint8 = lambda image: np.clip(image, 0, 255).astype(np.uint8)  # noqa: E731
    return to_uint8(first), to_uint8(second), true


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="timed pairs per method and size")
    args = parser.parse_args()
    import cv2

    from i3d_keras.data import flow

    cv2.setNumThreads(1)
    print("one core; EPE = mean |estimated - true flow| in px over the frame minus a 16 px border\n")
    print(f"{'method':<10} {'size':>9} {'pairs/s/core':>13} {'s/pair':>7} {'EPE translation':>16} {'EPE rotation+zoom':>18}")
    for size in ((224, 224), (256, 340)):
        pairs = {motion: moved_pair(size, motion) for motion in ("translation", "rotation")}
        for method in flow.METHODS:
            calc = flow.estimator(method)
            errors = {}
            for motion, (first, second, true) in pairs.items():
                estimate = calc(first, second)
                errors[motion] = float(np.hypot(*(estimate - true)[16:-16, 16:-16].transpose(2, 0, 1)).mean())
            first, second, _ = pairs["translation"]
            calc(first, second)
            start = time.perf_counter()
            for _ in range(args.pairs):
                calc(first, second)
            seconds = (time.perf_counter() - start) / args.pairs
            label = f"{size[0]}x{size[1]}"
            print(f"{method:<10} {label:>9} {1 / seconds:13.2f} {seconds:7.3f} {errors['translation']:16.3f} "
                  f"{errors['rotation']:18.3f}")

    first, second, _ = moved_pair((256, 340), "rotation")
    codes = flow.quantize(flow.estimator("tvl1")(first, second))
    exact = flow.dequantize(codes)
    print("\nstorage of one 256x340 TV-L1 field (x and y as 8-bit grayscale images); quantisation step 0.078 px")
    print(f"{'format':<12} {'bytes/field':>12} {'max error px':>13} {'mean error px':>14}")
    for name, extension, params in (("PNG", ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]),
                                    ("JPEG q95", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95]),
                                    ("JPEG q75", ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 75])):
        stored, size = [], 0
        for channel in range(2):
            data = cv2.imencode(extension, codes[..., channel], params)[1]
            size += len(data)
            stored.append(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
        error = np.abs(flow.dequantize(np.stack(stored, axis=-1)) - exact)
        print(f"{name:<12} {size:12d} {error.max():13.3f} {error.mean():14.4f}")


if __name__ == "__main__":
    main()
