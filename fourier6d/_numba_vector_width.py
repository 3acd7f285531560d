"""Per-kernel vector width of the Numba kernels: :func:`prefer_256_bit_vectors`.

One job: let a kernel ask LLVM for 256-bit vectors whatever the host's default.  LLVM picks the
width its loop vectoriser aims at from the CPU's tuning: 256 bits on AVX2 hosts and on the Intel
AVX-512 cores measured here (``rocketlake``), 512 bits on AMD Zen 4 (``znver4``).  The unrolled
translation kernels keep every coefficient of a block of 16 lanes in registers through a chain
of products; on Zen 4, which executes a 512-bit operation as two 256-bit halves, their 512-bit
code ran 1.24-1.26x slower than the same source compiled for 256-bit vectors, and a 6DCNN-2
training iteration about 1.06x slower (benchmarks/RESULTS.md, "Message passing", "Vector width
per kernel"); the normalization kernels gain too, other kernels measured the same or slower and
do not call it.  Setting the width for the whole process (``NUMBA_CPU_FEATURES``) would
change every other Numba function of the user's process; the function attribute
``"prefer-vector-width"="256"``, which LLVM reads per function, changes only the kernel that
calls :func:`prefer_256_bit_vectors` (a no-op at run time: it emits no instruction).  Where the
process sets Numba's CPU features itself (``NUMBA_CPU_FEATURES``, e.g. ``-prefer-256-bit`` for
512-bit kernels on an Intel AVX-512 host, docs/tutorial.rst), the hint steps aside and that
setting holds for these kernels too.

llvmlite has no public call for string attributes; the attribute is added to the function's
attribute set directly, and if that ever fails (another llvmlite), the kernel keeps the host's
default width: the hint changes speed only, never results beyond float rounding of the
vectorised sums (the kernels' tests compare them with the reference path at float tolerance).
"""
from __future__ import annotations

from ._numba_kernels import AVAILABLE, numba

__all__ = ["ATTRIBUTE", "prefer_256_bit_vectors"]

#: The LLVM function attribute the hint sets.
ATTRIBUTE = '"prefer-vector-width"="256"'

if AVAILABLE:
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def prefer_256_bit_vectors(typingctx):
        """Mark the calling Numba function for 256-bit vectors (see the module); returns None."""
        def codegen(context, builder, signature, args):
            if numba.config.CPU_FEATURES is None:       # the process leaves the CPU to LLVM
                try:
                    set.add(builder.function.attributes, ATTRIBUTE)
                except Exception:  # pragma: no cover - depends on llvmlite's internals
                    pass
            return context.get_dummy_value()
        return types.none(), codegen
else:  # pragma: no cover - depends on the environment
    prefer_256_bit_vectors = None
