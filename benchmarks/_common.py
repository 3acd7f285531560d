"""Shared helpers of the benchmark scripts: timing, machine description, RESULTS.md appends."""
from __future__ import annotations

import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def shared_data():
    """The ``data`` folder of the shared data (``casp13``, ``natives``, ``natives_extra``)."""
    from estimators.datasets import resolve_casp13_root
    return Path(resolve_casp13_root()).parent


def best_time(fn, repeat=5, warmup=1, sync=None):
    """Median wall time of ``fn()`` in seconds (after ``warmup`` calls).

    ``sync``: callable that waits for queued device work (e.g.
    ``cupy.cuda.Device().synchronize``), called before each clock reading.
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def gemm_rate(dtype, n=2048, repeat=3, xp=np, sync=None):
    """Measured GEMM rate (GFLOP/s) of ``xp`` (numpy or cupy) on this machine for ``dtype``."""
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal((n, n)).astype(dtype))
    b = xp.asarray(rng.standard_normal((n, n)).astype(dtype))
    t = best_time(lambda: a @ b, repeat=repeat, sync=sync)
    return 2.0 * n ** 3 / t / 1e9


def memory_rate(xp=np, sync=None, nbytes=256 << 20, repeat=3):
    """Measured memory bandwidth (GB/s) of ``xp``: a copy of ``nbytes`` into an already-touched
    array (read + write = 2 x nbytes moved)."""
    a = xp.ones(nbytes // 4, dtype=np.float32)
    b = xp.zeros_like(a)
    t = best_time(lambda: b.__setitem__(Ellipsis, a), repeat=repeat, sync=sync)
    return 2.0 * nbytes / t / 1e9


def machine_line():
    import numpy, scipy
    try:
        import numba
        nb = numba.__version__
    except ImportError:  # pragma: no cover
        nb = "absent"
    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores, "
            f"{platform.processor() or 'cpu'}), Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, scipy {scipy.__version__}, numba {nb}, "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def append_results(title, table, notes=""):
    """Append a section to benchmarks/RESULTS.md (never overwrite)."""
    with open(RESULTS, "a") as fh:
        fh.write(f"\n## {title}\n\n{machine_line()}\n\n{table}\n")
        if notes:
            fh.write(f"\n{notes}\n")
