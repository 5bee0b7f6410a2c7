"""The weights registry and cache: first-use conversion, sha256 records, verified downloads."""

import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

from i3d_keras import files, pretrained, weights
from i3d_keras.weights import Source


def test_registry_names_every_published_set():
    assert {"rgb_kinetics400", "rgb_imagenet_kinetics400", "flow_imagenet_kinetics400", "rgb_scratch_kinetics400",
            "flow_scratch_kinetics400", "rgb_kinetics600", "inception_v1_imagenet"} <= set(weights.REGISTRY)
    assert weights.lookup("kinetics400").name == "rgb_kinetics400"
    assert weights.lookup("flow_imagenet_kinetics400").modality == "flow"
    assert weights.lookup("kinetics600").classes == 600
    assert weights.lookup("/some/file.weights.h5") is None
    with pytest.raises(ValueError, match="Unknown weights 'kinetics700'"):
        weights.lookup("kinetics700")


def test_first_use_converts_then_reuses_and_checks_the_hash(kinetics_i3d):
    path = pretrained.weights_file("kinetics400")  # converted once by the session fixture
    record = open(path + ".sha256").read().strip()
    assert record == files.sha256(path)
    stamp = os.stat(path).st_mtime_ns
    assert pretrained.weights_file("kinetics400") == path and os.stat(path).st_mtime_ns == stamp  # reused
    with open(path, "r+b") as file:  # damage the cached file: it is detected and rebuilt
        file.seek(5000)
        file.write(b"\0" * 64)
    assert files.sha256(path) != record
    pretrained.weights_file("kinetics400")
    assert files.sha256(path) == record


def _tarball(tmp_path, member_name, payload):
    path = tmp_path / "source.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(member_name)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return path


def test_download_checks_archive_and_member_hashes(tmp_path):
    payload = b"weights" * 100
    archive = _tarball(tmp_path, "pkg/weights/w.ckpt", payload)
    good = Source(archive.as_uri(), files.sha256(archive), "source.tar.gz", "pkg/weights/w.ckpt", hashlib.sha256(payload).hexdigest())
    member = weights._download(good, str(tmp_path / "cache"))
    assert open(member, "rb").read() == payload
    assert sorted(os.listdir(tmp_path / "cache")) == ["source.tar.gz", "w.ckpt"]  # downloaded where asked
    wrong_archive = Source(archive.as_uri(), "0" * 64, "other.tar.gz", "pkg/weights/w.ckpt")
    with pytest.raises(ValueError):
        weights._download(wrong_archive, str(tmp_path / "cache2"))
    assert os.listdir(tmp_path / "cache2") == []  # a download with the wrong hash is never left, not even hidden
    wrong_member = Source(archive.as_uri(), None, "source.tar.gz", "pkg/weights/w.ckpt", "0" * 64)
    with pytest.raises(ValueError, match="does not match the expected"):
        weights._download(wrong_member, str(tmp_path / "cache3"))
    missing = Source(archive.as_uri(), None, "source.tar.gz", "pkg/nothing.ckpt")
    with pytest.raises(ValueError, match="has no pkg/nothing.ckpt"):
        weights._download(missing, str(tmp_path / "cache4"))


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with files.atomic_path(str(target)) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []
    with files.atomic_path(str(target)) as tmp:
        open(tmp, "wb").write(b"whole")
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path) == ["out.bin"]


def test_conversion_killed_while_writing_leaves_no_half_file_and_the_rerun_completes(tmp_path, monkeypatch, kinetics_i3d):
    from conftest import i3d, i3d_killed_when

    from i3d_keras import I3D, convert

    monkeypatch.setenv("I3D_KERAS_CACHE", str(tmp_path))  # the commands below convert into an empty cache
    target = tmp_path / "rgb_kinetics400.weights.h5"
    writing = lambda: [n for n in os.listdir(tmp_path) if n.startswith(f".{target.name}.") and n.endswith(".tmp.weights.h5")]
    i3d_killed_when(writing, "convert", "--weights", "kinetics400")
    assert writing() and not target.exists()  # killed mid-write: only the hidden temporary
    result = i3d("convert", "--weights", "kinetics400")
    assert result.returncode == 0, result.stderr
    assert open(f"{target}.sha256").read().strip() == files.sha256(target)
    converted, reference = convert.read_tree(I3D(weights=str(target))), convert.read_tree(kinetics_i3d)
    assert sorted(converted) == sorted(reference) and all(np.array_equal(converted[k], reference[k]) for k in reference)
