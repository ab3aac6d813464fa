"""Giving the memory a step freed back to the operating system, between the steps of a run in one process.

`loyalty-pipeline run` executes all of a run's steps in its one process. A step's frames are freed when it
ends, but the allocators (Arrow's mimalloc pool, the C heap behind pandas and Python objects) keep
the pages for reuse, so the process stays at the size of its largest extraction while dbt's DuckDB
works beside it at its own limit. Measured at L, 90 days of every table extracted and checked in
one run: 1.63 GiB resident at the end, 1.27 GiB with these hooks (docs/performance.md). Steps run
in processes of their own (the UI, the schedule) exit after the step and lose nothing by it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import pyarrow as pa


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
    return trim


def release_freed_memory() -> None:
    """Free the garbage in reference cycles, then return the freed pages of Arrow's memory pool and of
    the C heap to the operating system."""
    # A finished step's frames can be held in reference cycles until Python's cyclic collector next
    # runs, which counts objects, not bytes: about 1 GiB after extracting two years of shop orders at L.
    gc.collect()
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Leave the objects alive on entry (modules, the definitions, the instance) out of every cyclic
    collection until exit, so that the release after each step scans only what the runs create."""
    # A full collection scans every tracked object: with Dagster, dbt and Great Expectations loaded,
    # about 0.3-0.7 s, paid after each of a run's two dozen steps. Frozen objects that become garbage
    # meanwhile are freed after exit. Within a span frozen already (nested, or by the caller) it does
    # nothing: unfreezing would thaw that caller's objects too.
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dg.success_hook(name="release_freed_memory_after_success")
def release_after_success(context: dg.HookContext) -> None:
    """After each step that succeeded."""
    release_freed_memory()


@dg.failure_hook(name="release_freed_memory_after_failure")
def release_after_failure(context: dg.HookContext) -> None:
    """After each step that failed: the run's other steps go on in the same process."""
    release_freed_memory()


RELEASE_HOOKS = frozenset({release_after_success, release_after_failure})
