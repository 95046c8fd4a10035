"""Training checkpoints: plain HDF5 (no pickle), written atomically, read back bit for bit.

Layout (format_version 1):
  /                attributes: format="dlpde-checkpoint", format_version, step, phase ("adam" | "lbfgs"),
                   label (case/solver), world_size, dlpde_version, torch_version, created
  /json/state      UTF-8 JSON, the state tree (below) with every tensor replaced by a reference to /arrays/<key>
  /json/history    UTF-8 JSON, the history rows so far
  /arrays/<key>    one dataset per tensor, flattened (shape and dtype are in the JSON), Fletcher-32 checksummed

The state tree holds the step and phase, the parameters (in the order the Trainer received them), the optimizer's
``state_dict`` (Adam moments and step counts, or the L-BFGS memory), the learning-rate scale and rollback count
of the divergence guard, the training fingerprint (settings that must match on resume) and, for each process,
the objective's state: the states of its ``torch.Generator``s and its current samples (see ``objective_state``).
JSON keeps Python numbers exactly (floats by their shortest repr, NaN and infinities included) and the arrays keep
the tensors' bytes, so a resumed run continues exactly where the checkpoint was taken.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import h5py
import numpy as np
import torch

from dlpde.io.atomic import atomic_path, check_writable
from dlpde.io.hdf5 import USERBLOCK, read_root_attrs, seal

FORMAT = "dlpde-checkpoint"
FORMAT_VERSION = 1
Tensor = torch.Tensor


# -- the objective's random state ------------------------------------------------------------------------------
def _is_tensor_tree(v) -> bool:
    """Tensors (not trained parameters) and non-empty lists/tuples of them: an objective's samples."""
    if isinstance(v, Tensor):
        return not isinstance(v, torch.nn.Parameter) and not v.requires_grad
    if isinstance(v, (list, tuple)) and v:
        return all(_is_tensor_tree(e) for e in v)
    return False


def objective_state(objective) -> dict | None:
    """The objective's own ``state_dict()`` if it has one; otherwise its ``torch.Generator`` attributes (their
    states) and tensor attributes (its current samples, e.g. ``x`` and ``cond_points``). None if it has none."""
    if hasattr(objective, "state_dict"):
        return objective.state_dict()
    return sampling_state(objective)


def load_objective_state(objective, state: dict | None, device: torch.device) -> None:
    """Inverse of ``objective_state``; tensors arrive on the CPU and are moved to ``device``."""
    if state is None:
        return
    if hasattr(objective, "load_state_dict"):
        objective.load_state_dict(state)
    else:
        load_sampling_state(objective, state, device)


def sampling_state(obj) -> dict | None:
    """``{"generators": {name: uint8 state}, "tensors": {name: tensor tree}}`` from ``obj``'s attributes."""
    generators, tensors = {}, {}
    for name, v in vars(obj).items():
        if isinstance(v, torch.Generator):
            generators[name] = v.get_state()
        elif _is_tensor_tree(v):
            tensors[name] = v
    if not generators and not tensors:
        return None
    return {"generators": generators, "tensors": tensors}


def load_sampling_state(obj, state: dict, device: torch.device | str) -> None:
    for name, s in state.get("generators", {}).items():
        gen = getattr(obj, name, None)
        if not isinstance(gen, torch.Generator):
            raise ValueError(f"the checkpoint holds a random generator {name!r} that this objective "
                             f"({type(obj).__name__}) does not have; it was written by another solver")
        gen.set_state(s.cpu())
    for name, t in state.get("tensors", {}).items():
        setattr(obj, name, map_tensors(t, lambda x: x.to(device)))


# -- trees of tensors ------------------------------------------------------------------------------------------
def map_tensors(tree, fn):
    """Apply ``fn`` to every tensor of a tree of dicts, lists and tuples."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: map_tensors(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(v, fn) for v in tree)
    return tree


def clone_tree(tree):
    """A copy in which every tensor is cloned (detached), on its own device."""
    return map_tensors(tree, lambda t: t.detach().clone())


_DTYPES = {str(d): d for d in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8,
                                torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
                                torch.complex64, torch.complex128)}


def _encode(tree, arrays: dict[str, np.ndarray]):
    if isinstance(tree, Tensor):
        t = tree.detach().cpu()
        if str(t.dtype) not in _DTYPES:
            raise TypeError(f"cannot checkpoint a tensor of dtype {t.dtype}")
        key = f"a{len(arrays)}"
        data = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
        arrays[key] = data.contiguous().reshape(-1).numpy()
        return {"__tensor__": key, "dtype": str(t.dtype), "shape": list(t.shape)}
    if isinstance(tree, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in tree.items()]}
    if isinstance(tree, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in tree]}
    if isinstance(tree, list):
        return [_encode(v, arrays) for v in tree]
    if isinstance(tree, (bool, int, str)) or tree is None:
        return tree
    if isinstance(tree, float):
        return tree if math.isfinite(tree) else {"__float__": repr(tree)}
    if isinstance(tree, np.generic):
        return _encode(tree.item(), arrays)
    raise TypeError(f"cannot checkpoint a value of type {type(tree).__name__}")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            dtype = _DTYPES[obj["dtype"]]
            data = np.asarray(arrays[obj["__tensor__"]])
            t = torch.from_numpy(data.copy())
            if dtype == torch.bfloat16:
                t = t.view(torch.bfloat16)
            t = t.to(dtype) if t.dtype != dtype else t
            return t.reshape(obj["shape"])
        if "__dict__" in obj:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        raise ValueError(f"unknown entry {sorted(obj)} in the checkpoint's state")
    return obj


# -- files -----------------------------------------------------------------------------------------------------
def check_target(path) -> Path:
    """Refuse a checkpoint path that is a directory, lies in a missing or unwritable folder, or would replace a
    file that is not a dlpde checkpoint."""
    path = check_writable(path, overwrite=True)
    if path.exists():
        try:
            ok = read_root_attrs(path, "checkpoint file").get("format") == FORMAT
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{str(path)!r} exists and is not a dlpde checkpoint; choose another checkpoint path "
                             "or remove the file")
    return path


def write(path, state: dict, history_rows: list[dict], *, label: str) -> str:
    """Write ``state`` (a tree of tensors, numbers, strings) and the history rows to ``path`` atomically."""
    from dlpde.version import __version__

    path = check_target(path)
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps(_encode(state, arrays))
    history = json.dumps(history_rows, default=lambda o: o.item() if hasattr(o, "item") else repr(o))
    with atomic_path(path, overwrite=True) as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK) as f:
            a = f.attrs
            a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
            a["step"], a["phase"], a["label"] = int(state["step"]), str(state["phase"]), label
            a["world_size"] = len(state.get("objective", [None]))
            a["dlpde_version"], a["torch_version"] = __version__, str(torch.__version__)
            a["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            for name, text in (("state", skeleton), ("history", history)):
                _dataset(f, f"json/{name}", np.frombuffer(text.encode(), dtype=np.uint8))
            for key, arr in arrays.items():
                _dataset(f, f"arrays/{key}", arr)
        seal(tmp, FORMAT, FORMAT_VERSION)
    return str(path)


def _dataset(f: h5py.File, name: str, arr: np.ndarray) -> None:
    if arr.size:
        f.create_dataset(name, data=arr, chunks=(min(arr.size, 1 << 18),), fletcher32=True)
    else:
        f.create_dataset(name, data=arr)


def read_attrs(path) -> dict:
    """The root attributes of a checkpoint, after checking it is a dlpde checkpoint this version can read (a
    damaged file is read in a separate process first, see ``dlpde.io.hdf5.read_root_attrs``)."""
    attrs = read_root_attrs(path, "checkpoint file")
    if attrs.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a dlpde checkpoint (no format={FORMAT!r} attribute)")
    try:
        version = int(attrs.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has checkpoint format version {version}, newer than this dlpde reads "
                         f"({FORMAT_VERSION}); upgrade dlpde")
    if version < 1:
        raise ValueError(f"{str(path)!r} has no valid checkpoint format version; it is damaged")
    return attrs


def read(path) -> tuple[dict, list[dict], dict]:
    """(state tree with tensors on the CPU, history rows, root attributes) of a checkpoint."""
    attrs = read_attrs(path)
    try:
        with h5py.File(path, "r") as f:
            texts = {name: bytes(np.asarray(f[f"json/{name}"])).decode() for name in ("state", "history")}
            arrays = {k: np.asarray(v) for k, v in f["arrays"].items()} if "arrays" in f else {}
        state = _decode(json.loads(texts["state"]), arrays)
        history = json.loads(texts["history"])
        if not isinstance(state, dict) or not isinstance(history, list):
            raise ValueError("unexpected structure")
        for key in ("step", "phase", "params", "optimizer"):
            if key not in state:
                raise KeyError(key)
    except (KeyError, OSError, ValueError, TypeError, UnicodeDecodeError, RuntimeError) as e:
        raise ValueError(f"{str(path)!r} is a damaged or incomplete dlpde checkpoint ({type(e).__name__}: {e})") \
            from None
    return state, history, attrs

