"""Atomic writes and ``OutputError``: an output the machine cannot write is told from a bad input."""

import errno
import os

import numpy as np
import pytest

from i3d_keras import files
from i3d_keras.cli import common


def test_a_full_disk_inside_an_atomic_write_names_the_output_and_leaves_nothing(tmp_path):
    target = tmp_path / "out.npy"
    with pytest.raises(files.OutputError) as raised:
        with files.atomic_path(str(target)):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(raised.value) == f"cannot write {target}: No space left on device"
    assert raised.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []


def test_a_read_only_folder_is_an_output_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)  # the tests may run as root, who may write anywhere
    with pytest.raises(files.OutputError, match=f"cannot write {tmp_path / 'x.npy'}: Permission denied"):
        files.save_npy(str(tmp_path / "x.npy"), np.zeros(3))


def test_other_errors_inside_stay_what_they_are(tmp_path):
    with pytest.raises(FileNotFoundError):  # e.g. an input that vanished: not the output's fault
        with files.atomic_path(str(tmp_path / "out")):
            open(tmp_path / "missing-input")
    with pytest.raises(ValueError):
        with files.writing("out", also=(RuntimeError,)):
            raise ValueError("not a file-system error")
    with pytest.raises(RuntimeError):  # a foreign error type converts only when it carries an OS cause
        with files.writing("out", also=(RuntimeError,)):
            raise RuntimeError("shape mismatch")
    with pytest.raises(files.OutputError, match="cannot write out: No space left on device"):
        with files.writing("out", also=(RuntimeError,)):
            raise RuntimeError("out/x; No space left on device")


def test_output_errors_survive_a_worker_process():
    import pickle

    error = pickle.loads(pickle.dumps(files.OutputError("out/a", OSError(errno.EROFS, "Read-only file system"))))
    assert str(error) == "cannot write out/a: Read-only file system" and error.errno == errno.EROFS


def test_a_batch_stops_at_the_first_output_error_and_goes_on_after_a_bad_input(capsys, tmp_path, monkeypatch):
    """The faked counterpart of test_cli's tmpfs test, for machines where a test cannot mount one."""
    from absl import flags

    flags.FLAGS.mark_as_parsed()
    seen = []

    def process(path, on_window):
        seen.append(path)
        if path == "bad.avi":
            raise ValueError("bad.avi: no decodable frames")
        if path == "full.avi":
            files.save_npy(str(tmp_path / "full.npy"), np.zeros(3))
        return f"{path} done"

    def full_disk(path, data):
        with files.atomic_path(path):
            raise OSError(errno.ENOSPC, "No space left on device")  # what a write on a full disk raises

    monkeypatch.setattr(files, "write_bytes", full_disk)
    with pytest.raises(SystemExit) as stopped:
        common.for_each_video(["bad.avi", "ok.avi", "full.avi", "never.avi"], "features", process)
    assert stopped.value.code == common.OUTPUT_FAULT and seen == ["bad.avi", "ok.avi", "full.avi"]
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0] == "error: bad.avi: no decodable frames"
    assert err[1] == f"error: cannot write {tmp_path / 'full.npy'}: No space left on device"
    assert err[2].startswith("stopped after 2 of 4 videos")
    assert captured.out.splitlines() == ["ok.avi done"] and os.listdir(tmp_path) == []
