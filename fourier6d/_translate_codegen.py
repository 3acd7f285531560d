"""Source generator of the unrolled translation kernels (:mod:`fourier6d._numba_translate`).

One job: write, for each degree ``lmax`` of :data:`LMAXES`, a Numba kernel that applies the
translation of :func:`fourier6d.zmessage.translation_frames` to one receiver's incoming edges
(or, in the VJP, to one source's outgoing edges) as straight-line code over the
(L + 1)^2 coefficients of one vector lane:

    w T(t) x = w Z(phi) D_y(theta) T_z(|t|) D_y(theta)^T Z(-phi) x     (Eqs. 5-6)

with Z(phi) the rotation about z (rows m and -m), D_y(theta) the rotation about y within its
m >= 0 and m < 0 sectors (its other entries are zero) and T_z the z-translation, whose block of
order m couples (l, m) only with (l', m).  The loops of the row kernels
(:func:`fourier6d._numba_zmessage._translate_range`) are unrolled over the coefficients,
so that each coefficient of a lane lives in a register through the five steps and only the
loop over 16 lanes remains: LLVM vectorises it (two 256-bit registers per coefficient: the
kernels ask for 256-bit vectors, :mod:`fourier6d._numba_vector_width`), the sources' values
are read once and the receiver's sum is read and written once per edge, against a pass over
memory per step in the row kernels.

The data are blocks of 16 lanes: ``src`` (n, P, n_chunk, Q, 16) flattened (channels padded
to a multiple of 16), the lanes of one block the channels ``16 c .. 16 c + 15`` of one radius.
Their flat indices are ``block_start + 16 q + u`` with literal ``16 q``: the block's slice
is taken once (so the indices are provably non-negative and no wrap-around select is
emitted) and LLVM sees one base pointer per array, as it must to vectorise.

Run ``python -m fourier6d._translate_codegen`` to rewrite the generated module;
``tests/test_translate_codegen.py`` checks that the committed file is this generator's output.
"""
from __future__ import annotations

import os

__all__ = ["LMAXES", "LANES", "kernel_source", "module_source", "write_module"]

#: Degrees with a generated kernel (others use the row kernels).
LMAXES = (1, 2, 3, 4)

#: Lanes per block: the vector loop's constant trip count.
LANES = 16

_INDENT = "    "


def _q(l, m):
    return l * l + l + m


def _sector(l, a):
    """Columns b of D_y's row a (position l + m in the degree-l block) within its sector."""
    n = 2 * l + 1
    return range(l, n) if a >= l else range(0, l)


def _rotation_y(L, indent, transpose):
    """Statements ``x_a = sum_b D[a, b] y_b`` (``D[b, a]`` when ``transpose``) per degree,
    within D_y's sectors, b increasing; ``r<l>_<row>_<column>`` the entries."""
    lines = []
    for l in range(L + 1):
        for a in range(2 * l + 1):
            terms = " + ".join(f"r{l}_{b}_{a} * y{l * l + b}" if transpose else
                               f"r{l}_{a}_{b} * y{l * l + b}" for b in _sector(l, a))
            lines.append(f"{indent}x{l * l + a} = {terms}")
    return lines


def _lane_body(lmax, indent):
    """Statements of the chain for one lane ``u``: inputs ``S[16 q + u]``, sum ``A[16 q + u]``."""
    L = lmax
    Q = (L + 1) ** 2
    out = []

    def add(s):
        out.append(indent + s)

    for k in range(Q):
        add(f"x{k} = S[{LANES * k} + u]")
    # Z(-phi): [Z^T v]_m = cos(m phi) v_m + sin(m phi) v_-m, [.]_-m = cos v_-m - sin v_m
    for l in range(L + 1):
        add(f"y{_q(l, 0)} = zc0 * x{_q(l, 0)}")
        for am in range(1, l + 1):
            p, n = _q(l, am), _q(l, -am)
            add(f"y{p} = zc{am} * x{p} + zs{am} * x{n}")
            add(f"y{n} = zc{am} * x{n} - zs{am} * x{p}")
    # D_y(theta)^T: v_a = sum_b D[b, a] y_b within the sector, b increasing
    out += _rotation_y(L, indent, transpose=True)
    # T_z: per m, rows (l, m) from the rows (l', m), l, l' >= |m|
    for am in range(L + 1):
        nl = L + 1 - am
        for m in ((0,) if am == 0 else (am, -am)):
            for li in range(nl):
                terms = " + ".join(f"t{am}_{li}_{lj} * x{_q(am + lj, m)}" for lj in range(nl))
                add(f"y{_q(am + li, m)} = {terms}")
    # D_y(theta): v_a = sum_b D[a, b] y_b within the sector
    out += _rotation_y(L, indent, transpose=False)
    # w Z(phi), added to the sum: [Z v]_m = cos v_m - sin v_-m, [.]_-m = cos v_-m + sin v_m
    for l in range(L + 1):
        k = _q(l, 0)
        add(f"A[{LANES * k} + u] += wc0 * x{k}")
        for am in range(1, l + 1):
            p, n = _q(l, am), _q(l, -am)
            add(f"A[{LANES * p} + u] += wc{am} * x{p} - ws{am} * x{n}")
            add(f"A[{LANES * n} + u] += wc{am} * x{n} + ws{am} * x{p}")
    return out


def kernel_source(lmax, name=None):
    """Source of the kernel of degree ``lmax`` (a function named ``_translate_l<lmax>``)."""
    L = int(lmax)
    Q = (L + 1) ** 2
    block = Q * LANES
    name = name or f"_translate_l{L}"
    I2, I3, I4 = _INDENT * 2, _INDENT * 3, _INDENT * 4
    lines = [
        f"def {name}(i0, i1, src, n_chunk, ptr, order, ordered, other, pair, flip, w, roty,",
        "        ucos, usin, tz, transpose, out):",
        f'    """out[i] = sum over the edges e of row i (``ptr``; edge ``order[k]`` unless',
        "    ``ordered``) of w[e] T(t_e) src[other[e]], i0 <= i < i1, L = "
        f'{L}; T_z^T where ``flip[e]``',
        '    differs from ``transpose``.  src: blocks (n, P, n_chunk, Q, 16) flattened."""',
        "    prefer_256_bit_vectors()",
        "    N, P, Qo, C = out.shape",
        "    B = P * n_chunk",
        f"    acc = np.empty(B * {block}, dtype=out.dtype)",
        "    for i in range(i0, i1):",
        "        acc[:] = 0.0",
        "        for k in range(ptr[i], ptr[i + 1]):",
        "            e = k if ordered else order[k]",
        "            g = pair[e]",
        "            j = other[e]",
        "            tr = flip[e] != transpose",
        "            we = w[e]",
        "            R = roty[g]",
    ]
    for am in range(L + 1):
        lines.append(f"{I3}zc{am} = ucos[g, {am}]")
        lines.append(f"{I3}wc{am} = we * zc{am}")
        if am:
            lines.append(f"{I3}zs{am} = usin[g, {am}]")
            lines.append(f"{I3}ws{am} = we * zs{am}")
    off = 0
    for l in range(L + 1):
        n = 2 * l + 1
        for a in range(n):
            for b in _sector(l, a):
                lines.append(f"{I3}r{l}_{a}_{b} = R[{off + a * n + b}]")
        off += n * n
    lines.append(f"{I3}for p in range(P):")
    lines.append(f"{I4}T = tz[g, p]")
    base = 0
    for am in range(L + 1):
        nl = L + 1 - am
        for li in range(nl):
            for lj in range(nl):
                direct, swapped = base + li * nl + lj, base + lj * nl + li
                lines.append(f"{I4}t{am}_{li}_{lj} = T[{direct}]" if direct == swapped else
                             f"{I4}t{am}_{li}_{lj} = T[{swapped}] if tr else T[{direct}]")
        base += nl * nl
    lines += [
        f"{I4}for c in range(n_chunk):",
        f"{I4}    b = p * n_chunk + c",
        f"{I4}    s0 = (j * B + b) * {block}",
        f"{I4}    S = src[s0:s0 + {block}]",
        f"{I4}    A = acc[b * {block}:(b + 1) * {block}]",
        f"{I4}    for u in range({LANES}):",
    ]
    lines += _lane_body(L, I4 + _INDENT * 2)
    lines += [
        "        for p in range(P):",
        "            for q in range(Qo):",
        "                o = out[i, p, q]",
        "                for c in range(C):",
        f"                    o[c] = acc[((p * n_chunk + c // {LANES}) * {Q} + q) * {LANES}"
        f" + c % {LANES}]",
    ]
    return "\n".join(lines) + "\n"


_HEADER = '''"""Unrolled Numba kernels of the translation-only message passing (GENERATED: do not edit).

Written by ``python -m fourier6d._translate_codegen`` (see that module for what they compute
and why they are unrolled); ``tests/test_translate_codegen.py`` checks that this file is the
generator's output.  Used by :mod:`fourier6d._numba_zmessage` for the degrees in
:data:`KERNELS`.
"""
# flake8: noqa
import numpy as np

from ._numba_kernels import AVAILABLE, numba
from ._numba_vector_width import prefer_256_bit_vectors

KERNELS = {}

if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")
'''


def module_source(lmaxes=LMAXES):
    """Text of :mod:`fourier6d._numba_translate` for the degrees ``lmaxes``."""
    parts = [_HEADER]
    for L in lmaxes:
        src = kernel_source(L)
        parts.append("\n    @_jit\n" + "".join(_INDENT + line if line else line
                                             for line in src.splitlines(True)))
        parts.append(f"\n    KERNELS[{L}] = _translate_l{L}\n")
    return "".join(parts)


def generated_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_numba_translate.py")


def write_module(path=None):
    """Write :func:`module_source` to ``path`` (default: the package's generated module)."""
    path = path or generated_path()
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(module_source())
    return path


if __name__ == "__main__":  # pragma: no cover - maintenance command
    print(write_module())
