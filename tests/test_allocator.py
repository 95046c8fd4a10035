"""A CPU solve keeps freed memory in the process under glibc (dlpde.training.allocator): a large block comes from
the heap inside the block and its pages stay after it is freed; glibc's settings come back afterwards; nothing
changes when the user turned it off, set glibc's options themselves, or the C library is another."""
import ctypes
import os

import pytest
import torch

import dlpde
from dlpde.training import allocator

BLOCK = 64 * 2**20  # above glibc's largest mmap threshold (32 MB): by default it gets a mapping of its own


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def mallinfo() -> MallInfo2:
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


needs_glibc = pytest.mark.skipif(allocator.glibc() is None or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                                 reason="glibc ≥ 2.33 with its default malloc settings")


@needs_glibc
def test_large_blocks_come_from_the_heap_and_stay_inside_the_block():
    with allocator.keep_freed_memory() as kept:
        assert kept
        before = mallinfo()
        x = torch.ones(BLOCK, dtype=torch.uint8)
        during = mallinfo()
        assert during.hblkhd == before.hblkhd  # no mapping of its own
        assert during.arena >= before.arena + BLOCK or during.uordblks >= before.uordblks + BLOCK
        del x
        after = mallinfo()
        assert after.arena >= before.arena + BLOCK or after.arena == during.arena  # not trimmed: pages kept
        assert after.fordblks >= BLOCK
    y = torch.ones(BLOCK, dtype=torch.uint8)  # glibc's settings are back: a mapping of its own again
    assert mallinfo().hblkhd >= BLOCK
    del y


@needs_glibc
def test_freed_memory_is_given_back_on_leaving():
    with allocator.keep_freed_memory():
        x = torch.ones(4 * BLOCK, dtype=torch.uint8)
        del x
        held = mallinfo().fordblks
    assert held >= 4 * BLOCK
    assert mallinfo().fordblks < held  # malloc_trim handed it back


class Recorder:
    def __init__(self):
        self.calls = []

    def mallopt(self, option, value):
        self.calls.append((option, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))
        return 1


def test_settings_are_set_once_for_nested_blocks_and_restored_by_the_outermost(monkeypatch):
    libc = Recorder()
    monkeypatch.setattr(allocator, "glibc", lambda: libc)
    with allocator.keep_freed_memory():
        with allocator.keep_freed_memory():
            pass
        assert libc.calls == [(allocator.M_MMAP_MAX, 0), (allocator.M_TRIM_THRESHOLD, -1)]
    assert libc.calls[2:] == [*allocator.RESTORED, ("trim", 0)]
    with pytest.raises(RuntimeError):
        with allocator.keep_freed_memory():
            raise RuntimeError("a failing solve")
    assert libc.calls[-1] == ("trim", 0) and allocator._depth == 0  # restored on errors too


def test_a_solve_keeps_memory_on_the_cpu_unless_turned_off(monkeypatch):
    libc = Recorder()
    monkeypatch.setattr(allocator, "glibc", lambda: libc)
    tiny = dict(steps=2, batch=16, boundary_batch=8, width=8, depth=2, eval_points=50, progress=False)
    dlpde.solve("poisson-2d", "pinn", **tiny)
    assert (allocator.M_MMAP_MAX, 0) in libc.calls
    libc.calls.clear()
    dlpde.solve("poisson-2d", "pinn", keep_freed_memory=False, **tiny)
    assert libc.calls == []
    with pytest.raises(TypeError, match="keep_freed_memory"):
        dlpde.solve("poisson-2d", "pinn", keep_freed_memory="yes", **tiny)


def test_the_users_own_malloc_settings_and_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert allocator.glibc() is None
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0")
    assert allocator.glibc() is None
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setattr(os, "confstr", lambda name: None)  # musl, macOS: no glibc version
    assert allocator.glibc() is None
    with allocator.keep_freed_memory() as kept:
        assert not kept
