"""Each FVD family's pipeline, written here from its public code (read, not copied), against our protocols:

- VideoGPT (``videogpt/data.py`` preprocess, ``videogpt/fvd/fvd.py``, its ``pytorch_i3d.py`` with eps 1e-5);
- TATS (``tats/fvd/fvd.py``: 224x224 bilinear, [-1, 1], VideoGPT's I3D and arithmetic);
- content-debiased-fvd's I3D path (``cdfvd/third_party/i3d/utils.py`` preprocess, ``metric_utils.FeatureStats``
  moments, ``scipy.linalg.sqrtm``);
- common_metrics_on_video_quality's ``styleganv`` and ``videogpt`` methods (``fvd/styleganv/fvd.py``,
  ``fvd/videogpt/fvd.py``).

Their I3D is ``reference_torch_i3d`` with the family's epsilon and pool padding, loading our ``pytorch-i3d``
export. Their Fréchet arithmetic is written in float64: their code runs it in float32 on the device, which moves
their own number by 0.01-1.5 % between BLAS libraries (docs/fvd.md), so no float32 result is reproducible to 1e-5.
"""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from i3d_keras import fvd, torch_i3d
from i3d_keras.data.synthetic import render_clip
from reference_torch_i3d import ReferenceInceptionI3d, torch_logits

VIDEOS, FRAMES = 4, 16  # per side; 16 frames: every protocol's clip, so the clip is the whole video


# -- the families' preprocessing: uint8 [N, T, H, W, 3] -> float32 [N, 3, T, 224, 224] -----------------------

def videogpt_preprocess(videos, resolution=224):
    """videogpt/data.py ``preprocess``: /255, short side to 224 (long side by ceil), centre crop, - 0.5."""
    out = []
    for video in videos:
        x = torch.from_numpy(video).permute(0, 3, 1, 2).float() / 255.0
        h, w = x.shape[2:]
        scale = resolution / min(h, w)
        size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        top, left = (x.shape[2] - resolution) // 2, (x.shape[3] - resolution) // 2
        out.append(x[:, :, top:top + resolution, left:left + resolution].permute(1, 0, 2, 3) - 0.5)
    return torch.stack(out)


def tats_preprocess(videos):
    """tats/fvd/fvd.py ``preprocess`` (and cdfvd's ``preprocess_i3d``): every frame to 224x224, 2 x / 255 - 1."""
    n, t, h, w, c = videos.shape
    frames = torch.from_numpy(videos).float().flatten(end_dim=1).permute(0, 3, 1, 2)
    frames = F.interpolate(frames, size=(224, 224), mode="bilinear", align_corners=False)
    return 2.0 * frames.view(n, t, c, 224, 224).transpose(1, 2) / 255.0 - 1


def cmvq_styleganv_preprocess(videos):
    """common_metrics_on_video_quality ``styleganv``: [0, 1] floats (u / 255, VideoGPT's first step), VideoGPT's
    resize and crop, then ``(x - 0.5) * 2``: VideoGPT's result doubled."""
    return videogpt_preprocess(videos) * 2


def cmvq_videogpt_preprocess(videos):
    """common_metrics_on_video_quality ``videogpt``: [0, 1] floats back to uint8 (x * 255, truncated), VideoGPT's
    preprocess, doubled."""
    floats = torch.from_numpy(videos).float() / 255.0
    return videogpt_preprocess((floats * 255).numpy().astype(np.uint8)) * 2


# -- their Fréchet arithmetic, in float64 ---------------------------------------------------------------------

def tf_gan_svd_distance(x1, x2):
    """videogpt/fvd/fvd.py ``frechet_distance`` (TATS' and cmvq's copies are the same): covariance over N - 1,
    tf-gan's symmetric square roots by SVD (singular values below 1e-10 kept)."""
    x1, x2 = torch.as_tensor(x1, dtype=torch.float64), torch.as_tensor(x2, dtype=torch.float64)

    def covariance(m):
        centred = m.t() - m.t().mean(dim=1, keepdim=True)
        return centred @ centred.t() / (m.shape[0] - 1)

    def root(matrix):
        u, s, v = torch.svd(matrix)
        return u @ torch.diag(torch.where(s < 1e-10, s, torch.sqrt(s))) @ v.t()

    sigma, sigma_w = covariance(x1), covariance(x2)
    sqrt_sigma = root(sigma)
    trace = torch.trace(sigma + sigma_w) - 2.0 * torch.trace(root(sqrt_sigma @ sigma_w @ sqrt_sigma))
    return float(trace + torch.sum((x1.mean(0) - x2.mean(0)) ** 2))


def sqrtm_distance(fake, real, population):
    """scipy.linalg.sqrtm of the covariance product: cdfvd's (``FeatureStats`` raw moments, over N) or StyleGAN-V's
    (``np.cov``, over N - 1) as cmvq's styleganv copies it."""
    def stats(x):
        x = np.asarray(x, np.float64)
        if population:
            mean = x.sum(0) / len(x)
            return mean, x.T @ x / len(x) - np.outer(mean, mean)
        return x.mean(0), np.cov(x, rowvar=False)

    (mu_fake, sigma_fake), (mu_real, sigma_real) = stats(fake), stats(real)
    root = scipy.linalg.sqrtm(sigma_real @ sigma_fake)
    return float(np.real(np.square(mu_real - mu_fake).sum() + np.trace(sigma_fake + sigma_real - root * 2)))


FAMILIES = {  # protocol: (preprocess, the I3D's epsilon, its pool padding, the Fréchet arithmetic)
    "videogpt": (videogpt_preprocess, 1e-5, 0.0, tf_gan_svd_distance),
    "tats": (tats_preprocess, 1e-5, 0.0, tf_gan_svd_distance),
    "cd-fvd": (tats_preprocess, 1e-5, 0.0, lambda real, fake: sqrtm_distance(fake, real, population=True)),
    "cmvq-styleganv": (cmvq_styleganv_preprocess, 1e-3, -float("inf"),
                       lambda real, fake: sqrtm_distance(fake, real, population=False)),
    "cmvq-videogpt": (cmvq_videogpt_preprocess, 1e-5, 0.0, tf_gan_svd_distance),
}


@pytest.fixture(scope="module")
def videos():
    """Real and generated stand-ins, uint8 [4, 16, 64, 80, 3]: other motions, and noise on the generated side."""
    rng = np.random.default_rng(32)
    make = lambda seed: np.stack([render_clip(i % 5, frames=FRAMES, size=80, seed=seed + i)[:, 8:72]  # noqa: E731
                                  for i in range(VIDEOS)])
    real, fake = make(0), make(100)
    fake[..., 1] = np.clip(fake[..., 1].astype(int) + rng.integers(0, 50, fake.shape[:-1]), 0, 255)
    return {"real": real, "fake": fake}


@pytest.fixture(scope="module")
def their_i3d(kinetics_i3d, tmp_path_factory):
    """``{(epsilon, pad value): InceptionI3d}`` loading our pytorch-i3d export (what ``i3d export --format
    pytorch-i3d`` writes) as each family loads ``i3d_pretrained_400.pt``."""
    path = tmp_path_factory.mktemp("families") / "i3d_pretrained_400.pt"
    torch_i3d.save(kinetics_i3d, str(path), "pytorch-i3d")
    state = torch.load(path, weights_only=True)
    models = {}
    for _, epsilon, pad_value, _ in FAMILIES.values():
        if (epsilon, pad_value) not in models:
            models[epsilon, pad_value] = ReferenceInceptionI3d(epsilon=epsilon, pad_value=pad_value)
            models[epsilon, pad_value].load_state_dict(state, strict=True)
    return models


@pytest.fixture(scope="module")
def detectors(kinetics_i3d):
    """Our detector per epsilon: DeepMind's, and ``fvd.detector("videogpt")``."""
    return {1e-3: kinetics_i3d, 1e-5: fvd.detector("videogpt")}


def relative(ours, theirs):
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.fixture(scope="module")
def computed():
    """Embeddings already computed, by (protocol's preprocess, epsilon): TATS and cd-fvd share theirs."""
    return {}


@pytest.mark.parametrize("protocol", list(FAMILIES))
def test_protocol_equals_the_family_s_own_pipeline(protocol, videos, their_i3d, detectors, computed):
    preprocess, epsilon, pad_value, distance = FAMILIES[protocol]
    assert fvd.PROTOCOLS[protocol].epsilon == epsilon
    key = (preprocess, fvd.PROTOCOLS[protocol].resize, fvd.PROTOCOLS[protocol].value_range, epsilon)
    if key not in computed:
        theirs, ours = {}, {}
        for side, clips in videos.items():
            with torch.no_grad():
                theirs[side] = their_i3d[epsilon, pad_value].eval()(preprocess(clips)).numpy()
            kept = []
            ours[side] = (fvd.statistics(clips, protocol, model=detectors[epsilon], keep=kept), np.concatenate(kept))
        computed[key] = theirs, ours
    theirs, ours = computed[key]
    for side in videos:
        assert relative(ours[side][1], theirs[side]) <= 1e-5, (side, relative(ours[side][1], theirs[side]))
    their_fvd = distance(theirs["real"], theirs["fake"])
    our_fvd = fvd.fvd(ours["real"][0], ours["fake"][0], protocol)  # fvd.fvd of the statistics fvd.statistics made
    assert our_fvd == pytest.approx(their_fvd, rel=1e-5) and their_fvd > 1


def test_the_families_resize_as_their_python_computes_it():
    """VideoGPT's long side is ``ceil(long * 224 / short)`` in float64: a square 100x100 frame comes out 225 rows
    high and its crop starts at row 0; 128x171 goes to 224x300 (299.25 rounded up). A size or offset off by one
    differs by about 0.5 on these noise frames; what is left is the float32 source coordinate (1e-7 of 320 px)
    times noise gradients of up to 2 per pixel."""
    rng = np.random.default_rng(7)
    for size in ((100, 100), (128, 171), (171, 128), (240, 320)):
        video = rng.integers(0, 256, (1, 2, *size, 3), dtype=np.uint8)
        for protocol, (preprocess, *_) in FAMILIES.items():
            ours = fvd.preprocess(video, protocol).numpy()
            theirs = preprocess(video).permute(0, 2, 3, 4, 1).numpy()
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4, err_msg=f"{protocol} {size}")


def test_a_detector_of_another_epsilon_is_refused(videos, detectors):
    with pytest.raises(ValueError, match=r"epsilon is 0.001, the 'tats' protocol's is 1e-05: build it with "
                                         r"fvd.detector\('tats'\)"):
        fvd.embeddings(videos["real"][:1], "tats", model=detectors[1e-3])


def test_the_torchscript_detector_carries_the_protocol_s_epsilon(videos, their_i3d, detectors, tmp_path):
    """``torch_i3d.save`` (what ``i3d export --format torchscript`` writes) of ``fvd.detector("tats")`` runs as
    TATS' I3D, under bare ``torch.jit.load``."""
    path = tmp_path / "i3d_torchscript.pt"
    torch_i3d.save(detectors[1e-5], str(path), "torchscript")
    scripted = torch.jit.load(str(path))
    clips = tats_preprocess(videos["fake"][:2])
    with torch.no_grad():
        got = scripted(clips, return_features=True).numpy()
        expected = their_i3d[1e-5, 0.0].eval()(clips).numpy()
        deepmind = their_i3d[1e-3, -float("inf")].eval()(clips).numpy()
    assert relative(got, expected) <= 1e-5 and relative(deepmind, expected) > 1e-4  # the epsilon shows


def test_statistics_of_the_old_videogpt_definition_are_refused_in_one_line(tmp_path):
    """Manifests made before the epsilon was a protocol field were computed with DeepMind's 1e-3."""
    old = {key: value for key, value in fvd.protocol_record("videogpt").items() if key != "epsilon"}
    old.update(clip_start="first", videos=None)
    stats = fvd.Statistics.of(np.random.default_rng(0).normal(size=(5, 400)), "videogpt")
    stats.manifest = {"protocol": old}
    path = stats.save(str(tmp_path / "old_videogpt.npz"))
    with pytest.raises(fvd.ManifestMismatch) as error:
        fvd.Statistics.load(path, "videogpt")
    message = str(error.value)
    assert "\n" not in message and path in message and "epsilon 0.001 (now 1e-05)" in message
    name_only = fvd.Statistics.of(np.ones((2, 400)), "videogpt")  # the oldest files: a protocol name, no manifest
    with pytest.raises(fvd.ManifestMismatch, match="epsilon 0.001"):
        fvd.Statistics.load(name_only.save(str(tmp_path / "name_only.npz")), "videogpt")
    original = fvd.Statistics.of(np.ones((2, 400)), "original")  # still valid: it was computed with 1e-3
    assert fvd.Statistics.load(original.save(str(tmp_path / "original.npz")), "original").count == 2
