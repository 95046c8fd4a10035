"""Several processes: data parallel training with ``torch.distributed``, started by ``torchrun``.

``torchrun --nproc_per_node=N -m dlpde solve CASE ...`` starts N copies of the command; each finds its place from
the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). ``setup`` joins the
process group (gloo on the CPU, nccl on GPUs, one GPU per process: ``cuda:LOCAL_RANK``). Each process draws its
own collocation points from its own random stream (``stream_seed``), the Trainer wraps the loss in
``DistributedDataParallel`` (gradients averaged over the processes, so a step equals a step on the union of their
samples) and averages the logged losses; only rank 0 writes files and prints.

Random streams: process r seeds a generator for stream ``offset`` with ``stream_seed(seed, offset, r)``. Rank 0
uses ``seed * 1000003 + offset``, the seed a single process uses, so rank 0 of a run reproduces a one-process
run's samples; rank r > 0 mixes that number with r through SplitMix64 (Steele, Lea & Flood 2014), giving
64-bit seeds that do not collide with the rank-0 seeds in practice.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)
_MASK64 = (1 << 64) - 1
_created_group = False  # whether this module (not the caller) created the process group


@dataclass(frozen=True)
class Launch:
    """Where torchrun placed this process."""

    rank: int
    world_size: int
    local_rank: int


def launch_from_env(environ: Mapping[str, str] | None = None) -> Launch | None:
    """The torchrun placement read from RANK / WORLD_SIZE / LOCAL_RANK; None when not started by torchrun."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env and "RANK" not in env:
        return None
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        text = env.get(name, "0" if name == "LOCAL_RANK" else None)
        try:
            values[name] = int(text)
        except (TypeError, ValueError):
            raise ValueError(f"the environment variable {name} must be a whole number when running under "
                             f"torchrun, got {text!r}") from None
    rank, world, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local}")
    return Launch(rank, world, local)


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the process group (0 when there is none)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes in the process group (1 when there is none)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """True on the process that writes files and prints (rank 0, or the only process)."""
    return rank() == 0


def setup(device: str, environ: Mapping[str, str] | None = None) -> str:
    """Join the process group torchrun describes, if any and not joined yet, and return the device this process
    trains on: ``device`` itself for the CPU, ``cuda:LOCAL_RANK`` for ``cuda`` (one GPU per process).

    The backend is gloo for CPU training and nccl for GPUs. Without torchrun (or with one process) nothing is
    started and ``device`` comes back unchanged.
    """
    global _created_group
    launch = launch_from_env(environ)
    if launch is None or launch.world_size == 1:
        return device
    dev = str(device)
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible to torch; use --device cpu")
        count = torch.cuda.device_count()
        if launch.local_rank >= count:
            raise ValueError(f"LOCAL_RANK {launch.local_rank} has no GPU of its own ({count} visible); start at "
                             f"most {count} processes per node (torchrun --nproc_per_node={count})")
        dev = f"cuda:{launch.local_rank}"
        torch.cuda.set_device(launch.local_rank)  # nccl's object collectives use the current device
    if not is_initialized():
        backend = "nccl" if dev.startswith("cuda") else "gloo"
        kwargs: dict[str, Any] = {"device_id": torch.device(dev)} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, init_method="env://", rank=launch.rank,
                                world_size=launch.world_size, **kwargs)
        _created_group = True
        log.info("joined process group: rank %d of %d (%s, %s)", launch.rank, launch.world_size, backend, dev)
    return dev


def teardown() -> None:
    """Leave the process group if ``setup`` created it."""
    global _created_group
    if _created_group and is_initialized():
        dist.destroy_process_group()
    _created_group = False


def stream_seed(seed: int, offset: int = 0, rank: int = 0) -> int:
    """The 64-bit seed of random stream ``offset`` on process ``rank`` (see the module docstring)."""
    base = (seed * 1_000_003 + offset) & _MASK64
    if rank == 0:
        return base
    z = (base + rank * 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def average_(t: torch.Tensor) -> torch.Tensor:
    """Average ``t`` over the processes, in place (a no-op for one process)."""
    if world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world_size()
    return t


def gather_to_main(obj: Any) -> list | None:
    """Every process's ``obj`` (picklable, CPU data only) as a list on rank 0; None elsewhere."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
