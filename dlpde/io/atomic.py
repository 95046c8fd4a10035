"""Write-then-rename, so that a half-written file never replaces a good one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def check_writable(path, *, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValueError(f"output path {str(path)!r} is a directory; give a file name such as {path / 'out.h5'}")
    if path.exists() and not overwrite:
        raise ValueError(f"output file {str(path)!r} exists; choose another name or allow overwriting")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"the folder {str(parent)!r} for the output file does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"the folder {str(parent)!r} is not writable; choose another output path")
    return path


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = True):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` (atomic on POSIX)."""
    path = check_writable(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        yield Path(tmp)
        if path.exists() and not overwrite:
            raise ValueError(f"output file {str(path)!r} appeared while writing; it was left untouched")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
