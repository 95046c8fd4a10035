"""The dlpde HDF5 format: self-describing, no pickle, reloads with ``dlpde.load``.

Layout (format_version 1):
  /               attributes: format="dlpde-solution", format_version, case, solver, dim, time_dependent,
                  steps, wall_time_s, status, message, seed, dlpde_version, torch_version, created,
                  problem_params (JSON), settings (JSON), metrics such as rel_l2_error and max_error,
                  plus solver-specific attributes (u0, u0_reference, cost_L, ...); metric_names (JSON) lists
                  which of them are the metrics
  /network        one dataset per parameter/buffer (state_dict names); attribute ``architecture`` (JSON)
  /history        one 1-D dataset per column (step, loss, loss terms, seconds, lr, errors)
  /evaluation     x (n, dim) [, t (n,)], u (n,) [, u_exact (n,)]; a system: one (n,) array per output name
                  (u, v, p; phi, rho) [, <name>_exact]
  /grid           for steady 2-D/3-D problems: points (N, dim), u, u_exact, error (NaN outside the domain)
  /extra/<name>   solver-specific arrays
Integrity: every non-empty array has a Fletcher-32 checksum; the 512-byte HDF5 user block holds
"dlpde-solution 1 sha256:<hex>", the SHA-256 of the rest of the file (see ``seal`` and ``read_root_attrs``).
Files without the seal (written before it existed) still load.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

from dlpde.io.atomic import atomic_path, check_writable
from dlpde.io.xdmf import grid_fields, looks_like_xdmf, write_xdmf, written_by_dlpde, xdmf_path

log = logging.getLogger(__name__)
FORMAT = "dlpde-solution"
FORMAT_VERSION = 1
GRID_POINTS = {2: 129, 3: 33}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: repr(o)))


def writes_grid(problem) -> bool:
    """Whether a result of ``problem`` gets the /grid group and the XDMF sidecar: steady 2-D and 3-D problems."""
    return (problem is not None and not getattr(problem, "time_dependent", False)
            and getattr(problem, "dim", None) in GRID_POINTS and hasattr(problem, "domain"))


def save_solution(solution, path, *, overwrite: bool = True, xdmf: bool = True) -> str:
    from dlpde.version import __version__

    sidecar = xdmf and writes_grid(solution.problem)
    path = check_output(path, sidecar=sidecar, overwrite=overwrite)
    grid = grid_fields(solution, GRID_POINTS[solution.dim]) if sidecar else None
    replaces_grid = overwrite and _has_grid(path)  # an earlier result with a grid (and so an XDMF file) is replaced
    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK) as f:
            a = f.attrs
            a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
            a["case"], a["solver"], a["dim"] = solution.case, solution.solver, solution.dim
            a["time_dependent"] = solution.time_dependent
            a["steps"], a["wall_time_s"] = solution.steps_done, solution.wall_time_s
            a["status"], a["message"] = solution.status, solution.message
            if solution.converged is not None:  # final relative error within settings.error_threshold
                a["converged"] = solution.converged
            a["seed"] = solution.settings.seed
            a["dlpde_version"], a["torch_version"] = __version__, str(torch.__version__)
            a["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            a["problem_params"] = json.dumps(_jsonable(solution.problem_params))
            a["settings"] = json.dumps(_jsonable(solution.settings.to_dict()))
            if solution.unknowns:  # trained coefficients: one attribute each, and all of them as JSON
                a["unknowns"] = json.dumps(solution.unknowns)
                for k, v in solution.unknowns.items():
                    a[f"unknown_{k}"] = v
            a["metric_names"] = json.dumps(sorted(solution.metrics))  # which root attributes are metrics, for load
            for k, v in {**solution.metrics, **solution.extra}.items():
                if isinstance(v, np.ndarray) and v.size > 16:
                    _dataset(f, f"extra/{k}", v)
                else:
                    a[k] = v
            net = f.create_group("network")
            net.attrs["architecture"] = json.dumps(solution.model.config())
            for name, t in solution.model.state_dict().items():
                _dataset(net, name, t.detach().cpu().numpy())
            hist = f.create_group("history")
            for k, v in solution.history.columns().items():
                if v.dtype == object:
                    _dataset(hist, k, v.astype("S"))
                else:
                    _dataset(hist, k, v)
            ev = f.create_group("evaluation")
            for k, v in solution.evaluation_arrays().items():
                _dataset(ev, k, v)
            if grid is not None:
                points, _, data = grid
                g = f.create_group("grid")
                g.attrs["points_per_axis"] = GRID_POINTS[solution.dim]
                _dataset(g, "points", points)
                for k, v in data.items():
                    _dataset(g, k, v)
        seal(tmp, FORMAT, FORMAT_VERSION)
    side = xdmf_path(path)
    if grid is not None:
        points, cells, data = grid
        write_xdmf(side, points, cells, data, overwrite=True, mark=True)
    elif replaces_grid and written_by_dlpde(side):  # the XDMF file of the result just replaced
        side.unlink()
        log.info("removed %s, the XDMF file of the result %s replaced", side, path)
    log.info("saved %s", path)
    return str(path)


def _has_grid(path: Path) -> bool:
    """Whether ``path`` is a dlpde result with a /grid group (one that had an XDMF file written beside it)."""
    try:
        with h5py.File(path, "r") as f:
            return "grid" in f
    except (OSError, ValueError):
        return False


def _dataset(group, name: str, data) -> None:
    """A dataset with a Fletcher-32 checksum (so that a corrupted array is an error on reading, not wrong numbers);
    empty and 0-d arrays cannot be chunked and are stored plain."""
    data = np.asarray(data)
    if data.ndim and data.size:
        group.create_dataset(name, data=data, chunks=data.shape, fletcher32=True)
    else:
        group.create_dataset(name, data=data)


def check_output(path, *, sidecar: bool = False, overwrite: bool = True) -> Path:
    """Refuse an output path that is a directory, lies in a missing or unwritable folder, or would replace a
    file that is not a dlpde solution (an earlier result may be replaced; anything else is left alone; with
    ``overwrite=False`` nothing is); with ``sidecar`` (a steady 2-D/3-D result, ``writes_grid``) the same for its
    XDMF file (``check_sidecar``)."""
    path = _check_name(check_writable(path, overwrite=overwrite))
    earlier = path.exists()
    if earlier:
        try:
            read_attrs(path)
        except ValueError as e:
            raise ValueError(f"{str(path)!r} exists and is not a dlpde result this version may replace ({e}); "
                             "choose another output file or remove it") from None
    if sidecar:
        check_sidecar(path, overwrite=overwrite, beside_result=earlier)
    return path


def _check_name(path: Path) -> Path:
    if path.suffix.lower() == ".xdmf":
        raise ValueError(f"{str(path)!r}: a result file cannot end in .xdmf, the name of the ParaView file written "
                         "beside it; use .h5")
    return path


def check_sidecar(path: Path, *, overwrite: bool, beside_result: bool) -> Path:
    """The XDMF file beside result ``path`` may be written: its folder is writable, and an existing file is one
    dlpde wrote (``written_by_dlpde``, or, from before dlpde marked its files, an XDMF file beside an earlier
    dlpde result: ``beside_result``, which the caller has checked), never a file of the user's."""
    side = check_writable(xdmf_path(path), overwrite=overwrite)
    if side.exists() and not written_by_dlpde(side) and not (beside_result and looks_like_xdmf(side)):
        raise ValueError(f"{str(side)!r} exists and is not the XDMF file dlpde wrote beside an earlier result; "
                         "choose another output name or remove it")
    return side


def read_attrs(path) -> dict:
    """The root attributes of a dlpde file, after checking it is one this version can read."""
    attrs = read_root_attrs(path, "file")
    if attrs.get("format") == "dlpde-checkpoint":
        raise ValueError(f"{str(path)!r} is a dlpde checkpoint, not a result: continue the run from it with "
                         "`dlpde solve ... --resume` or dlpde.solve(..., resume=path)")
    if attrs.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a dlpde solution file (no format={FORMAT!r} attribute)")
    try:
        version = int(attrs.get("format_version", -1))
    except (TypeError, ValueError):
        raise ValueError(f"{str(path)!r} has an unreadable format_version; the file is damaged") from None
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format version {version}, newer than this dlpde reads "
                         f"({FORMAT_VERSION}); upgrade dlpde")
    return attrs


# -- integrity -------------------------------------------------------------------------------------------------
# dlpde writes its HDF5 files with a 512-byte user block (a region HDF5 reserves for applications and skips) that
# holds "FORMAT VERSION sha256:HEX", the SHA-256 of the rest of the file. A file whose checksum matches is read
# directly. Any other file (damaged, truncated, edited by another program, or written before dlpde sealed its
# files) is first read completely by a separate Python process: damaged HDF5 metadata can crash the HDF5 C library
# (a segmentation fault, which no exception handler catches), and this way a damaged file gives a ValueError.
USERBLOCK = 512
_SEAL = re.compile(rb"(dlpde-[a-z]+) (\d+) sha256:([0-9a-f]{64})\n")
_PROBE = r"""
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    def visit(name, obj):
        dict(obj.attrs)
        if isinstance(obj, h5py.Dataset):
            np.asarray(obj)
    dict(f.attrs)
    f.visititems(visit)
print("ok")
"""


def seal(path, fmt: str, version: int) -> None:
    """Write the checksum header into the user block of a closed file created with ``userblock_size=USERBLOCK``."""
    with open(path, "r+b") as f:
        f.seek(USERBLOCK)
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
        f.seek(0)
        f.write(f"{fmt} {version} sha256:{digest.hexdigest()}\n".encode().ljust(USERBLOCK, b"\0"))


def seal_matches(path) -> bool | None:
    """True: the file is as dlpde wrote it; False: it carries a seal that no longer matches; None: no seal."""
    with open(path, "rb") as f:
        m = _SEAL.match(f.read(USERBLOCK))
        if m is None:
            return None
        digest = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == m.group(3).decode()


def _readable_elsewhere(path) -> str:
    """Read the whole file in a separate process; "" when that worked, else why not."""
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as e:  # no interpreter to spare: read it here, at some risk
        log.debug("cannot probe %s in a subprocess (%s)", path, e)
        return ""
    if r.returncode == 0 and r.stdout.strip().endswith("ok"):
        return ""
    if r.returncode < 0:
        return f"reading it crashes the HDF5 library (signal {-r.returncode})"
    last = (r.stderr.strip().splitlines() or ["unknown error"])[-1]
    return last[:300]


def read_root_attrs(path, what: str) -> dict:
    """The root attributes of an HDF5 file, read safely (see above); ValueError for a missing or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such {what}: {str(path)!r}")
    try:
        sealed = seal_matches(path)
    except OSError as e:
        raise ValueError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    if not sealed:
        if not h5py.is_hdf5(str(path)):
            raise ValueError(f"{str(path)!r} is not a readable HDF5 file; it may be truncated or corrupted")
        why = _readable_elsewhere(path)
        if why:
            note = " (it no longer matches the checksum dlpde wrote into it)" if sealed is False else ""
            raise ValueError(f"{str(path)!r} is a damaged HDF5 file{note}: {why}; it may be truncated or "
                             "corrupted")
    try:
        with h5py.File(path, "r") as f:
            return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file ({e}); it may be truncated or corrupted") \
            from None
