"""FVD: the distance against an independent implementation, TF1's legacy resize, streaming statistics, the Keras
metric and the CLI against the Python API."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_lines, i3d
from i3d_keras import fvd
from i3d_keras.data import synthetic


def independent_fvd(real, fake, ddof=1):
    """Fréchet distance written from its definition, sharing nothing with i3d_keras.fvd: np.cov, and
    Tr(sqrt(S_r S_g)) as the sum of the square roots of the product's eigenvalues."""
    mu_r, mu_g = real.mean(axis=0), fake.mean(axis=0)
    s_r, s_g = np.cov(real, rowvar=False, ddof=ddof), np.cov(fake, rowvar=False, ddof=ddof)
    eigenvalues = np.linalg.eigvals(s_r @ s_g).real
    return float(np.sum((mu_r - mu_g) ** 2) + np.trace(s_r) + np.trace(s_g) - 2 * np.sqrt(np.clip(eigenvalues, 0, None)).sum())


@pytest.mark.parametrize("count, dimension", [(600, 40), (30, 400)])  # full rank, and rank 29 of 400 (as FVD on few videos)
def test_distance_equals_an_independent_implementation(count, dimension):
    rng = np.random.default_rng(count)
    real = rng.normal(size=(count, dimension)) * rng.uniform(0.5, 3, dimension)
    fake = rng.normal(size=(count + 7, dimension)) * rng.uniform(0.5, 3, dimension) + rng.normal(0, 0.4, dimension)
    expected = independent_fvd(real, fake)
    assert fvd.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-6)
    population = fvd.frechet_distance(real, fake, "stylegan-v")  # N, scipy.linalg.sqrtm
    assert population == pytest.approx(independent_fvd(real, fake, ddof=0), rel=1e-6)


def test_tiny_singular_values_are_left_as_they_are():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(30, 400))
    covariance = fvd.Statistics.of(embeddings).covariance()
    singular = np.linalg.svd(covariance, compute_uv=False)
    assert (singular < fvd.SVD_EPSILON).sum() >= 370  # rank 29: the rule is exercised
    eigenvalues, vectors = np.linalg.eigh(covariance)
    kept = np.where(np.abs(eigenvalues) < fvd.SVD_EPSILON, eigenvalues, np.sqrt(np.abs(eigenvalues)))
    np.testing.assert_allclose(fvd.symmetric_sqrt(covariance), (vectors * kept) @ vectors.T, atol=1e-9)
    every_one_rooted = (vectors * np.sqrt(np.abs(eigenvalues))) @ vectors.T
    assert np.abs(fvd.symmetric_sqrt(covariance) - every_one_rooted).max() > 1e-9  # the rule changes the matrix


def test_a_set_against_itself_is_zero_and_the_distance_is_symmetric():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 400)), rng.normal(0.2, 1.3, size=(50, 400))
    assert abs(fvd.frechet_distance(a, a)) <= 1e-6
    assert fvd.frechet_distance(a, b) == pytest.approx(fvd.frechet_distance(b, a), rel=1e-6)


def test_streaming_and_merged_statistics_equal_the_whole(tmp_path):
    rng = np.random.default_rng(3)
    embeddings = rng.normal(5, 2, size=(101, 400))
    whole = fvd.Statistics.of(embeddings)
    streamed = fvd.Statistics.empty()
    for start in range(0, 101, 16):
        streamed.add(embeddings[start:start + 16])
    merged = fvd.Statistics.of(embeddings[:37]).merge(fvd.Statistics.of(embeddings[37:]))
    for stats in (streamed, merged):
        assert stats.count == 101
        np.testing.assert_allclose(stats.mean, embeddings.mean(axis=0), rtol=0, atol=1e-10)
        np.testing.assert_allclose(stats.covariance(), np.cov(embeddings, rowvar=False), rtol=0, atol=1e-10)
    loaded = fvd.Statistics.load(whole.save(str(tmp_path / "stats.npz")))
    assert loaded.count == 101 and np.array_equal(loaded.m2, whole.m2)
    assert fvd.Statistics.is_statistics_file(str(tmp_path / "stats.npz"))


def legacy_bilinear(image, size):
    """TF1's resize_bilinear written out: source = destination * (in / out), no half-pixel offset."""
    height, width = image.shape[:2]
    ys, xs = np.arange(size) * height / size, np.arange(size) * width / size
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    image = image.astype(np.float64)
    top = image[y0][:, x0] * (1 - wx) + image[y0][:, x1] * wx
    bottom = image[y1][:, x0] * (1 - wx) + image[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def test_original_preprocessing_is_tf1_legacy_bilinear_resize():
    videos = np.random.default_rng(4).integers(0, 256, (2, 3, 96, 128, 3), np.uint8)
    ours = fvd.preprocess(videos, "original").numpy()
    frames = tf.raw_ops.ResizeBilinear(images=videos.reshape(6, 96, 128, 3), size=[224, 224], align_corners=False,
                                       half_pixel_centers=False)
    expected = (2.0 * tf.cast(frames, tf.float32) / 255.0 - 1.0).numpy().reshape(2, 3, 224, 224, 3)
    assert np.array_equal(ours, expected)  # bit for bit
    written_out = legacy_bilinear(videos[0, 0], 224) * 2 / 255 - 1
    assert np.abs(ours[0, 0] - written_out).max() < 1e-4  # float32 coordinates in TensorFlow
    half_pixel = 2.0 * tf.image.resize(videos[0, 0].astype(np.float32), [224, 224]).numpy() / 255.0 - 1.0
    assert np.abs(ours[0, 0] - half_pixel).max() > 0.1  # the resize people port by mistake differs measurably


def test_videogpt_preprocessing_crops_the_short_side_and_keeps_its_range():
    video = np.zeros((1, 2, 240, 320, 3), np.uint8)
    video[..., :, 160:, :] = 255  # right half white
    out = fvd.preprocess(video, "videogpt").numpy()
    assert out.shape == (1, 2, 224, 224, 3) and out.min() == -0.5 and out.max() == 0.5
    assert out[0, 0, :, :100].max() < -0.45 and out[0, 0, :, 124:].min() > 0.45  # centre crop of 299x224


@pytest.fixture(scope="module")
def clip_sets():
    """Two small sets of synthetic action clips (12 frames, 64x64): different motions and seeds."""
    real = np.stack([synthetic.render_clip(label % 3, frames=12, size=64, seed=label) for label in range(8)])
    fake = np.stack([synthetic.render_clip(3 + label % 3, frames=12, size=64, seed=50 + label) for label in range(8)])
    return real, fake


def test_embeddings_are_the_detector_on_preprocessed_videos(clip_sets, kinetics_i3d):
    real, _ = clip_sets
    embedded = fvd.embeddings(real, model=kinetics_i3d, batch_size=3)  # batches of 3, 3 and 2
    direct = np.asarray(kinetics_i3d(fvd.preprocess(real), training=False))
    assert embedded.shape == (8, 400)
    np.testing.assert_allclose(embedded, direct, atol=1e-4)
    assert fvd.statistics(real, model=kinetics_i3d, max_videos=5).count == 5


def test_the_keras_metric_gives_the_function_s_number(clip_sets, kinetics_i3d):
    real, fake = clip_sets
    real_stats = fvd.statistics(real, model=kinetics_i3d)
    expected = fvd.fvd(real_stats, fake, model=kinetics_i3d)
    metric = fvd.FrechetVideoDistance(real_stats, model=kinetics_i3d)
    update = tf.function(metric.update_state)  # as model.fit / evaluate call it: in a graph
    update(tf.constant(fake[:5]))
    update(tf.constant(fake[5:]))
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5) and expected > 1
    metric.reset_state()
    metric.update_state(real)
    assert abs(float(metric.result())) < 1e-3  # the real set against its own statistics
    import keras

    generator = keras.Sequential([keras.Input(fake.shape[1:]), keras.layers.Identity()])  # "generates" its input
    generator.compile(loss="mse", metrics=[fvd.FrechetVideoDistance(real_stats, model=kinetics_i3d)])
    scores = generator.evaluate(fake.astype(np.float32), fake.astype(np.float32), batch_size=3, verbose=0,
                                return_dict=True)
    assert scores["fvd"] == pytest.approx(expected, rel=1e-4)


class _Unpickled:
    """Creates ``path`` when unpickled: a file that holds one must never be unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_cli_equals_the_python_api_and_names_bad_files(clip_sets, kinetics_i3d, tmp_path):
    real, fake = clip_sets
    folders = {}
    for side, clips in (("real", real), ("fake", fake)):
        folders[side] = tmp_path / side
        folders[side].mkdir()
        for index, clip in enumerate(clips):
            synthetic.write_video(folders[side] / f"{index}.avi", clip)
    np.save(folders["fake"] / "more.npy", fake[:2])  # arrays sit beside videos
    (folders["fake"] / "broken.avi").write_bytes(b"not a video")
    marker = tmp_path / "unpickled"
    np.savez(folders["fake"] / "evil.npz", x=np.array([_Unpickled(marker)], dtype=object))  # runs code if unpickled
    expected = fvd.fvd(str(folders["real"]), str(folders["fake"]), model=kinetics_i3d, on_error=lambda *_: None)
    result = i3d("fvd", folders["real"], folders["fake"], "--json", "--save_stats", tmp_path / "stats")
    assert result.returncode == 1  # files were skipped
    errors = error_lines(result.stderr)
    assert errors[0].startswith(f"error: {folders['fake'] / 'broken.avi'}: ")
    assert errors[1].startswith(f"error: {folders['fake'] / 'evil.npz'}: holds object arrays (pickled data), "
                                "refused as untrusted") and "unsafe" not in result.stderr
    answer = json.loads(result.stdout)
    assert answer["fvd"] == pytest.approx(expected, rel=1e-5) and expected > 1
    assert (answer["real_videos"], answer["fake_videos"], answer["skipped_files"]) == (8, 10, 2)
    np.savez(tmp_path / "evil_stats.npz", count=np.int64(3), mean=np.zeros(400), m2=np.array([_Unpickled(marker)]))
    refused = i3d("fvd", tmp_path / "evil_stats.npz", folders["fake"], "--json")  # statistics given as a side
    assert refused.returncode == 2 and len(error_lines(refused.stderr)) == 1 and not refused.stdout
    assert error_lines(refused.stderr)[0].startswith(f"error: {tmp_path / 'evil_stats.npz'}: holds object arrays")
    assert not marker.exists()
    again = i3d("fvd", tmp_path / "stats_real.npz", tmp_path / "stats_fake.npz", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["fvd"] == pytest.approx(expected, rel=1e-5)
    mismatch = i3d("fvd", tmp_path / "stats_real.npz", tmp_path / "stats_fake.npz", "--protocol", "videogpt")
    assert mismatch.returncode == 2 and "statistics of protocol 'original', not 'videogpt'" in mismatch.stderr
    assert os.path.exists(tmp_path / "stats_fake.npz")


def test_arrays_datasets_and_batch_iterables_give_the_same_statistics(clip_sets, kinetics_i3d):
    real, _ = clip_sets
    from_array = fvd.statistics(real, model=kinetics_i3d, batch_size=4)
    from_dataset = fvd.statistics(tf.data.Dataset.from_tensor_slices(real).batch(3), model=kinetics_i3d)
    from_batches = fvd.statistics((real[i:i + 5] for i in range(0, 8, 5)), model=kinetics_i3d)
    for stats in (from_dataset, from_batches):
        assert stats.count == 8
        np.testing.assert_allclose(stats.mean, from_array.mean, rtol=0, atol=1e-4)
        np.testing.assert_allclose(stats.covariance(), from_array.covariance(), rtol=0, atol=1e-3)


def test_identical_statistics_give_exactly_zero_and_few_videos_warn(caplog):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(40, 400))
    with caplog.at_level("WARNING", logger="i3d_keras.fvd"):
        for protocol in fvd.PROTOCOLS:
            assert fvd.frechet_distance(a, a, protocol) == 0.0
            assert abs(fvd.frechet_distance(a, a[::-1], protocol)) <= 1e-9  # the same videos in another order
    assert "FVD on 40 real videos: fewer than 401" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="i3d_keras.fvd"):
        fvd.frechet_distance(rng.normal(size=(401, 400)), rng.normal(size=(402, 400)))
    assert "fewer than" not in caplog.text


def test_a_non_finite_or_negative_result_is_an_error():
    rng = np.random.default_rng(5)
    good = fvd.Statistics.of(rng.normal(size=(50, 8)))
    broken = fvd.Statistics(good.count, good.mean.copy(), good.m2.copy())
    broken.mean[3] = np.nan
    with pytest.raises(ValueError, match="not a distance"):
        fvd.frechet_distance_from_statistics(good, broken)
    corrupt = fvd.Statistics(good.count, good.mean, -2 * good.m2)  # a negative "covariance"
    with pytest.raises(ValueError, match="not a distance"):
        fvd.frechet_distance_from_statistics(good, corrupt, "stylegan-v")


@pytest.mark.parametrize("count", [600, 60])
def test_stylegan_v_square_root_equals_scipy_sqrtm_on_its_definition(count):
    """The protocol's Tr(sqrtm(S_r S_g)) without scipy's sqrtm, whose result on a product changed across scipy
    releases: equal to the current scipy's within 1e-6 relative (full rank and rank 59 of 400)."""
    import scipy.linalg

    rng = np.random.default_rng(count)
    real = rng.normal(size=(count, 400)) * rng.uniform(0.5, 3, 400)
    fake = rng.normal(size=(count, 400)) * rng.uniform(0.5, 3, 400) + rng.normal(0, 0.4, 400)
    s_r, s_g = np.cov(real, rowvar=False, ddof=0), np.cov(fake, rowvar=False, ddof=0)
    scipy_value = np.trace(scipy.linalg.sqrtm(s_r @ s_g).real)
    assert fvd.trace_sqrt_product(s_r, s_g) == pytest.approx(scipy_value, rel=1e-6)


def _statistics_with_manifest(seed, protocol="original", digest="d" * 64, count=30):
    embeddings = np.random.default_rng(seed).normal(size=(count, 400))
    name = fvd.get_protocol(protocol).name
    stats = fvd.Statistics.of(embeddings, name)
    sources = [{"name": f"videos/{seed}_{i}.mp4", "sha256": f"{seed:02d}{i:062d}"} for i in range(count)]
    stats.manifest = fvd.make_manifest(name, digest, sources, dataset="ucf101", split="test")
    return stats


def test_statistics_manifest_round_trips_merges_and_refuses_a_mismatch_in_one_line(tmp_path):
    first, second = _statistics_with_manifest(1), _statistics_with_manifest(2)
    path = first.save(str(tmp_path / "ref.npz"))
    loaded = fvd.Statistics.load(path, "original", "d" * 64)
    assert loaded.manifest == first.manifest and np.array_equal(loaded.m2, first.m2) and loaded.count == 30
    assert json.loads((tmp_path / "ref.json").read_text()) == first.manifest  # the readable copy beside it
    manifest = loaded.manifest
    assert manifest["protocol"]["resize"] == "legacy" and manifest["data"]["split"] == "test"
    assert manifest["detector"]["sha256"] == "d" * 64 and manifest["versions"]["numpy"] == np.__version__
    merged = fvd.Statistics.load(first.merge(second).save(str(tmp_path / "merged.npz")))
    whole = fvd.Statistics.of(np.concatenate([np.random.default_rng(s).normal(size=(30, 400)) for s in (1, 2)]))
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=0, atol=1e-9)
    assert merged.manifest["data"]["videos"] == 60
    assert [s["name"] for s in merged.manifest["data"]["sources"]][29:31] == ["videos/1_29.mp4", "videos/2_0.mp4"]
    with pytest.raises(fvd.ManifestMismatch, match="different protocol"):
        first.merge(_statistics_with_manifest(3, "stylegan-v"))
    for protocol, digest, words in (("stylegan-v", "d" * 64, "statistics of protocol 'original', not 'stylegan-v'"),
                                    ("original", "e" * 64, "made by another detector")):
        with pytest.raises(fvd.ManifestMismatch) as refused:
            fvd.Statistics.load(path, protocol, digest)
        assert words in str(refused.value) and "\n" not in str(refused.value) and path in str(refused.value)
    assert fvd.Statistics.load(path, "stylegan-v", check=False).count == 30
    edited = dict(first.manifest, protocol=dict(first.manifest["protocol"], ddof=0))  # the same name, other settings
    fvd.Statistics(first.count, first.mean, first.m2, "original", edited).save(str(tmp_path / "edited.npz"))
    with pytest.raises(fvd.ManifestMismatch, match="with other settings: ddof 0 \\(now 1\\)"):
        fvd.Statistics.load(str(tmp_path / "edited.npz"), "original")
    np.savez(tmp_path / "garbled.npz", count=np.int64(30), mean=first.mean, m2=first.m2, manifest="{not json")
    with pytest.raises(ValueError, match=f"^{tmp_path / 'garbled.npz'}: its manifest is not JSON"):
        fvd.Statistics.load(str(tmp_path / "garbled.npz"))


def test_cli_report_holds_every_setting_and_refuses_mismatched_files(tmp_path):
    real, fake = _statistics_with_manifest(1), _statistics_with_manifest(2)
    real.save(str(tmp_path / "real.npz"))
    fake.save(str(tmp_path / "fake.npz"))
    result = i3d("fvd", tmp_path / "real.npz", tmp_path / "fake.npz", "--json", "--report", tmp_path / "fvd.json")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "fvd.json").read_text())
    assert report["fvd"] == json.loads(result.stdout)["fvd"] == fvd.frechet_distance_from_statistics(real, fake)
    assert report["protocol"] == fvd.protocol_record("original") and report["comparable"] is True
    assert (report["real"], report["fake"]) == (real.manifest, fake.manifest)
    assert (report["real_videos"], report["fake_videos"], report["seed"]) == (30, 30, 0)
    assert {"i3d-keras", "tensorflow", "keras", "numpy", "python"} <= set(report["versions"])
    _statistics_with_manifest(2, digest="e" * 64).save(str(tmp_path / "other.npz"))
    refused = i3d("fvd", tmp_path / "real.npz", tmp_path / "other.npz")
    assert refused.returncode == 2 and len(error_lines(refused.stderr)) == 1
    assert "different detectors" in refused.stderr


def test_fvd_stats_job_is_worker_count_independent_resumes_after_sigkill_and_lists_failures(kinetics_i3d, tmp_path):
    from conftest import i3d_killed_when

    data = tmp_path / "data"
    data.mkdir()
    for index in range(4):
        np.save(data / f"v{index}.npy", synthetic.render_clip(index % 3, frames=18 + index, size=64, seed=index))
    np.save(data / "short.npy", synthetic.render_clip(0, frames=9, size=64, seed=9))
    args = ("fvd-stats", data, "--protocol", "stylegan-v", "--dataset", "synthetic", "--split", "test", "--seed", 7)
    failed = i3d(*args, "--out", tmp_path / "one.npz", "--workers", 1)
    assert failed.returncode == 1 and not (tmp_path / "one.npz").exists()
    assert f"{data / 'short.npy'}: 9 frames, the protocol takes 16" in failed.stderr
    assert (tmp_path / "one.parts" / "failed.tsv").read_text().startswith(str(data / "short.npy"))
    (data / "short.npy").unlink()
    from i3d_keras import feature_jobs

    paths = [str(data / f"v{index}.npy") for index in range(4)]  # what the one-worker run embedded, merged
    job = feature_jobs.EmbeddingJob(str(tmp_path / "one.parts"), "stylegan-v", seed=7)
    one = feature_jobs.merge_parts(paths, job, fvd.detector_digest(kinetics_i3d), "synthetic", "test")

    parts = tmp_path / "three.parts"
    i3d_killed_when(lambda: parts.is_dir() and any(name.endswith(".npz") for name in os.listdir(parts)),
                    *args, "--out", tmp_path / "three.npz", "--workers", 3)
    assert not (tmp_path / "three.npz").exists()
    rerun = i3d(*args, "--out", tmp_path / "three.npz", "--workers", 3)
    assert rerun.returncode == 0 and "already done; 0 failed" in rerun.stderr, rerun.stderr
    three = fvd.Statistics.load(str(tmp_path / "three.npz"), "stylegan-v", fvd.detector_digest(kinetics_i3d))
    assert one.count == three.count == 4  # nothing lost, nothing counted twice
    np.testing.assert_allclose(three.mean, one.mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(three.m2, one.m2, rtol=0, atol=1e-12)
    in_process = fvd.statistics(str(data), "stylegan-v", model=kinetics_i3d, seed=7)  # the same seeded clips
    np.testing.assert_allclose(one.mean, in_process.mean, rtol=0, atol=1e-5)
    manifest = three.manifest
    assert manifest == dict(one.manifest, versions=manifest["versions"])
    assert [s["name"] for s in manifest["data"]["sources"]] == [f"v{i}.npy" for i in range(4)]
    assert (manifest["data"]["name"], manifest["data"]["split"], manifest["sampling"]["seed"]) == ("synthetic", "test", 7)
    assert manifest["detector"]["sha256"] == fvd.detector_digest(kinetics_i3d) and manifest["comparable"] is True


def test_bootstrap_and_subsets_are_seeded_and_reproducible():
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(60, 40)), rng.normal(0.3, 1.2, size=(70, 40))
    point = fvd.frechet_distance(real, fake)
    interval = fvd.bootstrap(real, fake, resamples=200, seed=3)
    assert interval == fvd.bootstrap(real, fake, resamples=200, seed=3)  # same seed, same numbers
    assert interval != fvd.bootstrap(real, fake, resamples=200, seed=4)
    assert interval["low"] < interval["high"] and interval["std"] > 0 and interval["fixed"] == []
    repeated = fvd.subsets(real, fake, count=20, size=30, seed=3)
    assert repeated == fvd.subsets(real, fake, count=20, size=30, seed=3) and repeated["std"] > 0
    assert repeated["mean"] > point  # fewer videos per subset: FVD's known upward bias
    reference = fvd.Statistics.of(real)
    fixed = fvd.bootstrap(reference, fake, resamples=50, seed=3)
    assert fixed["fixed"] == ["real"] and fixed["low"] < fixed["high"]
    with pytest.raises(ValueError, match="at least one side"):
        fvd.bootstrap(reference, fvd.Statistics.of(fake))
    with pytest.raises(ValueError, match="subsets of 100 videos from a side of 60"):
        fvd.subsets(real, fake, size=100)


def test_cli_bootstrap_subsets_and_loop_short_against_reference_statistics(clip_sets, kinetics_i3d, tmp_path):
    real, fake = clip_sets
    fvd.statistics(real, model=kinetics_i3d).save(str(tmp_path / "ref.npz"))
    folder = tmp_path / "generated"
    folder.mkdir()
    for index, clip in enumerate(fake):
        np.save(folder / f"{index}.npy", clip[:6] if index == 0 else clip)  # one clip shorter than the 12 asked
    with pytest.raises(ValueError, match="0.npy: 6 frames, the protocol takes 12"):
        fvd.select_frames(fake[0][:6], "original", str(folder / "0.npy"), num_frames=12)
    args = ("fvd", tmp_path / "ref.npz", folder, "--json", "--num_frames", 12, "--loop_short", "--bootstrap", 30,
            "--subsets", 4, "--subset_size", 5, "--seed", 2, "--report", tmp_path / "fvd.json")
    result = i3d(*args)
    assert result.returncode == 0, result.stderr
    answer, report = json.loads(result.stdout), json.loads((tmp_path / "fvd.json").read_text())
    assert report["comparable"] is False and report["fake"]["sampling"]["loop_short"] is True
    assert report["real"]["comparable"] is True and report["bootstrap"] == answer["bootstrap"]
    looped = np.concatenate([fake[0][:6], fake[0][:6]])  # 12 frames: the 6 looped
    rows = fvd.embeddings(np.concatenate([looped[None], fake[1:]]), model=kinetics_i3d, num_frames=12)
    reference = fvd.Statistics.load(str(tmp_path / "ref.npz"))
    expected = fvd.bootstrap(reference, rows, resamples=30, seed=2)
    assert answer["bootstrap"]["fixed"] == ["real"]
    assert answer["bootstrap"]["low"] == pytest.approx(expected["low"], rel=1e-4)
    repeated = fvd.subsets(reference, rows, count=4, size=5, seed=2)
    assert answer["subsets"]["fixed"] == ["real"] and answer["subsets"]["count"] == 4
    assert (answer["subsets"]["mean"], answer["subsets"]["std"]) == pytest.approx((repeated["mean"], repeated["std"]),
                                                                                rel=1e-4)


def test_tfrecord_shards_are_a_source_of_videos(clip_sets, kinetics_i3d, tmp_path):
    from i3d_keras.data import tfrecord

    real, _ = clip_sets
    shard = str(tmp_path / "train-00000-of-00001.tfrecord")
    encoded = [[tfrecord.encode_jpeg(frame) for frame in clip] for clip in real[:3]]
    with tf.io.TFRecordWriter(shard) as writer:
        for index, frames in enumerate(encoded):
            writer.write(tfrecord.clip_example(frames, index, "a", f"clip{index}", 25.0))
    decoded = np.stack([[tf.io.decode_jpeg(frame).numpy() for frame in frames] for frames in encoded])
    names = []
    from_shard = fvd.embeddings(str(tmp_path), model=kinetics_i3d, on_clip=names.append)
    assert names == [f"{shard}[clip{index}]" for index in range(3)]
    np.testing.assert_allclose(from_shard, fvd.embeddings(decoded, model=kinetics_i3d), rtol=0, atol=1e-5)
    (tmp_path / "broken.tfrecord").write_bytes(b"not a record")
    failures = []
    fvd.embeddings(str(tmp_path), model=kinetics_i3d, on_error=lambda path, error: failures.append(str(error)))
    assert failures and failures[0].startswith(f"{tmp_path / 'broken.tfrecord'}: not a readable TFRecord shard")
