"""Write-then-rename, so that a half-written file never replaces a good one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def check_writable(path, *, overwrite: bool) -> Path:
    """``path`` as it will be written (a symbolic link resolved to where it points, so that the write-then-rename
    does not replace the link), after checking that it can be: ValueError naming what is wrong otherwise."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"an output path must be a non-empty str or os.PathLike, got {type(path).__name__} {path!r}")
    try:
        if os.path.islink(path):
            path = os.path.realpath(path)
        return _check_writable(Path(path), overwrite)
    except OSError as e:  # e.g. a name too long for the file system
        raise ValueError(f"cannot write {str(path)!r}: {e.strerror or e}") from None


def _check_writable(path: Path, overwrite: bool) -> Path:
    if "\x00" in str(path):
        raise ValueError("an output path cannot contain a NUL character")
    if path.exists() and path.is_dir():
        raise ValueError(f"output path {str(path)!r} is a directory; give a file name such as {path / 'out.h5'}")
    if path.exists() and not overwrite:
        raise ValueError(f"output file {str(path)!r} exists; choose another name or allow overwriting")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"the folder {str(parent)!r} for the output file does not exist; create it first")
    if not parent.is_dir():
        raise ValueError(f"{str(parent)!r} is not a folder, so {str(path)!r} cannot be created in it")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"the folder {str(parent)!r} is not writable; choose another output path")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{str(path)!r} is read-only; it was left untouched (choose another output path)")
    return path


def _default_mode() -> int:
    """0666 minus the process's umask: the mode ``open(path, "w")`` gives a new file (0644 under umask 0022).
    os.umask can only be read by setting it, so it is set and restored at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = True):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` (atomic on POSIX). A path
    that is a symbolic link is written where the link points (``check_writable``)."""
    path = check_writable(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        yield Path(tmp)
        if path.exists() and not overwrite:
            raise ValueError(f"output file {str(path)!r} appeared while writing; it was left untouched")
        os.chmod(tmp, _default_mode())  # mkstemp makes 0600; a result file gets what open() would give it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
