"""File helpers: sha256 of a file and atomic writes of files and folders (a temporary name beside, then rename)."""

import contextlib
import hashlib
import os
import shutil
import tempfile


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
    (Keras wants ``.weights.h5``).
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a plainly created file, not mkstemp's 0600
    try:
        yield tmp
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_folder(path):
    """Yields a temporary folder beside ``path``; on success it replaces ``path``, on error it is removed.

    A folder at ``path`` is therefore always complete. A killed process leaves only a hidden
    ``.<name>.*.tmp`` folder, which readers ignore.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        yield staging
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


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
