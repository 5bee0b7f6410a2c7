"""File helpers: sha256 of a file, atomic writes of files and folders (a temporary name beside, then rename), and
``OutputError``: an output the machine cannot write (disk full, read-only, no permission), told from a bad input."""

import contextlib
import errno
import hashlib
import io
import os
import shutil
import tempfile

# errors that only writing raises: whatever the input, the output cannot be written
WRITE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)
_CAUSES = tuple(os.strerror(code) for code in WRITE_FAULTS + (errno.EACCES, errno.EPERM))


class OutputError(OSError):
    """An output that cannot be written: a fault of the machine (not of an input), so batch work stops.

    ``str()`` names the output and the operating system's cause: ``cannot write out/x.npy: No space left on device``.
    """

    def __init__(self, path, cause):
        super().__init__(getattr(cause, "errno", None), f"cannot write {path}: {describe(cause)}")
        self.path, self.cause = path, cause

    def __str__(self):
        return self.strerror

    def __reduce__(self):  # crosses process boundaries (worker jobs) with its message
        return OutputError, (self.path, OSError(self.errno, describe(self.cause)) if self.errno else describe(self.cause))


def describe(error):
    """The operating system's words for ``error`` (``No space left on device``), else its message's first line.

    Works for ``OSError`` and for TensorFlow's file-system errors, which carry the cause in their message.
    """
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    message = str(error)
    return next((cause for cause in _CAUSES if cause in message), message.strip().splitlines()[0] if message.strip() else type(error).__name__)


@contextlib.contextmanager
def writing(path, also=()):
    """Errors raised inside while writing ``path`` become ``OutputError``: every ``OSError``, and the exception
    types in ``also`` (e.g. TensorFlow's ``tf.errors.OpError``)."""
    try:
        yield
    except OutputError:
        raise
    except OSError as error:
        raise OutputError(path, error) from error
    except tuple(also) as error:
        if not any(cause in str(error) for cause in _CAUSES):  # not a file-system error
            raise
        raise OutputError(path, error) from error


@contextlib.contextmanager
def _write_faults(path):
    """Inside the body of an atomic write, where inputs are read too: only errors that writing alone raises (a
    full disk, a read-only file system) become ``OutputError``."""
    try:
        yield
    except OSError as error:
        if error.errno in WRITE_FAULTS and not isinstance(error, OutputError):
            raise OutputError(path, error) from error
        raise


def _made_by_hand(path):
    """The permissions a plainly created file or folder gets (``0666`` / ``0777`` less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)


def sha256(path, chunk_size=1 << 20):
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    A reader never sees a half-written ``path``. ``suffix`` keeps extensions that writers insist on
    (Keras wants ``.weights.h5``). Creating, syncing or renaming the file, and a full disk or read-only
    file system inside, raise ``OutputError`` naming ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    with writing(path):
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix, dir=folder)
        os.close(fd)
        _made_by_hand(tmp)  # not mkstemp's 0600
    try:
        with _write_faults(path):
            yield tmp
        with writing(path):
            with open(tmp, "rb+") as file:
                os.fsync(file.fileno())
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path, data):
    """Writes ``data`` to ``path`` atomically (``OutputError`` when it cannot be written)."""
    with atomic_path(path) as tmp, writing(path), open(tmp, "wb") as file:
        file.write(data)


def save_npy(path, array):
    """``np.save`` to ``path``, atomically, with the operating system's cause when it cannot be written (numpy's
    own file writes report a full disk as ``1024 requested and 992 written``)."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getvalue())


def atomic_symlink(target, path):
    """Makes ``path`` a symbolic link to ``target`` (relative to ``path``'s folder), replacing a link there in one
    rename."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with writing(path):
        os.makedirs(folder, exist_ok=True)
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_folder(path):
    """Yields a temporary folder beside ``path``; on success it replaces ``path``, on error it is removed.

    A folder at ``path`` is therefore always complete, with a plain folder's permissions (not ``mkdtemp``'s
    ``0700``). A killed process leaves only a hidden ``.<name>.*.tmp`` folder, which readers ignore.
    """
    parent = os.path.dirname(os.path.abspath(path))
    with writing(path):
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
        _made_by_hand(staging)
    try:
        with _write_faults(path):
            yield staging
        with writing(path):
            if os.path.exists(path):
                shutil.rmtree(path)
            os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def remove_leftovers(path):
    """Removes the temporary files or folders that a killed ``atomic_path`` / ``atomic_folder`` left for ``path``.

    Call it only from the one job that owns ``path``: another process may be writing its own temporary.
    """
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        return
    for entry in os.scandir(folder):
        if entry.name.startswith("." + name + ".") and ".tmp" in entry.name[len(name) + 2:]:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
