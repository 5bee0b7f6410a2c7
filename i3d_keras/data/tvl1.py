"""TV-L1 optical flow in TensorFlow: OpenCV contrib's ``DualTVL1OpticalFlow``, batched over frame pairs, compiled.

The method is Zach, Pock & Bischof (2007) in the form OpenCV implements it (``modules/optflow/src/tvl1flow.cpp``,
after Sánchez, Meinhardt-Llopis & Facciolo, IPOL 2013), with OpenCV's defaults and its details kept:

- a pyramid of ``nscales`` levels, each resized from the one above by ``scale_step`` (bilinear, OpenCV's
  half-pixel mapping, edges clamped), stopping before a side would fall under 16 pixels;
- per level, ``warps`` warpings of the second frame and of its centred gradient, bicubic (a = -0.75) at the
  exact point as OpenCV 5's ``remap`` samples, zero outside the frame;
- per warping up to ``outer_iterations`` x ``inner_iterations`` iterations; a 5x5 median filter (edges
  replicated) of the flow before each outer iteration; the dual variables carried over between warpings;
- a warping ends when the squared change of the flow over the level, summed, is at most
  ``epsilon**2 * height * width``. In a batch each pair stops by this rule of its own: a pair that has
  converged is frozen while the others go on, so every pair gets the flow it would get alone.

No Keras and no I/O: pure TensorFlow functions on ``[batch, height, width]`` float32 tensors, and one compiled
entry point, ``tvl1_batch``. ``gamma`` (OpenCV's illumination term) is not implemented: its default, 0, is what
the I3D flow weights saw.
"""

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True)
class Parameters:
    """OpenCV's ``DualTVL1OpticalFlow`` parameters, named as OpenCV names them, with OpenCV's defaults."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    median_filtering: int = 5

    def __post_init__(self):
        if self.median_filtering not in (1, 5):
            raise ValueError(f"median_filtering must be 5 (OpenCV's default) or 1 (off), not {self.median_filtering}")
        if not 0 < self.scale_step < 1 or min(self.nscales, self.warps, self.inner_iterations,
                                             self.outer_iterations) < 1:
            raise ValueError(f"invalid TV-L1 parameters: {self}")


def _tf():
    import tensorflow as tf

    return tf


# --- the pyramid ---------------------------------------------------------------------------------------------------

def pyramid_sizes(height, width, nscales=5, scale_step=0.8):
    """The ``(height, width)`` of each pyramid level, finest first, as OpenCV sizes them (each level is the one
    above times ``scale_step``, rounded; the pyramid stops before a side would fall under 16)."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h, w = (int(np.rint(side * scale_step)) for side in sizes[-1])
        if h < 16 or w < 16:
            break
        sizes.append((h, w))
    return sizes


def _linear_taps(source, target, scale):
    """OpenCV's bilinear resize along one axis: for each of ``target`` outputs, the two source indices and their
    weights (``scale``: source pixels per target pixel, as OpenCV computes it)."""
    position = ((np.arange(target) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = (position - first).astype(np.float32)
    low, high = first < 0, first >= source - 1
    fraction[low | high] = 0
    first = np.clip(first, 0, source - 1)
    second = np.minimum(first + 1, source - 1)
    return first, second, (1 - fraction).astype(np.float32), fraction


def resize_linear(images, size, scale=None):
    """``images`` ``[B, H, W]`` resized to ``size`` as OpenCV's ``resize(..., INTER_LINEAR)`` does: the source
    point of output pixel ``d`` is ``(d + 0.5) * scale - 0.5``, edges clamped. ``scale`` (source pixels per output
    pixel) defaults to the ratio of the sizes, as when OpenCV is given an output size; OpenCV given ``fx`` uses
    ``1 / fx``."""
    tf = _tf()
    height, width = images.shape[1], images.shape[2]
    scale_y, scale_x = (scale, scale) if scale else (1 / (size[0] / height), 1 / (size[1] / width))
    x0, x1, wx0, wx1 = _linear_taps(width, size[1], scale_x)
    rows = tf.gather(images, x0, axis=2) * wx0 + tf.gather(images, x1, axis=2) * wx1
    y0, y1, wy0, wy1 = _linear_taps(height, size[0], scale_y)
    return tf.gather(rows, y0, axis=1) * wy0[:, None] + tf.gather(rows, y1, axis=1) * wy1[:, None]


# --- finite differences ---------------------------------------------------------------------------------------------
# On ``[..., H, W]`` tensors (x is the last axis, y the one before); only slices and zero padding, which XLA fuses into the loops around them.

def _pad(images, axis, before, after):
    widths = [[0, 0]] * len(images.shape)
    widths[axis] = [before, after]
    return _tf().pad(images, widths)


def _take(images, axis, start, stop):
    index = [slice(None)] * len(images.shape)
    index[axis] = slice(start, stop)
    return images[tuple(index)]


def _edged(images, axis, width):
    """``images`` with ``width`` copies of the first and of the last slice along ``axis`` added (OpenCV's
    replicated border)."""
    first, last = _take(images, axis, 0, 1), _take(images, axis, -1, None)
    return _tf().concat([first] * width + [images] + [last] * width, axis=axis)


def centered_gradient(image):
    """OpenCV's ``centeredGradient``: half the central difference; at the edges half the one-sided difference."""
    def along(axis):
        edged = _edged(image, axis, 1)
        return 0.5 * (_take(edged, axis, 2, None) - _take(edged, axis, 0, -2))

    return along(-1), along(-2)


def forward_gradient(field):
    """OpenCV's ``forwardGradient``: the forward difference, 0 on the last column (x) and the last row (y)."""
    return (_pad(_take(field, -1, 1, None) - _take(field, -1, 0, -1), -1, 0, 1),
            _pad(_take(field, -2, 1, None) - _take(field, -2, 0, -1), -2, 0, 1))


def divergence(v1, v2):
    """OpenCV's ``divergence``: backward differences, the values left of the first column and above the first row
    taken as 0."""
    return v1 - _pad(_take(v1, -1, 0, -1), -1, 1, 0) + v2 - _pad(_take(v2, -2, 0, -1), -2, 1, 0)


# --- the 5x5 median -------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def median_network(count=25):
    """Compare-exchange pairs ``(i, j)`` (min to ``i``, max to ``j``) after which position ``count // 2`` holds
    the median of ``count`` values: Batcher's odd-even merge sort of the next power of two, cut to ``count``
    inputs and pruned to the comparators the middle output depends on."""
    size = 1 << (count - 1).bit_length()
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    pairs = [(i, j) for i, j in pairs if j < count]  # the padding (+inf) never moves
    needed, kept = {count // 2}, []
    for i, j in reversed(pairs):
        if i in needed or j in needed:
            kept.append((i, j))
            needed |= {i, j}
    return tuple(reversed(kept))


def median_blur5(field):
    """OpenCV's ``medianBlur(field, 5)`` on float ``[B, H, W]``: the median of each 5x5 window, edges replicated."""
    tf = _tf()
    height, width = field.shape[1], field.shape[2]
    padded = _edged(_edged(field, 1, 2), 2, 2)
    values = [padded[:, dy:dy + height, dx:dx + width] for dy in range(5) for dx in range(5)]
    for i, j in median_network(25):
        values[i], values[j] = tf.minimum(values[i], values[j]), tf.maximum(values[i], values[j])
    return values[12]


# --- warping --------------------------------------------------------------------------------------------------------

def _cubic_weights(fraction):
    """OpenCV's bicubic weights (a = -0.75) of the four taps around a point ``fraction`` past the second one."""
    a = -0.75
    w0 = ((a * (fraction + 1) - 5 * a) * (fraction + 1) + 8 * a) * (fraction + 1) - 4 * a
    w1 = ((a + 2) * fraction - (a + 3)) * fraction * fraction + 1
    w2 = ((a + 2) * (1 - fraction) - (a + 3)) * (1 - fraction) * (1 - fraction) + 1
    return w0, w1, w2, 1 - w0 - w1 - w2


def warp_bicubic(images, u1, u2):
    """``images`` ``[B, H, W, C]`` sampled at ``(x + u1, y + u2)`` as OpenCV's ``remap(..., INTER_CUBIC)`` does
    with its default constant border: taps outside the image read as 0. (OpenCV 5 samples at the exact point;
    OpenCV 4 rounded it to 1/32 pixel.)"""
    tf = _tf()
    batch, height, width, channels = images.shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = grid_x + u1, grid_y + u2
    left, top = tf.floor(x), tf.floor(y)
    weight_x, weight_y = _cubic_weights(x - left), _cubic_weights(y - top)
    left, top = tf.cast(left, tf.int32) - 1, tf.cast(top, tf.int32) - 1
    flat = tf.reshape(images, [-1, channels])
    base = (tf.range(batch) * height * width)[:, None, None]
    total = 0.0
    for row in range(4):
        tap_y = top + row
        inside_y = (tap_y >= 0) & (tap_y < height)
        line = 0.0
        for column in range(4):
            tap_x = left + column
            inside = inside_y & (tap_x >= 0) & (tap_x < width)
            index = base + tf.clip_by_value(tap_y, 0, height - 1) * width + tf.clip_by_value(tap_x, 0, width - 1)
            taps = tf.gather(flat, index) * tf.cast(inside, images.dtype)[..., None]
            line += taps * weight_x[column][..., None]
        total += line * weight_y[row][..., None]
    return total


# --- one level ------------------------------------------------------------------------------------------------------

def solve_level(i0, i1, u, parameters, counts):
    """The flow ``u`` ``[B, 2, H, W]`` at one pyramid level (OpenCV's ``procOneScale``), from the initial ``u``.

    Inside, every field is its own ``[B, H, W]`` tensor (the flow ``u1``, ``u2``; the dual variables ``p11``,
    ``p12``, ``p21``, ``p22``, flow component then direction): XLA fuses an iteration over separate tensors
    into fewer passes over memory than over stacked ones, which it materialises (1.3x faster, measured).
    ``counts`` ``[B]`` int32 accumulates the inner iterations each pair ran. Returns ``(u, counts)``.
    """
    tf = _tf()
    P = parameters
    batch, height, width = i0.shape
    threshold = np.float32(P.epsilon * P.epsilon * height * width)
    l_t, taut, theta = np.float32(P.lambda_ * P.theta), np.float32(P.tau / P.theta), np.float32(P.theta)
    tiny = np.finfo(np.float32).eps
    i1x, i1y = centered_gradient(i1)
    sources = tf.stack([i1, i1x, i1y], axis=-1)

    def iteration(u1, u2, p11, p12, p21, p22, gx, gy, inverse, rho_c):
        """One inner iteration: OpenCV's estimateV, divergence, estimateU, forwardGradient and
        estimateDualVariables, in OpenCV's order of operations, with one rewrite: OpenCV's three cases of the
        thresholding step (``l_t`` where ``rho < -l_t * grad``, ``-l_t`` where ``rho > l_t * grad``, else
        ``-rho / grad``) are ``-rho / grad`` clipped to ``[-l_t, l_t]``, with ``1 / grad`` taken once per outer
        iteration (``inverse``; 1e30 where ``grad`` is under float32's epsilon, where the step is multiplied by
        a gradient under 4e-4 and so moves the flow by less than 2e-5 px). The same values within a rounding;
        two fields fewer to read in each pass, and no division, which XLA would not repeat in each pass that
        needs it (8 % faster, measured)."""
        rho = rho_c + (gx * u1 + gy * u2)
        step = tf.clip_by_value(-rho * inverse, -l_t, l_t)
        new_u1 = (u1 + step * gx) + theta * divergence(p11, p12)
        new_u2 = (u2 + step * gy) + theta * divergence(p21, p22)
        error = tf.reduce_sum(tf.square(new_u1 - u1) + tf.square(new_u2 - u2), axis=[1, 2])
        (g11, g12), (g21, g22) = forward_gradient(new_u1), forward_gradient(new_u2)
        norm1 = 1 + taut * tf.sqrt(g11 * g11 + g12 * g12)
        norm2 = 1 + taut * tf.sqrt(g21 * g21 + g22 * g22)
        return (new_u1, new_u2, (p11 + taut * g11) / norm1, (p12 + taut * g12) / norm1,
                (p21 + taut * g21) / norm2, (p22 + taut * g22) / norm2), error

    def inner(fields, active, counts, data):
        new_fields, error = iteration(*fields, *data)
        if batch > 1:  # a pair that has converged keeps its fields as they are
            frozen = tf.reshape(active, [batch, 1, 1])
            new_fields = tuple(tf.where(frozen, new, old) for new, old in zip(new_fields, fields))
        return new_fields, active & (error > threshold), counts + tf.cast(active, tf.int32), data

    def outer(n, fields, active, counts, warping):
        if P.median_filtering > 1:
            frozen = tf.reshape(active, [batch, 1, 1])
            fields = tuple(tf.where(frozen, median_blur5(field), field) for field in fields[:2]) + fields[2:]
        # What the iterations read of the warping is derived here, in each outer iteration, from the warped
        # planes the loop carries: derived once per warping, XLA would recompute the 16-tap bicubic sums for each
        # of these fields (2.5 ms per warping at 224x224). Tying them to the loop counter ``n`` (a select
        # that always takes the first branch) keeps XLA from hoisting them out of the loop.
        planes = tf.where(n >= 0, warping[0], 0.0)
        (i1w, gx, gy), (u1, u2) = tf.unstack(planes), warping[1:]
        grad = gx * gx + gy * gy
        inverse = tf.where(grad > tiny, 1 / tf.maximum(grad, tiny), np.float32(1e30))
        data = (gx, gy, inverse, i1w - gx * u1 - gy * u2 - i0)
        return (n + 1,) + tf.while_loop(
            lambda n, fields, active, *_: (n < P.inner_iterations) & tf.reduce_any(active),
            lambda n, *state: (n + 1,) + inner(*state), (0, fields, active, counts, data))[1:4] + (warping,)

    def warp(fields, counts):
        u1, u2 = fields[:2]
        planes = tf.transpose(warp_bicubic(sources, u1, u2), [3, 0, 1, 2])  # [I1w, I1wx, I1wy]
        state = (fields, tf.ones([batch], tf.bool), counts, (planes, u1, u2))
        fields, _, counts, _ = tf.while_loop(
            lambda n, fields, active, *_: (n < P.outer_iterations) & tf.reduce_any(active),
            outer, (0,) + state)[1:]
        return fields, counts

    dual = tf.zeros([batch, height, width])
    fields = (u[:, 0], u[:, 1], dual, dual, dual, dual)
    _, fields, counts = tf.while_loop(lambda n, *_: n < P.warps, lambda n, *state: (n + 1,) + warp(*state),
                                      (0, fields, counts))
    return tf.stack(fields[:2], axis=1), counts


def _flow(previous, following, parameters):
    """The uncompiled computation of ``tvl1_batch``: float32 ``[B, H, W]`` frames on OpenCV's 0..255 scale."""
    tf = _tf()
    P = parameters
    batch, height, width = previous.shape
    sizes = pyramid_sizes(height, width, P.nscales, P.scale_step)
    levels0, levels1 = [previous], [following]
    for size in sizes[1:]:
        levels0.append(resize_linear(levels0[-1], size, 1 / P.scale_step))
        levels1.append(resize_linear(levels1[-1], size, 1 / P.scale_step))
    u = tf.zeros([batch, 2, *sizes[-1]], tf.float32)
    counts = tf.zeros([batch], tf.int32)
    for level in reversed(range(len(sizes))):
        u, counts = solve_level(levels0[level], levels1[level], u, P, counts)
        if level:
            u = tf.stack([resize_linear(u[:, c], sizes[level - 1]) for c in range(2)], axis=1)
            u = u * np.float32(1 / P.scale_step)
    return tf.transpose(u, [0, 2, 3, 1]), counts


@functools.lru_cache(maxsize=None)
def compiled(parameters=Parameters()):
    """The XLA-compiled ``(previous, following) -> (flow, inner iterations per pair)`` for ``parameters`` (one
    function; TensorFlow compiles it once per input shape, 7-15 s on a CPU)."""
    tf = _tf()
    return tf.function(lambda previous, following: _flow(previous, following, parameters), jit_compile=True)


CPU_STREAMS = 2
"""On a CPU, pairs go through one at a time, this many at once. Measured on 2-core AVX-512 machines: one-pair
runs stop at their own iteration counts (a batch runs until its slowest pair converges, selecting the converged
ones' fields back), and two concurrent runs fill the gaps between XLA's parallel loops. On the Intel Xeon of
the performance guide, at 256x340: 8.2 pairs/s in one stream, 11.2-11.4 in two or three, 3.1 in batches of 2
or 4 (on the AMD EPYC of an earlier version: two streams 1.6x one, batches of 2 and 4 1.6-1.8x)."""


def on_gpu():
    """Whether TensorFlow sees a GPU (then ``tvl1_batch`` runs each batch as one computation)."""
    return bool(_tf().config.list_logical_devices("GPU"))


def tvl1_batch(previous, following, parameters=Parameters(), return_iterations=False):
    """TV-L1 optical flow from each frame of ``previous`` to the frame of ``following`` at the same index, as
    OpenCV's ``DualTVL1OpticalFlow`` computes it (see the module's docstring), compiled by XLA.

    On a GPU the pairs run as one batch (each stopping by its own rule); on a CPU one pair at a time,
    ``CPU_STREAMS`` at once. A new frame size (or, on a GPU, batch size) compiles first, 7-15 s.

    Args:
        previous: grayscale frames ``[B, H, W]``, ``uint8`` (0..255) or float (0..1, scaled by 255 as OpenCV
            does); a NumPy array or a tensor. At least 3x3 pixels.
        following: the frames they move to, of the same shape and type.
        parameters: ``Parameters``; OpenCV's defaults unless given.
        return_iterations: also return the inner iterations each pair ran, summed over levels and warpings.

    Returns:
        float32 ``[B, H, W, 2]`` flow in pixels, x (rightwards) first, as a NumPy array; with
        ``return_iterations``, ``(flow, iterations [B] int32)``.

    Raises:
        ValueError: frames that are not ``[B, H, W]``, differ in shape or type, or are not finite.
    """
    previous, following = _checked_frames(previous, following)
    run = compiled(parameters)
    if on_gpu() or len(previous) == 1:
        flow, iterations = (value.numpy() for value in run(previous, following))
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(CPU_STREAMS) as pool:
            results = list(pool.map(lambda i: run(previous[i:i + 1], following[i:i + 1]), range(len(previous))))
        flow = np.concatenate([result[0].numpy() for result in results])
        iterations = np.concatenate([result[1].numpy() for result in results])
    return (flow, iterations) if return_iterations else flow


def _checked_frames(previous, following):
    """The two stacks of frames as float32 ``[B, H, W]`` NumPy arrays on OpenCV's 0..255 scale."""
    previous, following = np.asarray(previous), np.asarray(following)
    if previous.ndim != 3 or previous.shape != following.shape or previous.dtype != following.dtype:
        raise ValueError(f"TV-L1 takes two stacks of grayscale frames [B, H, W] of one shape and type, "
                         f"not {previous.shape} {previous.dtype} and {following.shape} {following.dtype}")
    if not len(previous):
        raise ValueError("TV-L1 was given no frame pairs")
    if min(previous.shape[1:]) < 3:
        raise ValueError(f"frames of {previous.shape[2]}x{previous.shape[1]} pixels are too small for TV-L1 (3x3 at least)")
    if previous.dtype == np.uint8:
        return previous.astype(np.float32), following.astype(np.float32)
    if not np.issubdtype(previous.dtype, np.floating):
        raise ValueError(f"TV-L1 takes uint8 (0..255) or float (0..1) frames, not {previous.dtype}")
    if not (np.isfinite(previous).all() and np.isfinite(following).all()):
        raise ValueError("frames with non-finite values (NaN or infinity) have no optical flow")
    return previous.astype(np.float32) * 255, following.astype(np.float32) * 255
