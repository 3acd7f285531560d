"""Time each fourier6d operator at the paper's sizes; report GFLOP/s vs this machine's GEMM rate.

Sizes (paper): L = 4, 5 radial points, C channels (16 by default), 300 residues,
25 graph neighbours each, ~120 atoms per neighbourhood.  FLOPs count the dense
work each implementation performs (e.g. the dense per-shell GEMMs of the 6D
convolution, zeros of the Gaunt table included).

Each operator is also placed on a roofline: its limit is the larger of
FLOPs / (GEMM rate) and bytes / (memory bandwidth), both measured in the same
run, where bytes = every input read once plus the output written once (the
least any implementation must move); "fraction of limit" = limit / measured
time.  A memory-bound operator (few FLOPs per byte) cannot approach the GEMM
rate, whatever its implementation; its fraction of the limit says how far it
is from what the machine allows.

    python benchmarks/bench_operators.py [--channels 16] [--dtype float32] [--device cpu|cuda]
                                         [--no-append] [--no-compare]

With ``--device cuda`` every operator runs on CuPy arrays (the same code) and
the GEMM rate is CuPy's, timed with device synchronisation.

On the CPU, operators that have a Numba kernel (NumPy inputs) are timed a
second time in the same run with that kernel switched off (the array path,
which CuPy runs, on NumPy), and the ratio is printed ("kernel speed-up").
"""
from __future__ import annotations

import argparse
import contextlib

import numpy as np

import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import best_time, gemm_rate, memory_rate, append_results  # noqa: E402

from autograd import grad  # noqa: E402

from fourier6d import (random_rotations, RadialGrid, point_basis, embed_atoms, wigner_d_real, rotate,
                       conv6d, normalize, activation, switch_to_vector, edge_operators, pass_messages,
                       translate_z, edge_frames, pass_messages_z)
from fourier6d.harmonics import n_coef
from fourier6d.zmessage import (multiply_adds, translation_multiply_adds, frame_floats,
                                translation_frames)
from fourier6d import (_numba_edge, _numba_embed, _numba_wigner, _numba_rotate, _numba_norm,
                       _numba_activation, _numba_zmessage, expansion)

#: Per operator (row-name prefix), the switch of its Numba kernel: (module, function) replaced
#: by one returning False while the array path is timed.
KERNEL_SWITCHES = {
    "point_basis": (expansion, "_use_numba"),
    "embed_atoms": (_numba_embed, "applicable"),
    "wigner_d_real": (_numba_wigner, "applicable"),
    "rotate": (_numba_rotate, "applicable"),
    "translate_z": (expansion, "_use_numba"),
    "edge_operators": (_numba_edge, "applicable"),
    "edge_frames": (_numba_zmessage, "applicable_frames"),
    "pass_messages_z": (_numba_zmessage, "applicable"),
    "translation_frames": (_numba_zmessage, "applicable_frames"),
    "translate": (_numba_zmessage, "applicable"),
    "normalize": (_numba_norm, "applicable"),
    "activation": (_numba_activation, "applicable"),
}


@contextlib.contextmanager
def kernel_off(name):
    """Within the block, the Numba kernel of operator ``name`` is not used (array path)."""
    module, attr = KERNEL_SWITCHES[name]
    saved = getattr(module, attr)
    setattr(module, attr, lambda *a, **k: False)
    try:
        yield
    finally:
        setattr(module, attr, saved)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residues", type=int, default=300)
    ap.add_argument("--neighbours", type=int, default=25)
    ap.add_argument("--atoms", type=int, default=120)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--lmax", type=int, default=4)
    ap.add_argument("--n-radial", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--no-append", action="store_true")
    ap.add_argument("--no-compare", action="store_true",
                    help="do not also time the array path of operators with a Numba kernel")
    args = ap.parse_args(argv)
    if args.device == "cuda":
        import cupy as xp
        sync = xp.cuda.Device().synchronize
    else:
        xp, sync = np, None

    dt = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    N, K, A, C, L, P = args.residues, args.neighbours, args.atoms, args.channels, args.lmax, args.n_radial
    Q = n_coef(L)
    grid = RadialGrid.from_sigma(2.0, P)
    gemm = gemm_rate(dt, xp=xp, sync=sync)
    bandwidth = memory_rate(xp=xp, sync=sync)
    xyz = xp.asarray((rng.uniform(-1, 1, (N, A, 3)) * 8.0).astype(np.float64))
    basis = point_basis(xyz, grid, L, 2.0, dtype=dt)
    types = xp.asarray(rng.integers(0, 168, (N, A)))
    E = xp.asarray(rng.standard_normal((168, C)).astype(dt))
    F = xp.asarray(rng.standard_normal((N, P, Q, C)).astype(dt))
    W = xp.asarray(rng.standard_normal((P, Q, C, C)).astype(dt))
    B = xp.asarray(rng.standard_normal((P, Q, C)).astype(dt))
    R = xp.asarray(random_rotations(N * K, rng).reshape(N, K, 3, 3).astype(dt))
    t = xp.asarray((rng.standard_normal((N, K, 3)) * 5).astype(dt))
    nbr = xp.asarray(rng.integers(0, N, (N, K)))
    mask = xp.ones((N, K), bool)
    D = wigner_d_real(L, R.reshape(-1, 3, 3))
    Fe = xp.repeat(F[:, None], K, axis=1).reshape(N * K, P, Q, C)
    ops = edge_operators(R, t, grid, L, mask)
    d = xp.asarray(rng.uniform(0, 10, N * K).astype(dt))
    blocks = sum((2 * l + 1) ** 2 for l in range(L + 1))

    rows = []
    f, i8 = dt.itemsize, 8                          # bytes of a float and of an index
    E_ = N * K                                      # edges

    def run(name, fn, flops, nbytes):
        sec = best_time(fn, repeat=args.repeat, sync=sync)
        rate = flops / sec / 1e9 if flops else float("nan")
        limit = max(flops / (gemm * 1e9), nbytes / (bandwidth * 1e9))
        key = name.split(" ")[0]
        array_ms = float("nan")
        if args.device == "cpu" and key in KERNEL_SWITCHES and not args.no_compare:
            with kernel_off(key):
                array_ms = best_time(fn, repeat=args.repeat, sync=sync) * 1e3
        rows.append((name, sec * 1e3, rate, rate / gemm if flops else float("nan"),
                     flops / nbytes, limit * 1e3, limit / sec, array_ms))

    coef = N * P * Q * C * f                        # one (N, P, Q, C) coefficient array
    run(f"point_basis ({N}x{A} atoms)", lambda: point_basis(xyz, grid, L, 2.0, dtype=dt), 0,
        N * A * 3 * 8 + N * A * P * Q * f)
    run("embed_atoms (Eq. 2, t=E[type])", lambda: embed_atoms(basis, types, E), 2 * N * A * P * Q * C,
        N * A * (P * Q * f + i8) + 168 * C * f + coef)
    run(f"wigner_d_real ({E_} rotations)", lambda: wigner_d_real(L, R.reshape(-1, 3, 3)), 0,
        E_ * (9 * f + Q * Q * f))
    run(f"rotate ({E_} edges, Eq. 6)", lambda: rotate(Fe, D), 2 * E_ * P * blocks * C,
        E_ * (2 * P * Q * C + Q * Q) * f)
    run(f"translate_z ({E_}, C=1, Eq. 5)", lambda: translate_z(Fe[:, :, :, :1], d, grid), 0,
        E_ * (f + 2 * P * Q * f))
    # FLOPs the implementation performs per edge and shell: the fused Numba kernel (NumPy) forms T
    # from the plane-wave table's nonzeros and T D over D's diagonal blocks; the array path
    # (CuPy, or no Numba) one dense GEMM with the table and one dense (Q x Q) @ (Q x Q)
    if args.device == "cpu" and _numba_edge.AVAILABLE:
        edge_flops = 2 * E_ * P * (int(_numba_edge._sparse_table(L)[2].size) + Q * blocks)
    else:
        edge_flops = 2 * E_ * P * ((2 * L + 1) ** 2 * Q * Q + Q ** 3)
    run(f"edge_operators ({E_} edges)", lambda: edge_operators(R, t, grid, L, mask), edge_flops,
        E_ * (12 * f + P * Q * Q * f + 1))
    run(f"pass_messages ({N}x{K}, Eqs. 5-6)", lambda: pass_messages(F, ops, nbr, mask),
        2 * E_ * P * Q * Q * C, E_ * (P * Q * Q * f + i8 + 1) + 2 * coef)
    gcot = xp.asarray(rng.standard_normal(F.shape).astype(dt))
    run(f"pass_messages forward+VJP ({N}x{K})",
        lambda: grad(lambda a: (pass_messages(a, ops, nbr, mask) * gcot).sum())(F),
        4 * E_ * P * Q * Q * C, 2 * (E_ * (P * Q * Q * f + i8 + 1) + 2 * coef))
    del ops
    # message passing through edge frames (the default): geometry once, then the messages; the
    # FLOPs the kernels perform (channels padded to a multiple of 8 on the Numba path)
    fr = edge_frames(R, t, grid, L, nbr, mask)
    frame_bytes = E_ * (frame_floats(L, P) * f + 2 * i8)
    run(f"edge_frames ({E_} edges)", lambda: edge_frames(R, t, grid, L, nbr, mask), 0,
        E_ * (12 * f + 1) + frame_bytes)
    c_done = -(-C // 8) * 8 if args.device == "cpu" and _numba_zmessage.AVAILABLE else C
    z_flops = 2 * E_ * multiply_adds(L, P, c_done)
    run(f"pass_messages_z ({N}x{K}, edge frames)", lambda: pass_messages_z(F, fr), z_flops,
        frame_bytes + 2 * coef)
    run(f"pass_messages_z forward+VJP ({N}x{K})",
        lambda: grad(lambda a: (pass_messages_z(a, fr) * gcot).sum())(F), 2 * z_flops,
        2 * (frame_bytes + 2 * coef))
    # a symmetric graph (every edge with its reverse, as the residue graphs of the networks), whose
    # VJP is the messages of the cotangent (zmessage.reverse_edges): K neighbours on a ring,
    # geometry from node frames and origins
    Fn = random_rotations(N, rng)
    xn = rng.standard_normal((N, 3)) * 5
    ring = np.array([s for k in range(1, K // 2 + 1) for s in (k, -k)])
    nbr_s = (np.arange(N)[:, None] + ring[None]) % N
    R_s = xp.asarray((np.swapaxes(Fn[:, None], -1, -2) @ Fn[nbr_s]).astype(dt))
    t_s = xp.asarray(np.einsum("nba,nkb->nka", Fn, xn[nbr_s] - xn[:, None]).astype(dt))
    mask_s = xp.ones(nbr_s.shape, bool)
    fr = edge_frames(R_s, t_s, grid, L, xp.asarray(nbr_s), mask_s)
    assert fr.symmetric
    E_s = fr.n_edges
    frame_bytes_s = E_s * (frame_floats(L, P) * f + 2 * i8)
    run(f"pass_messages_z forward+VJP ({N}x{nbr_s.shape[1]}, symmetric graph)",
        lambda: grad(lambda a: (pass_messages_z(a, fr) * gcot).sum())(F),
        2 * 2 * E_s * multiply_adds(L, P, c_done), 2 * (frame_bytes_s + 2 * coef))
    del fr
    # the networks' path: translation-only frames between node frames (zmessage
    # .translation_frames), the unrolled kernels on blocks of 16 lanes (channels padded to 16 on
    # the Numba path) for the messages, the same ring graph
    fr = translation_frames(xp.asarray(xn), grid, L, xp.asarray(nbr_s), mask_s, dtype=dt)
    n_pairs = int(fr.roty.shape[0])
    t_bytes = n_pairs * (frame_floats(L, P) - blocks) * f + E_s * (3 * i8 + 1 + f)
    run(f"translation_frames ({E_s} edges, {n_pairs} pairs)",
        lambda: translation_frames(xp.asarray(xn), grid, L, xp.asarray(nbr_s), mask_s, dtype=dt),
        0, n_pairs * 3 * 8 + t_bytes)
    c_t = -(-C // 16) * 16 if args.device == "cpu" and _numba_zmessage.AVAILABLE else C
    t_flops = 2 * E_s * translation_multiply_adds(L, P, c_t)
    run(f"translate messages ({N}x{nbr_s.shape[1]}, node frames)",
        lambda: pass_messages_z(F, fr), t_flops, t_bytes + 2 * coef)
    run(f"translate messages forward+VJP ({N}x{nbr_s.shape[1]})",
        lambda: grad(lambda a: (pass_messages_z(a, fr) * gcot).sum())(F), 2 * t_flops,
        2 * (t_bytes + 2 * coef))
    if args.device == "cpu" and _numba_zmessage.AVAILABLE:
        # the row kernel on the same frames (channels padded to 8): what the unrolled one replaced
        _numba_zmessage.UNROLLED = False
        try:
            run(f"translate messages, row kernel ({N}x{nbr_s.shape[1]})",
                lambda: pass_messages_z(F, fr),
                2 * E_s * translation_multiply_adds(L, P, -(-C // 8) * 8), t_bytes + 2 * coef)
        finally:
            _numba_zmessage.UNROLLED = True
    del fr
    run(f"conv6d ({N} res, {C}->{C}, Eq. 4)", lambda: conv6d(F, W, B), 2 * N * P * (Q * C) ** 2,
        2 * coef + (P * Q * C * C + P * Q * C) * f)
    run("normalize (Eq. 7)", lambda: normalize(F, grid), 3 * N * P * Q * C, 2 * coef)
    run("activation (Eq. 9)", lambda: activation(F, B, grid), 12 * N * P * Q * C,
        2 * coef + P * Q * C * f)
    run("switch_to_vector (Eq. 11)", lambda: switch_to_vector(F, W, grid), 2 * N * P * Q * C * C,
        coef + P * Q * C * C * f + N * C * f)

    table = [f"| operator | ms | GFLOP/s | fraction of GEMM ({gemm:.0f} GFLOP/s {dt.name}) "
             f"| FLOP/byte | limit ms (GEMM, {bandwidth:.1f} GB/s) | fraction of limit "
             f"| ms without its Numba kernel | kernel speed-up |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, ms, rate, frac, intensity, limit_ms, frac_limit, array_ms in rows:
        fr = "" if np.isnan(frac) else f"{frac:.2f}"
        rt = "" if np.isnan(rate) else f"{rate:.1f}"
        am, su = ("", "") if np.isnan(array_ms) else (f"{array_ms:.2f}", f"{array_ms / ms:.1f}x")
        table.append(f"| {name} | {ms:.2f} | {rt} | {fr} | {intensity:.1f} | {limit_ms:.2f} "
                     f"| {frac_limit:.2f} | {am} | {su} |")
    table = "\n".join(table)
    print(table)
    if not args.no_append:
        backend = "cupy" if args.device == "cuda" else "numpy"
        append_results(f"Operators at paper sizes (L={L}, P={P}, C={C}, {dt.name}, {backend})", table,
                       "FLOPs count the dense work performed (zeros of sparse tables included); "
                       "blank = not a GEMM-like operator. Limit = max(FLOPs / GEMM rate, bytes / "
                       "bandwidth), bytes = inputs read once + output written once, both rates "
                       "measured in this run; fraction of limit = limit / time. Last two columns (CPU): the "
                       "same operator with its Numba kernel switched off (the array path, which "
                       "CuPy runs), in the same run, and the ratio.")


if __name__ == "__main__":
    main()
