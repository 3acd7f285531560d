"""Numba CPU kernel of the plane-wave basis j_l(rho_p r) Y^R_lm(r_hat) (paper Eq. 2).

One job: a fused, per-point loop for NumPy inputs of
:func:`fourier6d.expansion.bessel_harmonic_basis` and
:func:`fourier6d.expansion.point_basis`.  It evaluates, point by point and
without temporaries, exactly the formulas of the array-agnostic reference
path (:func:`fourier6d.harmonics.real_sph_harm` and
:func:`fourier6d.harmonics.spherical_jn`):

* ``Y^R_lm`` by the Cartesian recurrences ``A_m + i B_m = (x + i y)^m`` and
  the three-term recurrence in l of ``Pi_l^m`` (``P_l^m = sin^m(t) Pi_l^m``);
* ``j_l(x)`` by the power series for x < 1, the upward recurrence from j_0
  and j_1 for x > l + 1, and Miller's downward recurrence normalised by
  ``sum_l (2l+1) j_l^2 = 1`` otherwise (same start index and constants);
* times a per-radial-point factor (ones, or the Gaussian factor of Eq. 2).

The array-agnostic path stays the reference (and the CuPy path); the tests
check that both agree to 1e-12 in float64.  Everything here is computed in
float64 and written in the dtype of ``out``.

Numba is optional: :data:`AVAILABLE` is False when it cannot be imported,
and callers then use the reference path.  Setting the environment variable
``FOURIER6D_DISABLE_NUMBA=1`` disables the kernel too.
"""
from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["AVAILABLE", "ylm_norms", "basis_into"]

#: Terms of the power series of j_l for x < 1 (as ``harmonics._jn_series``).
SERIES_TERMS = 12
#: Miller's start index is ``2 * lmax + MILLER_EXTRA`` (as ``harmonics.spherical_jn``).
MILLER_EXTRA = 24
#: Points per block of the kernel (temporaries stay in L1/L2 cache).
BLOCK = 64
#: Arbitrary small seed of Miller's recurrence (as ``harmonics.spherical_jn``).
MILLER_SEED = 1e-30

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
    def _jn_block(lmax, nk, x, sn, cs, jl, sel, xc, xinv, w0, w1, w2, w3):
        """jl[l, k] = j_l(x[k]), k < nk, given sn = sin(x), cs = cos(x) where x >= 1.

        The three regimes of spherical_jn; the series and Miller's recurrence
        run on compacted index lists (sel) so that each loop vectorises.
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
            if x[k] < 1.0:
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
        # Miller's downward recurrence, 1 <= x <= lmax + 1
        if lmax < 1:
            return
        nm = 0
        for k in range(nk):
            if x[k] >= 1.0 and not (x[k] > lmax + 1):
                sel[nm] = k
                nm += 1
        if nm == 0:
            return
        for j in range(nm):
            xc[j] = xinv[sel[j]]                     # 1 / x
            w0[j] = 0.0                              # j_{l+1}
            w1[j] = MILLER_SEED                      # j_l
            w2[j] = 0.0                              # sum (2l+1) j_l^2
        for l in range(2 * lmax + MILLER_EXTRA, 0, -1):
            if l <= lmax:
                for j in range(nm):
                    w3[l * nm + j] = w1[j]
            for j in range(nm):
                prev = (2 * l + 1) * xc[j] * w1[j] - w0[j]
                w2[j] = w2[j] + (2 * l + 1) * w1[j] * w1[j]
                w0[j] = w1[j]
                w1[j] = prev
        for j in range(nm):
            k = sel[j]
            scale = 1.0 / math.sqrt(w2[j] + w1[j] * w1[j])
            if w1[j] * jl[0, k] < 0:                 # the sum rule fixes |scale| only
                scale = -scale
            xk = x[k]
            for l in range(1, lmax + 1):
                if not (xk > l + 1):
                    jl[l, k] = w3[l * nm + j] * scale

    @_jit
    def _basis_kernel(xyz, index, rho, radial_factor, lmax, norms, pmm, uniform, out):
        n_points = index.shape[0]
        n_radial = rho.shape[0]
        n_l = lmax + 1
        nkb = n_radial * BLOCK
        r = np.empty(BLOCK)
        ux = np.empty(BLOCK)
        uy = np.empty(BLOCK)
        uz = np.empty(BLOCK)
        A = np.empty((n_l, BLOCK))
        B = np.empty((n_l, BLOCK))
        pib = np.empty((n_l, BLOCK))
        n_coef = n_l * n_l
        Y = np.empty((n_coef, BLOCK))
        Yt = np.empty((BLOCK, n_coef))
        jlt = np.empty((nkb, n_l))
        l_of_q = np.empty(n_coef, dtype=np.int64)
        for l in range(n_l):
            for q in range(l * l, (l + 1) * (l + 1)):
                l_of_q[q] = l
        x = np.empty(nkb)
        sn = np.empty(nkb)
        cs = np.empty(nkb)
        jl = np.empty((n_l, nkb))
        sel = np.empty(nkb, dtype=np.int64)
        xc = np.empty(nkb)
        xinv = np.empty(nkb)
        w0 = np.empty(nkb)
        w1 = np.empty(nkb)
        w2 = np.empty(nkb)
        w3 = np.empty(n_l * nkb)
        for start in range(0, n_points, BLOCK):
            n = min(BLOCK, n_points - start)
            for i in range(n):
                row = index[start + i]
                x0 = xyz[row, 0]
                y0 = xyz[row, 1]
                z0 = xyz[row, 2]
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
            _jn_block(lmax, nk, x, sn, cs, jl, sel, xc, xinv, w0, w1, w2, w3)
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
                    orow = out[index[start + i], p]
                    for q in range(n_coef):
                        orow[q] = jlt[k, l_of_q[q]] * f * Yt[i, q]


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
        others are left untouched); default all rows.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    if not AVAILABLE:
        raise RuntimeError("numba is not available")
    lmax = int(lmax)
    xyz = np.ascontiguousarray(xyz, dtype=np.float64)
    rho = np.ascontiguousarray(rho, dtype=np.float64)
    radial_factor = np.ascontiguousarray(radial_factor, dtype=np.float64)
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
    n_radial = rho.shape[0]
    uniform = bool(n_radial > 1 and rho[0] == 0.0
                   and np.array_equal(rho, np.arange(n_radial) * rho[1]))
    _basis_kernel(xyz, index, rho, radial_factor, lmax, _norm_table(lmax), _pmm_table(lmax),
                  uniform, out)
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
