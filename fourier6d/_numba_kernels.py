"""Numba CPU kernel of the plane-wave basis j_l(rho_p r) Y^R_lm(r_hat) (paper Eq. 2).

One job: a fused, per-point loop for NumPy inputs of
:func:`fourier6d.expansion.bessel_harmonic_basis` and
:func:`fourier6d.expansion.point_basis`.  It evaluates, point by point and
without temporaries:

* ``Y^R_lm`` by the Cartesian recurrences ``A_m + i B_m = (x + i y)^m`` and
  the three-term recurrence in l of ``Pi_l^m`` (``P_l^m = sin^m(t) Pi_l^m``),
  as :func:`fourier6d.harmonics.real_sph_harm`;
* ``j_l(x)`` in three regimes: the power series for x < 1 and the upward
  recurrence from j_0 and j_1 for x > l + 1 (both as
  :func:`fourier6d.harmonics.spherical_jn`); for 1 <= x <= l + 1, unlike the
  reference path (Miller's recurrence from l = 2 lmax + 24), the power series
  of j_lmax and j_(lmax-1) in x^2 (Horner, truncated below 1e-18 at
  x = lmax + 1: 18 terms for lmax = 4) followed by the downward recurrence,
  which is stable in that direction; about 3x fewer operations than Miller's
  32 steps at lmax = 4;
* times a per-radial-point factor (ones, or the Gaussian factor of Eq. 2).

The array-agnostic path stays the reference (and the CuPy path); the tests
check that both agree to 1e-12 in float64, and the kernel's j_l against
:func:`scipy.special.spherical_jn` to 1e-15 (lmax <= 4) in every regime.
Everything here is computed in float64 and written in the dtype of ``out``.

Numba is optional: :data:`AVAILABLE` is False when it cannot be imported,
and callers then use the reference path.  Setting the environment variable
``FOURIER6D_DISABLE_NUMBA=1`` disables the kernel too.
"""
from __future__ import annotations

import math
import os
import threading

import numpy as np

from ._backend import recycled_buffer, release_buffers

__all__ = ["AVAILABLE", "ylm_norms", "basis_into", "neighbour_lists", "neighbourhood_basis",
           "default_threads", "release_buffers"]

#: Terms of the power series of j_l for x < 1 (as ``harmonics._jn_series``).
SERIES_TERMS = 12
#: Truncation of the power series of j_lmax and j_(lmax-1) for 1 <= x <= lmax + 1 (last term
#: at x = lmax + 1 below this).
SERIES_TOL = 1e-18
#: Points per block of the kernel (temporaries stay in L1/L2 cache).
BLOCK = 64
#: Points per thread below which :func:`basis_into` runs in the calling thread only.
POINTS_PER_THREAD = 2048
#: Output arrays of at least this size are allocated zeroed (glibc serves them with mmap).
ZEROED_BYTES = 32 << 20
#: Cells per search radius of the neighbour search (cell list).
CELLS_PER_RADIUS = 2

try:  # pragma: no branch
    if os.environ.get("FOURIER6D_DISABLE_NUMBA", "") not in ("", "0"):
        raise ImportError("disabled by FOURIER6D_DISABLE_NUMBA")
    import numba
    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    AVAILABLE = False


def ylm_norms(lmax):
    """Normalisation ``c_lm`` of the real harmonics, host float64 (lmax+1, lmax+1).

    ``c_l0 = N_l0`` and ``c_lm = sqrt(2) N_lm`` (m > 0) with
    ``N_lm = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!)``; entries with m > l are 0.
    """
    c = np.zeros((lmax + 1, lmax + 1))
    for l in range(lmax + 1):
        for m in range(l + 1):
            n = math.sqrt((2 * l + 1) / (4 * math.pi)
                          * math.exp(math.lgamma(l - m + 1) - math.lgamma(l + m + 1)))
            c[l, m] = n if m == 0 else math.sqrt(2.0) * n
    return c


def _double_factorials(lmax):
    """``(2m-1)!!`` for m = 0..lmax (Pi_m^m), host float64."""
    return np.array([float(np.prod(np.arange(1, 2 * m, 2))) if m > 0 else 1.0
                     for m in range(lmax + 1)])


if AVAILABLE:
    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

    @_jit
    def _ylm_block(lmax, n, ux, uy, uz, norms, pmm, A, B, pib, Y):
        """Y[q, i] = Y^R_q(u_i), i < n (Cartesian recurrences of real_sph_harm)."""
        for i in range(n):
            A[0, i] = 1.0
            B[0, i] = 0.0
        for m in range(1, lmax + 1):
            for i in range(n):
                A[m, i] = ux[i] * A[m - 1, i] - uy[i] * B[m - 1, i]
                B[m, i] = ux[i] * B[m - 1, i] + uy[i] * A[m - 1, i]
        for m in range(lmax + 1):
            for l in range(m, lmax + 1):
                # Pi_l^m: (2m-1)!!, then the three-term recurrence in l
                if l == m:
                    for i in range(n):
                        pib[l, i] = pmm[m]
                elif l == m + 1:
                    for i in range(n):
                        pib[l, i] = (2 * m + 1) * uz[i] * pib[l - 1, i]
                else:
                    for i in range(n):
                        pib[l, i] = ((2 * l - 1) * uz[i] * pib[l - 1, i]
                                     - (l + m - 1) * pib[l - 2, i]) / (l - m)
                q0 = l * l + l
                if m == 0:
                    for i in range(n):
                        Y[q0, i] = norms[l, 0] * pib[l, i]
                else:
                    for i in range(n):
                        c = norms[l, m] * pib[l, i]
                        Y[q0 + m, i] = c * A[m, i]
                        Y[q0 - m, i] = c * B[m, i]

    @_jit
    def _jn_block(lmax, nk, x, sn, cs, jl, sel, xc, xinv, w0, w1, w2, w3, ser):
        """jl[l, k] = j_l(x[k]), k < nk, given sn = sin(x), cs = cos(x) where x >= 1.

        The three regimes of the module docstring; the series and the
        middle regime run on compacted index lists (sel) so that each loop
        vectorises.  ``ser``: :func:`_series_table` (lmax).
        """
        # upward recurrence from j_0, j_1 (used where x > l + 1, and for j_0 where x >= 1)
        for k in range(nk):
            xb = x[k] if x[k] >= 1.0 else 1.0
            inv = 1.0 / xb
            xinv[k] = inv
            jl[0, k] = sn[k] * inv
            if lmax >= 1:
                jl[1, k] = sn[k] * inv * inv - cs[k] * inv
        for l in range(1, lmax):
            for k in range(nk):
                jl[l + 1, k] = (2 * l + 1) * xinv[k] * jl[l, k] - jl[l - 1, k]
        # power series, x < 1
        ns = 0
        for k in range(nk):
            if x[k] == 0.0:                  # the series at x = 0 gives exactly j_0 = 1, j_l = 0
                jl[0, k] = 1.0
                for l in range(1, lmax + 1):
                    jl[l, k] = 0.0
            elif x[k] < 1.0:
                sel[ns] = k
                ns += 1
        if ns > 0:
            for j in range(ns):
                xc[j] = x[sel[j]]
                w2[j] = 1.0                          # x^l / (2l+1)!!
            for l in range(lmax + 1):
                if l > 0:
                    for j in range(ns):
                        w2[j] = w2[j] * xc[j] / (2 * l + 1)
                for j in range(ns):
                    w0[j] = 1.0                      # term
                    w1[j] = 1.0                      # total
                for t in range(1, SERIES_TERMS):
                    f = -0.5 / (t * (2 * l + 2 * t + 1))
                    for j in range(ns):
                        w0[j] = w0[j] * (f * xc[j] * xc[j])
                        w1[j] = w1[j] + w0[j]
                for j in range(ns):
                    jl[l, sel[j]] = w2[j] * w1[j]
        # 1 <= x <= lmax + 1: j_lmax and j_(lmax-1) by their power series in x^2 (Horner,
        # coefficients ser[1] and ser[0], enough terms for x = lmax + 1), then the downward
        # recurrence j_(l-1) = (2l+1)/x j_l - j_(l+1) (the stable direction) for l < lmax - 1
        if lmax < 1:
            return
        nm = 0
        for k in range(nk):
            if x[k] >= 1.0 and not (x[k] > lmax + 1):
                sel[nm] = k
                nm += 1
        if nm == 0:
            return
        n_terms = ser.shape[1]
        for j in range(nm):
            xc[j] = x[sel[j]]
            w2[j] = xc[j] * xc[j]
            w0[j] = ser[0, n_terms - 1]              # series of j_(lmax-1) / x^(lmax-1)
            w1[j] = ser[1, n_terms - 1]              # series of j_lmax / x^lmax
        for t in range(n_terms - 2, -1, -1):
            a0 = ser[0, t]
            a1 = ser[1, t]
            for j in range(nm):
                w0[j] = w0[j] * w2[j] + a0
                w1[j] = w1[j] * w2[j] + a1
        for j in range(nm):
            pw = 1.0                                 # x^(lmax-1)
            for l in range(lmax - 1):
                pw *= xc[j]
            w3[(lmax - 1) * nm + j] = w0[j] * pw
            w3[lmax * nm + j] = w1[j] * pw * xc[j]
        for l in range(lmax - 1, 0, -1):
            for j in range(nm):
                w3[(l - 1) * nm + j] = ((2 * l + 1) * xinv[sel[j]] * w3[l * nm + j]
                                        - w3[(l + 1) * nm + j])
        for l in range(lmax + 1):
            for j in range(nm):
                if not (xc[j] > l + 1):              # else the upward value (more accurate)
                    jl[l, sel[j]] = w3[l * nm + j]

    @_jit
    def _series_table(lmax):
        """Power-series coefficients of j_(lmax-1) and j_lmax (rows 0, 1): j_l(x) =
        x^l sum_t a[t] x^(2t), a[0] = 1/(2l+1)!!, a[t] = -a[t-1] / (2t (2l+2t+1));
        terms until |a[t]| x^(2t+l) < SERIES_TOL at x = lmax + 1 (rows zero-padded)."""
        x_max = lmax + 1.0
        n_terms = 1
        for row in range(2):
            l = max(lmax - 1 + row, 0)
            a = 1.0
            for k in range(1, l + 1):
                a /= 2 * k + 1
            t = 0
            while abs(a) * x_max ** (2 * t + l) >= SERIES_TOL or t < 2:
                t += 1
                a = -a * 0.5 / (t * (2 * l + 2 * t + 1))
            n_terms = max(n_terms, t + 1)
        ser = np.zeros((2, n_terms))
        for row in range(2):
            l = max(lmax - 1 + row, 0)
            a = 1.0
            for k in range(1, l + 1):
                a /= 2 * k + 1
            for t in range(n_terms):
                if t > 0:
                    a = -a * 0.5 / (t * (2 * l + 2 * t + 1))
                ser[row, t] = a
        return ser

    @_jit
    def _basis_workspace(n_l, n_radial):
        """Scratch arrays of :func:`_basis_block` (one set per thread)."""
        nkb = n_radial * BLOCK
        n_coef = n_l * n_l
        l_of_q = np.empty(n_coef, dtype=np.int64)
        for l in range(n_l):
            for q in range(l * l, (l + 1) * (l + 1)):
                l_of_q[q] = l
        return (np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK),
                np.empty((n_l, BLOCK)), np.empty((n_l, BLOCK)), np.empty((n_l, BLOCK)),
                np.empty((n_coef, BLOCK)), np.empty((BLOCK, n_coef)), np.empty((nkb, n_l)),
                l_of_q, np.empty(nkb), np.empty(nkb), np.empty(nkb), np.empty((n_l, nkb)),
                np.empty(nkb, dtype=np.int64), np.empty(nkb), np.empty(nkb), np.empty(nkb),
                np.empty(nkb), np.empty(nkb), np.empty(n_l * nkb), _series_table(n_l - 1))

    @_jit
    def _basis_block(n, px, py, pz, rho, radial_factor, lmax, norms, pmm, uniform, ws,
                     out, rows):
        """out[rows[i], p, q] = radial_factor[p] j_l(rho_p r_i) Y^R_lm(u_i) for the n <= BLOCK
        points (px[i], py[i], pz[i]), i < n (the per-point formulas of the module docstring)."""
        (r, ux, uy, uz, A, B, pib, Y, Yt, jlt, l_of_q, x, sn, cs, jl, sel, xc, xinv,
         w0, w1, w2, w3, ser) = ws
        n_radial = rho.shape[0]
        n_l = lmax + 1
        n_coef = n_l * n_l
        for i in range(n):
            x0 = px[i]
            y0 = py[i]
            z0 = pz[i]
            rr = math.sqrt(x0 * x0 + y0 * y0 + z0 * z0)
            r[i] = rr
            if rr > 0:
                inv = 1.0 / rr
                ux[i] = x0 * inv
                uy[i] = y0 * inv
                uz[i] = z0 * inv
            else:      # the zero vector gets the direction +z (as real_sph_harm)
                ux[i] = 0.0
                uy[i] = 0.0
                uz[i] = 1.0
        _ylm_block(lmax, n, ux, uy, uz, norms, pmm, A, B, pib, Y)
        nk = n_radial * n
        for p in range(n_radial):
            for i in range(n):
                x[p * n + i] = r[i] * rho[p]
        if uniform:
            # rho_p = p drho: sin/cos of p theta by angle addition from theta = r drho
            for i in range(n):
                sn[i] = 0.0
                cs[i] = 1.0
            if n_radial > 1:
                for i in range(n):
                    sn[n + i] = math.sin(x[n + i])
                    cs[n + i] = math.cos(x[n + i])
            for p in range(2, n_radial):
                for i in range(n):
                    k = p * n + i
                    s1 = sn[n + i]
                    c1 = cs[n + i]
                    sn[k] = sn[k - n] * c1 + cs[k - n] * s1
                    cs[k] = cs[k - n] * c1 - sn[k - n] * s1
        else:
            for k in range(nk):
                sn[k] = math.sin(x[k])
                cs[k] = math.cos(x[k])
        _jn_block(lmax, nk, x, sn, cs, jl, sel, xc, xinv, w0, w1, w2, w3, ser)
        for l in range(n_l):
            for k in range(nk):
                jlt[k, l] = jl[l, k]
        for q in range(n_coef):
            for i in range(n):
                Yt[i, q] = Y[q, i]
        for i in range(n):
            for p in range(n_radial):
                k = p * n + i
                f = radial_factor[p]
                orow = out[rows[i], p]
                for q in range(n_coef):
                    orow[q] = jlt[k, l_of_q[q]] * f * Yt[i, q]

    @_jit
    def _basis_range(i0, i1, xyz, index, rho, radial_factor, lmax, norms, pmm, uniform, out):
        """:func:`_basis_kernel` for the points ``index[i0:i1]`` (one thread's range)."""
        _basis_kernel(xyz, index[i0:i1], rho, radial_factor, lmax, norms, pmm, uniform, out)

    @_jit
    def _basis_kernel(xyz, index, rho, radial_factor, lmax, norms, pmm, uniform, out):
        n_points = index.shape[0]
        ws = _basis_workspace(lmax + 1, rho.shape[0])
        px = np.empty(BLOCK)
        py = np.empty(BLOCK)
        pz = np.empty(BLOCK)
        for start in range(0, n_points, BLOCK):
            n = min(BLOCK, n_points - start)
            for i in range(n):
                row = index[start + i]
                px[i] = xyz[row, 0]
                py[i] = xyz[row, 1]
                pz[i] = xyz[row, 2]
            _basis_block(n, px, py, pz, rho, radial_factor, lmax, norms, pmm, uniform, ws,
                         out, index[start:start + n])

    @_jit
    def _cell_grid(points, h, max_cells):
        """Cell list (cubes of side >= h) of the finite rows of ``points`` (m, 3).

        Returns (lo, h, dims, start, items, sxyz): the items of cell c (ravelled
        (ix, iy, iz) index) are ``items[start[c]:start[c + 1]]``, ascending, and
        ``sxyz[t] = points[items[t]]`` (contiguous coordinates per cell).
        """
        m = points.shape[0]
        lo = np.zeros(3)
        hi = np.zeros(3)
        first = True
        for a in range(m):
            x0 = points[a, 0]
            y0 = points[a, 1]
            z0 = points[a, 2]
            if math.isfinite(x0) and math.isfinite(y0) and math.isfinite(z0):
                if first:
                    lo[0] = hi[0] = x0
                    lo[1] = hi[1] = y0
                    lo[2] = hi[2] = z0
                    first = False
                else:
                    lo[0] = min(lo[0], x0)
                    lo[1] = min(lo[1], y0)
                    lo[2] = min(lo[2], z0)
                    hi[0] = max(hi[0], x0)
                    hi[1] = max(hi[1], y0)
                    hi[2] = max(hi[2], z0)
        while ((math.floor((hi[0] - lo[0]) / h) + 1.0) * (math.floor((hi[1] - lo[1]) / h) + 1.0)
               * (math.floor((hi[2] - lo[2]) / h) + 1.0)) > max_cells:
            h = 2.0 * h               # coarser cells: still exact, only more candidates
        dims = np.empty(3, dtype=np.int64)
        for d in range(3):
            dims[d] = int(math.floor((hi[d] - lo[d]) / h)) + 1
        n_cells = dims[0] * dims[1] * dims[2]
        cell_of = np.full(m, -1, dtype=np.int64)
        start = np.zeros(n_cells + 1, dtype=np.int64)
        for a in range(m):
            x0 = points[a, 0]
            y0 = points[a, 1]
            z0 = points[a, 2]
            if math.isfinite(x0) and math.isfinite(y0) and math.isfinite(z0):
                ix = min(int((x0 - lo[0]) / h), dims[0] - 1)
                iy = min(int((y0 - lo[1]) / h), dims[1] - 1)
                iz = min(int((z0 - lo[2]) / h), dims[2] - 1)
                c = (ix * dims[1] + iy) * dims[2] + iz
                cell_of[a] = c
                start[c + 1] += 1
        for c in range(n_cells):
            start[c + 1] += start[c]
        fill = start[:n_cells].copy()
        items = np.empty(start[n_cells], dtype=np.int64)
        sxyz = np.empty((start[n_cells], 3))
        for a in range(m):
            c = cell_of[a]
            if c >= 0:
                t = fill[c]
                items[t] = a
                sxyz[t, 0] = points[a, 0]
                sxyz[t, 1] = points[a, 1]
                sxyz[t, 2] = points[a, 2]
                fill[c] += 1
        return lo, h, dims, start, items, sxyz

    @_jit
    def _gather(cx, cy, cz, skip, r2, span, lo, h, dims, start, items, sxyz, scratch, buf):
        """Rows a != skip of the gridded points with dx*dx + dy*dy + dz*dz < r2 (d = point - c).

        ``span`` cells on each side are searched (span * h > the radius).
        Stores the rows ascending in ``buf`` when they fit (else only the
        count is exact); returns the count.  ``scratch`` holds at least as
        many items as the grid.
        """
        cap = buf.shape[0]
        fx = math.floor((cx - lo[0]) / h)
        fy = math.floor((cy - lo[1]) / h)
        fz = math.floor((cz - lo[2]) / h)
        if not (math.isfinite(fx) and math.isfinite(fy) and math.isfinite(fz)):
            return 0
        x0 = int(max(fx - span, 0.0))
        x1 = int(min(fx + span, dims[0] - 1.0))
        y0 = int(max(fy - span, 0.0))
        y1 = int(min(fy + span, dims[1] - 1.0))
        z0 = int(max(fz - span, 0.0))
        z1 = int(min(fz + span, dims[2] - 1.0))
        n = 0
        for ix in range(x0, x1 + 1):
            for iy in range(y0, y1 + 1):
                c0 = (ix * dims[1] + iy) * dims[2]
                for t in range(start[c0 + z0], start[c0 + z1 + 1]):
                    dx = sxyz[t, 0] - cx
                    dy = sxyz[t, 1] - cy
                    dz = sxyz[t, 2] - cz
                    a = items[t]
                    scratch[n] = a                    # branch-free: kept only if it passes
                    n += (dx * dx + dy * dy + dz * dz < r2) & (a != skip)
        for k in range(min(n, cap)):
            buf[k] = scratch[k]
        if n <= cap:
            buf[:n].sort()
        return n

    @_jit
    def _neighbour_lists(c0, c1, centres, exclude_self, r2, span, lo, h, dims, start, items,
                         sxyz, lists, counts):
        scratch = np.empty(items.shape[0] + 1, dtype=np.int64)
        for c in range(c0, c1):
            counts[c] = _gather(centres[c, 0], centres[c, 1], centres[c, 2],
                                c if exclude_self else -1, r2, span, lo, h, dims, start, items,
                                sxyz, scratch, lists[c])

    @_jit
    def _neighbourhood_basis(c0, c1, centres, frames, points, lists, counts, rho,
                             radial_factor, lmax, norms, pmm, uniform, pad_index, zeroed, basis,
                             index_out, mask_out):
        ws = _basis_workspace(lmax + 1, rho.shape[0])
        px = np.empty(BLOCK)
        py = np.empty(BLOCK)
        pz = np.empty(BLOCK)
        rows = np.empty(BLOCK, dtype=np.int64)
        width = basis.shape[1]
        flat = basis.reshape((basis.shape[0] * width, basis.shape[2], basis.shape[3]))
        nb = 0                      # blocks of BLOCK (centre, atom) pairs, across centres
        for c in range(c0, c1):
            n = counts[c]
            ox = centres[c, 0]
            oy = centres[c, 1]
            oz = centres[c, 2]
            for k in range(n):
                a = lists[c, k]
                dx = points[a, 0] - ox
                dy = points[a, 1] - oy
                dz = points[a, 2] - oz
                px[nb] = dx * frames[c, 0, 0] + dy * frames[c, 1, 0] + dz * frames[c, 2, 0]
                py[nb] = dx * frames[c, 0, 1] + dy * frames[c, 1, 1] + dz * frames[c, 2, 1]
                pz[nb] = dx * frames[c, 0, 2] + dy * frames[c, 1, 2] + dz * frames[c, 2, 2]
                rows[nb] = c * width + k
                nb += 1
                index_out[c, k] = a
                mask_out[c, k] = True
                if nb == BLOCK:
                    _basis_block(nb, px, py, pz, rho, radial_factor, lmax, norms, pmm, uniform,
                                 ws, flat, rows)
                    nb = 0
            for k in range(n, width):
                if not zeroed:
                    basis[c, k] = 0.0
                index_out[c, k] = pad_index
                mask_out[c, k] = False
        if nb > 0:
            _basis_block(nb, px, py, pz, rho, radial_factor, lmax, norms, pmm, uniform, ws,
                         flat, rows)


#: Threads of the neighbourhood kernels (None: NUMBA_NUM_THREADS, i.e. the CPUs).
_POOL = {"pid": None, "pool": None, "size": 0}


def default_threads():
    """Threads used by :func:`neighbour_lists` / :func:`neighbourhood_basis` by default."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS)) if AVAILABLE else 1


def _pool(size):
    """Shared thread pool of at least ``size`` threads (a new one after a fork)."""
    import concurrent.futures
    pid = os.getpid()
    size = max(size, default_threads())
    if _POOL["pid"] != pid or _POOL["size"] < size:
        pool = concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="fourier6d")
        _POOL.update(pid=pid, size=size, pool=pool)
    return _POOL["pool"]


def _run_ranges(fn, bounds, n_threads, block=True, workers=None):
    """Call ``fn(c0, c1)`` for consecutive ranges of ``bounds``; in threads when > 1 range.

    The kernels are compiled with ``nogil=True``, so the ranges run in parallel.
    ``block=False``: n_threads - 1 pool threads start taking the ranges in
    order, and a function is returned that makes the caller take the ranges
    left (once it has done its own work), waits for the pool threads and
    re-raises their errors.  So n_threads threads run at any time, and no
    core idles while another thread still has a long range.  ``workers``:
    pool threads to start instead of n_threads - 1 (the function may then be
    called by several threads, which all take ranges).
    """
    jobs = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    if not block:
        queue = iter(jobs)
        lock = threading.Lock()

        def work():
            while True:
                with lock:
                    job = next(queue, None)
                if job is None:
                    return
                fn(*job)

        workers = max(1, n_threads - 1) if workers is None else int(workers)
        futures = [_pool(n_threads).submit(work) for _ in range(workers)]

        def wait():
            try:
                work()
            finally:
                for f in futures:
                    if not f.cancel():          # not started: no range left for it
                        f.result()
        return wait
    if len(jobs) <= 1 or n_threads <= 1:
        for a, b in jobs:
            fn(a, b)
        return None
    futures = [_pool(len(jobs) - 1).submit(fn, a, b) for a, b in jobs[1:]]
    fn(*jobs[0])
    for f in futures:
        f.result()
    return None


def run_over(kernel, n_items, per_thread, *args):
    """``kernel(i0, i1, *args)`` over ranges of ``n_items`` in the nogil thread pool.

    One range per thread, at least ``per_thread`` items each (fewer items: the
    calling thread only).  Used by :func:`basis_into` and the kernels of
    :mod:`fourier6d._numba_rotate`, :mod:`fourier6d._numba_norm`,
    :mod:`fourier6d._numba_activation`, :mod:`fourier6d._numba_wigner`,
    :mod:`fourier6d._numba_edge` and :mod:`fourier6d._numba_embed`.
    """
    n_threads = min(default_threads(), max(1, n_items // per_thread))
    _run_ranges(lambda a, b: kernel(a, b, *args), _split(n_items, n_threads), n_threads)


def sum_partials(parts):
    """Sum of per-range partial results ``{range start: array}``, added in range order into the
    first one (private temporaries): the same result whatever the threads' timing."""
    starts = sorted(parts)
    total = parts[starts[0]]
    for s in starts[1:]:
        total += parts[s]
    return total


def _split(n, n_threads, weights=None):
    """Range bounds splitting 0..n into n_threads parts (of about equal total weight)."""
    if n_threads <= 1:
        return np.array([0, n], dtype=np.int64)
    if weights is None:
        return np.linspace(0, n, n_threads + 1).round().astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(weights, dtype=np.float64)])
    inner = np.searchsorted(cum, np.linspace(0, cum[-1], n_threads + 1)[1:-1])
    return np.concatenate([[0], inner, [n]]).astype(np.int64)


def neighbour_lists(points, centres, radius, *, exclude_self=False, n_threads=None, cap=128):
    """Rows of ``points`` within ``radius`` of each centre, ascending (cell list, exact).

    The test is ``dx*dx + dy*dy + dz*dz < radius**2`` with d = points[a] - centre
    (as ``np.einsum("mk,mk->m", d, d)``).

    Parameters
    ----------
    points : numpy.ndarray, shape (m, 3)
    centres : numpy.ndarray, shape (n, 3)
    radius : float
    exclude_self : bool
        Drop row c from the list of centre c (``points`` are the centres).
    n_threads : int, optional
        Threads (default :func:`default_threads`).

    Returns
    -------
    lists : numpy.ndarray of int64, shape (n, >= max(counts))
        ``lists[c, :counts[c]]`` are the rows, ascending.
    counts : numpy.ndarray of int64, shape (n,)
    """
    if not AVAILABLE:
        raise RuntimeError("numba is not available")
    points, centres = _contiguous(np.float64, points, centres)
    n = centres.shape[0]
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    n_threads = min(n_threads, max(1, n // 16))
    radius = float(radius)
    # cells of side just above radius / CELLS_PER_RADIUS (the margin keeps the search exact
    # under rounding of the cell index); coarser when the points are very spread out
    lo, h, dims, start, items, sxyz = _cell_grid(points, radius / CELLS_PER_RADIUS * (1 + 1e-9),
                                                 8 * points.shape[0] + 1000)
    span = float(math.ceil(radius / h))
    r2 = radius * radius
    bounds = _split(n, n_threads)
    counts = np.zeros(n, dtype=np.int64)
    while True:
        lists = np.empty((n, cap), dtype=np.int64)
        _run_ranges(lambda a, b: _neighbour_lists(a, b, centres, exclude_self, r2, span, lo, h,
                                                  dims, start, items, sxyz, lists, counts),
                    bounds, n_threads)
        width = int(counts.max()) if n else 0
        if width <= cap:
            return lists, counts
        cap = width


def neighbourhood_basis(points, centres, frames, lists, counts, rho, radial_factor, lmax,
                        dtype, *, n_threads=None, pad_index=-1, block=True, workers=None):
    """Padded basis of the neighbourhoods in the centre frames (fused :func:`basis_into`).

    For centre c and slot k < counts[c], with a = lists[c, k] and
    ``x = frames[c]^T (points[a] - centres[c])`` (``x_k = sum_j d_j F[j, k]``,
    j = 0, 1, 2 in order): ``basis[c, k, p, q] = radial_factor[p] j_l(rho_p |x|) Y^R_lm(x)``
    (the formulas of :func:`basis_into`), ``index[c, k] = a``, ``mask[c, k] = True``;
    slots k >= counts[c] are 0 / ``pad_index`` / False.  Width = max(counts), at least 1.

    Parameters
    ----------
    points, centres, frames : (m, 3), (n, 3), (n, 3, 3) float
    lists, counts : from :func:`neighbour_lists`
    rho, radial_factor, lmax : as :func:`basis_into`
    dtype : float32 or float64
    n_threads : int, optional
    pad_index : int
    block : bool
        False: return at once, the kernel running in background threads (nogil);
        a fourth item, a function, takes ranges in the calling thread and waits
        for the rest.
    workers : int, optional
        With ``block=False``: pool threads to start (default n_threads - 1);
        the wait function may then be called by several threads.

    Returns
    -------
    basis : (n, width, n_radial, (lmax+1)**2) dtype, index : (n, width) int64,
    mask : (n, width) bool[, wait]
    """
    if not AVAILABLE:
        raise RuntimeError("numba is not available")
    lmax = int(lmax)
    rho, radial_factor, points, centres, frames = _contiguous(np.float64, rho, radial_factor, points,
                                                              centres, frames)
    lists, counts = _contiguous(np.int64, lists, counts)
    n = centres.shape[0]
    width = max(int(counts.max()) if n else 0, 1)
    n_radial = rho.shape[0]
    shape = (n, width, n_radial, (lmax + 1) ** 2)
    # large arrays: memory of an earlier result that is no longer referenced (pages already
    # mapped: no page faults, no kernel zeroing, no munmap), else fresh zero pages from the OS
    # (calloc), so the padding is not written again; small ones may come from recycled heap
    # memory; the kernel zeroes the padding unless the memory is known to be zero
    basis, zeroed = _output_buffer(shape, dtype)
    index = np.empty((n, width), dtype=np.int64)
    mask = np.empty((n, width), dtype=bool)
    uniform = _uniform(rho)
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    n_threads = min(n_threads, max(1, n // 8))
    # in the background: more ranges than threads, taken by the pool threads as they get free
    # and by the caller once its own work is done (see _run_ranges)
    n_ranges = n_threads if block or n_threads == 1 else min(8 * n_threads, max(1, n // 8))
    bounds = _split(n, n_ranges, weights=counts + 8)
    norms, pmm = _norm_table(lmax), _pmm_table(lmax)
    wait = _run_ranges(lambda a, b: _neighbourhood_basis(a, b, centres, frames, points, lists,
                                                         counts, rho, radial_factor, lmax, norms,
                                                         pmm, uniform, int(pad_index), zeroed,
                                                         basis, index, mask),
                       bounds, n_threads, block=block, workers=workers)
    return (basis, index, mask) if block else (basis, index, mask, wait)


def _uniform(rho):
    """True when the radial points are 0, h, 2h, ... (the basis kernels then take sin and cos
    of rho_p r by angle addition from those of h r)."""
    return bool(rho.shape[0] > 1 and rho[0] == 0.0
                and np.array_equal(rho, np.arange(rho.shape[0]) * rho[1]))


def _contiguous(dtype, *arrays):
    """C-contiguous copies (or the arrays themselves) in ``dtype``, for the kernels' arguments."""
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in arrays)


#: Large outputs of :func:`neighbourhood_basis` are carved from recycled buffers (at least this size).
RECYCLE_BYTES = 2 << 20
#: ... and at most this size (bigger ones are plain allocations).
RECYCLE_MAX_BYTES = 128 << 20
#: Buffers tracked for recycling (the most recent ones; up to this many x RECYCLE_MAX_BYTES
#: stay allocated while unused, see :func:`fourier6d._backend.release_buffers`, also
#: importable from here); 0 disables recycling.
RECYCLE_BUFFERS = 4


def _output_buffer(shape, dtype):
    """``(array, zeroed)``: an uninitialised C-contiguous array of ``shape``/``dtype``.

    Large arrays are views of a buffer of :func:`fourier6d._backend.recycled_buffer`
    (slot ``"neighbourhood_basis"``, ``RECYCLE_BUFFERS`` tracked, new ones with room
    for a slightly larger protein next time): one that nothing views any more is
    reused without page faults or zeroing by the OS.  ``zeroed`` tells whether the
    memory is known to be zero (fresh pages).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if not RECYCLE_BYTES <= nbytes <= RECYCLE_MAX_BYTES or RECYCLE_BUFFERS <= 0:
        zeroed = nbytes >= ZEROED_BYTES
        return (np.zeros(shape, dtype=dtype) if zeroed else np.empty(shape, dtype=dtype)), zeroed
    raw, zeroed = recycled_buffer(nbytes, "neighbourhood_basis", RECYCLE_BUFFERS, nbytes // 8)
    return raw[:nbytes].view(dtype).reshape(shape), zeroed


def basis_into(xyz, rho, radial_factor, lmax, out, index=None):
    """Fill ``out[n, p, q] = radial_factor[p] j_l(rho_p r_n) Y^R_lm(r_n)`` (Eq. 2 kernel).

    Parameters
    ----------
    xyz : numpy.ndarray, shape (n_points, 3)
        Positions (cast to float64 C-contiguous here).
    rho : numpy.ndarray, shape (n_radial,)
        Radial points rho_p (float64).
    radial_factor : numpy.ndarray, shape (n_radial,)
        Factor per radial point (float64): ones for the bare kernel, the
        Gaussian factor ``4 pi (sqrt(2 pi) sigma)^3 exp(-sigma^2 rho^2 / 2)``
        for :func:`fourier6d.expansion.point_basis`.
    lmax : int
    out : numpy.ndarray, shape (n_points, n_radial, (lmax+1)**2)
        float32 or float64, C-contiguous; written in place.
    index : numpy.ndarray of int, shape (n_selected,), optional
        Only the rows ``index`` of ``out`` are computed and written (the
        others are left untouched); default all rows.  The points are split
        over the nogil thread pool (:func:`run_over`, ``POINTS_PER_THREAD``
        at least per thread).

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    if not AVAILABLE:
        raise RuntimeError("numba is not available")
    lmax = int(lmax)
    xyz, rho, radial_factor = _contiguous(np.float64, xyz, rho, radial_factor)
    shape = (xyz.shape[0], rho.shape[0], (lmax + 1) ** 2)
    if out.shape != shape or not out.flags.c_contiguous or out.dtype.kind != "f":
        raise ValueError(f"out must be a C-contiguous float array of shape {shape}, "
                         f"got {out.dtype} {out.shape}")
    if index is None:
        index = np.arange(xyz.shape[0], dtype=np.int64)
    else:
        index = np.ascontiguousarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= xyz.shape[0]):
            raise ValueError("index out of range")
    run_over(_basis_range, index.shape[0], POINTS_PER_THREAD, xyz, index, rho, radial_factor,
             lmax, _norm_table(lmax), _pmm_table(lmax), _uniform(rho), out)
    return out


_TABLES: dict = {}


def _norm_table(lmax):
    key = ("norm", lmax)
    if key not in _TABLES:
        _TABLES[key] = ylm_norms(lmax)
    return _TABLES[key]


def _pmm_table(lmax):
    key = ("pmm", lmax)
    if key not in _TABLES:
        _TABLES[key] = _double_factorials(lmax)
    return _TABLES[key]
