"""Translation of spherical Fourier expansions (paper Eq. 5).

Translating a function by +t, ``f(r) -> f(r - t)``, multiplies its Fourier
transform by ``exp(-i k.t)``.  Along z, with ``t = d e_z`` and the plane-wave
expansion in Legendre polynomials::

    exp(-i rho d cos(theta_k)) = sum_lam (-i)^lam (2 lam + 1) j_lam(rho d) P_lam(cos theta_k),
    P_lam(cos theta) = sqrt(4 pi / (2 lam + 1)) Y^R_lam,0(k_hat).

With the real coefficients of :mod:`fourier6d.expansion`,
``F(k) = sum_lm (-i)^l G_lm(rho) Y^R_lm(k_hat)``, projecting the product on
``Y^R_lm`` gives the z-translation operator (Eq. 5 in the real basis)::

    G'_lm(rho) = sum_l' T_{lm,l'm}(rho, d) G_l'm(rho),
    T_{lm,l'm}(rho, d) = sum_lam i^(l - lam - l') sqrt(4 pi (2 lam + 1)) j_lam(rho d)
                         C[lm, lam0, l'm],

with the real Gaunt coefficients C of :mod:`fourier6d.gaunt`.  ``l + lam + l'``
is even (parity of the Gaunt coefficient), so ``i^(l - lam - l')`` is a real
sign and T is real; ``C[lm, lam0, l'm']`` vanishes unless ``m' = m``, so T only
mixes degrees l, l' >= |m| at fixed m and radius.  Truncating the sum over l'
at L is the only approximation (Eq. 5's error term): coefficients of degree
> L of the untranslated function, which the truncated expansion does not
hold, would be needed.

Properties (exact, also after truncation): ``T(-d) = T(d)^T`` and
``T(0) = I``.  T(d) is orthogonal only up to the truncation error (the exact,
infinite operator is unitary).

We store T as DENSE (Q, Q) matrices per radial point (zeros between
different m), so that translations compose with rotations (also dense,
block-diagonal in l) into one matrix per edge by plain GEMMs; the block
structure is not exploited.

General translations (:func:`translate`) rotate t onto +z, translate along z
and rotate back: ``T(t) = D(S)^T T_z(|t|) D(S)`` with ``S t = |t| e_z`` and
the real Wigner matrices ``D`` of :mod:`fourier6d.rotation`.  The same
operator follows directly from the full plane-wave expansion
``exp(-i k.t) = 4 pi sum_(lam mu) (-i)^lam j_lam(rho |t|) Y_lam mu(t_hat) Y_lam mu(k_hat)``:
``T(rho, t) = sum_(lam mu) j_lam(rho |t|) Y_lam mu(t_hat) B[lam mu]`` with a
fixed table B (:func:`plane_wave_table`), i.e. one GEMM for any number of
translations and no Wigner matrices; :func:`translation_matrices` uses it
for lmax <= ``PLANE_WAVE_MAX_L`` (the table grows as L^6) and the rotations
above.  Both agree to rounding (tests/test_translation.py).
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp

from ._backend import get_array_module, cached_table, unbroadcast
from .expansion import bessel_harmonic_basis
from .gaunt import sphere_quadrature
from .harmonics import degrees, lmax_of, n_coef, real_sph_harm
from .radial import RadialGrid

__all__ = ["z_translation_table", "z_translation_matrices", "apply_operators",
           "translate_z", "rotation_to_z", "translation_matrices", "translation_matrices_t",
           "translate"]


def z_translation_table(lmax):
    """Constant part of T: ``A[lam, q, q']`` (host float64), lam = 0..2 lmax.

    ``A[lam, lm, l'm'] = i^(l - lam - l') sqrt(4 pi (2 lam + 1)) C[lm, lam0, l'm']``
    so that ``T(rho, d) = sum_lam j_lam(rho d) A[lam]``.
    """
    lmax = int(lmax)
    lam = np.arange(2 * lmax + 1)
    # C[lm, lam0, l'm'] by the exact product quadrature of fourier6d.gaunt,
    # restricted to the m = 0 harmonics of degree lam (cheaper than the full table)
    xyz, w = sphere_quadrature(4 * lmax)
    Y = real_sph_harm(2 * lmax, xyz)
    Y0 = Y[:, lam * lam + lam] * w[:, None]                 # (n, 2L+1)
    Yq = Y[:, :n_coef(lmax)]
    c = np.einsum("nk,na,nb->kab", Y0, Yq, Yq, optimize=True)   # (2L+1, Q, Q)
    c[np.abs(c) < 1e-14] = 0.0
    L = degrees(lmax)
    power = L[None, :, None] - lam[:, None, None] - L[None, None, :]
    # i^power for even power; odd powers multiply zero Gaunt coefficients
    sign = np.where(power % 4 == 0, 1.0, -1.0)
    sign = np.where(power % 2 == 0, sign, 0.0)
    return sign * np.sqrt(4 * np.pi * (2 * lam + 1))[:, None, None] * c


def z_translation_matrices(lmax, grid, d):
    """Matrices of the translation by ``d`` along +z (Eq. 5, real basis).

    Parameters
    ----------
    lmax : int
        Maximum degree L.
    grid : RadialGrid
    d : array, shape (...)
        Displacements (Angstrom), any sign.  Its array module and floating
        dtype (float64 for integer input) are used.

    Returns
    -------
    array, shape (..., n_radial, Q, Q)
        ``T[..., p]`` maps the coefficients ``G(rho_p)`` of f to those of
        ``f(r - d e_z)``: ``G' = T @ G``.  Dense, zero unless m = m'.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if int(lmax) != lmax or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax}")
    lmax = int(lmax)
    xp = get_array_module(d)
    d = xp.asarray(d)
    if d.dtype.kind != "f":
        d = d.astype(np.float64)
    dtype = d.dtype
    table = cached_table("z_translation", lmax, lambda: z_translation_table(lmax), xp, dtype)
    # j_lam(rho_p d) with the sign of d (j_lam(-x) = (-1)^lam j_lam(x)) from the plane-wave
    # kernel at the point d e_z, where only the m = 0 harmonics survive:
    # j_lam(rho |d|) Y_lam0(sign(d) e_z) = j_lam(rho d) sqrt((2 lam + 1) / (4 pi))
    lam = np.arange(2 * lmax + 1)
    zero = xp.zeros_like(d)
    W = bessel_harmonic_basis(xp.stack([zero, zero, d], axis=-1), grid, 2 * lmax)
    inv_y = xp.asarray(np.sqrt(4 * np.pi / (2 * lam + 1)), dtype=dtype)
    jl = W[..., lam * lam + lam] * inv_y                            # (..., P, 2L+1)
    q = n_coef(lmax)
    out = jl @ table.reshape(2 * lmax + 1, q * q)
    return out.reshape(d.shape + (grid.n_radial, q, q))


# ----------------------------------------------------------------------------
# applying per-(batch, radius) operators to coefficients, differentiable


@primitive
def _apply(ops, coeffs):
    return ops @ coeffs


def _apply_vjp_coeffs(ans, ops, coeffs):
    def vjp(g):
        xp = get_array_module(g, ops)
        return unbroadcast(xp.swapaxes(ops, -1, -2) @ g, coeffs.shape)
    return vjp


defvjp(_apply, None, _apply_vjp_coeffs)


def apply_operators(ops, coeffs):
    """``ops @ coeffs`` per batch element and radius, differentiable in coeffs.

    Parameters
    ----------
    ops : array, shape (..., n_radial, Q, Q)
        Linear operators (geometry: no gradient is propagated to them).
    coeffs : array, shape (..., n_radial, Q, C)
        Leading dimensions broadcast against those of ``ops``.

    Returns
    -------
    array, shape (broadcast(...), n_radial, Q, C)
    """
    oshape = getattr(ops, "shape", None)
    cshape = getattr(coeffs, "shape", None)
    if oshape is None or cshape is None or len(oshape) < 3 or len(cshape) < 3:
        raise ValueError(f"ops (..., P, Q, Q) and coeffs (..., P, Q, C) expected, "
                         f"got {oshape} and {cshape}")
    if oshape[-1] != oshape[-2] or oshape[-1] != cshape[-2] or oshape[-3] != cshape[-3]:
        raise ValueError(f"ops {oshape} do not match coeffs {cshape}")
    return _apply(ops, coeffs)


def _check_coeffs(coeffs, grid):
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    shape = getattr(coeffs, "shape", None)
    if shape is None or len(shape) < 3:
        raise ValueError(f"coeffs must have shape (..., n_radial, n_coef, C), got {shape}")
    if shape[-3] != grid.n_radial:
        raise ValueError(f"coeffs have {shape[-3]} radial points, grid has {grid.n_radial}")
    dtype = getattr(getattr(coeffs, "_value", coeffs), "dtype", None)
    if dtype is None or np.dtype(dtype).kind != "f":
        raise TypeError(f"coeffs must be a real floating array, got dtype {dtype}")
    return lmax_of(shape[-2]), np.dtype(dtype)


def translate_z(coeffs, d, grid):
    """Coefficients of ``f(r - d e_z)`` from those of f (Eq. 5).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, Q, C)
    d : float or array, shape broadcastable to ``coeffs.shape[:-3]``
    grid : RadialGrid

    Returns
    -------
    array, same shape as ``coeffs``.  Differentiable w.r.t. ``coeffs``.
    """
    lmax, dtype = _check_coeffs(coeffs, grid)
    xp = get_array_module(coeffs, d)
    ops = z_translation_matrices(lmax, grid, xp.asarray(d, dtype=dtype))
    return apply_operators(ops, coeffs)


# ----------------------------------------------------------------------------
# general translations: rotate t onto z, translate along z, rotate back


def rotation_to_z(t):
    """Rotations S with ``S t = |t| e_z`` (batched; identity for t = 0).

    Parameters
    ----------
    t : array, shape (..., 3)

    Returns
    -------
    array, shape (..., 3, 3)
        ``S = Ry(-theta) Rz(-phi)`` with (theta, phi) the polar angles of t.
    """
    xp = get_array_module(t)
    t = xp.asarray(t)
    if t.dtype.kind != "f":
        t = t.astype(np.float64)
    if t.ndim < 1 or t.shape[-1] != 3:
        raise ValueError(f"t must have shape (..., 3), got {t.shape}")
    rxy = xp.sqrt(t[..., 0] ** 2 + t[..., 1] ** 2)
    phi = xp.arctan2(t[..., 1], t[..., 0])
    theta = xp.arctan2(rxy, t[..., 2])
    cp, sp, ct, st = xp.cos(phi), xp.sin(phi), xp.cos(theta), xp.sin(theta)
    zero = xp.zeros_like(cp)
    # Rz(-phi) = [[cp, sp, 0], [-sp, cp, 0], [0, 0, 1]];  Ry(-theta) = [[ct, 0, -st], [0, 1, 0], [st, 0, ct]]
    rows = [xp.stack([ct * cp, ct * sp, -st], axis=-1),
            xp.stack([-sp, cp, zero], axis=-1),
            xp.stack([st * cp, st * sp, ct], axis=-1)]
    return xp.stack(rows, axis=-2)


#: Largest lmax for which general translations use the plane-wave table
#: (:func:`plane_wave_table`, (2L+1)^2 x (L+1)^4 entries: 0.4 MB at L = 4, 15 MB at
#: L = 8); above it they rotate t onto +z, translate along z and rotate back.
PLANE_WAVE_MAX_L = 8


def plane_wave_table(lmax):
    """Constant part of a general translation: ``B[(lam, mu), q, q']`` (host float64).

    ``B[lam mu, lm, l'm'] = 4 pi i^(l - lam - l') C[lm, lam mu, l'm']`` for
    lam = 0..2 lmax (flat index lam*lam + lam + mu), so that by the plane-wave
    expansion ``exp(-i k.t) = 4 pi sum_(lam mu) (-i)^lam j_lam(rho |t|)
    Y_lam mu(t_hat) Y_lam mu(k_hat)`` the translation by t is

        T(rho, t) = sum_(lam mu) j_lam(rho |t|) Y_lam mu(t_hat) B[lam mu],

    the same operator as ``D(S)^T T_z(|t|) D(S)`` (Eq. 5 rotated; both are the
    truncation of the exact operator to degrees <= lmax).
    """
    lmax = int(lmax)
    xyz, w = sphere_quadrature(4 * lmax)
    Y = real_sph_harm(2 * lmax, xyz)                        # (n, (2L+1)^2)
    q = n_coef(lmax)
    Yq = Y[:, :q]
    # C[k, a, b] = sum_n w_n Y_k Y_a Y_b, as one GEMM over the quadrature nodes
    c = ((Y * w[:, None]).T @ (Yq[:, :, None] * Yq[:, None, :]).reshape(len(w), q * q)).reshape(-1, q, q)
    c[np.abs(c) < 1e-14] = 0.0
    lam = degrees(2 * lmax)
    L = degrees(lmax)
    power = L[None, :, None] - lam[:, None, None] - L[None, None, :]
    # i^power for even power; odd powers multiply zero Gaunt coefficients
    sign = np.where(power % 4 == 0, 1.0, -1.0)
    sign = np.where(power % 2 == 0, sign, 0.0)
    return 4 * np.pi * sign * c


def _plane_wave_translation(lmax, grid, t):
    """T(rho_p, t), shape (..., P, Q, Q): ONE GEMM with :func:`plane_wave_table`.

    ``W[e, p, (lam mu)] = j_lam(rho_p |t_e|) Y_lam mu(t_hat_e)`` (elementwise), then
    ``T = W @ B`` over all translations and shells at once, (E P x (2L+1)^2) @
    ((2L+1)^2 x Q^2).  The table is 4 % nonzero at L = 4; grouping by lam (nine
    GEMMs with 1..17 inner dimension) does 5x fewer operations but measured
    slower and erratic on the shared 2-core machine (9-80 ms vs 12-27 ms per
    1,342 translations), so the single dense GEMM is kept.
    """
    xp = get_array_module(t)
    dtype = t.dtype
    table = cached_table("plane_wave_translation", lmax, lambda: plane_wave_table(lmax), xp, dtype)
    q = n_coef(lmax)
    # W[..., p, (lam mu)] = j_lam(rho_p |t|) Y_lam mu(t_hat) (+z for t = 0): the plane-wave
    # kernel of the expansion (the fused Numba kernel on NumPy inputs)
    W = bessel_harmonic_basis(t, grid, 2 * lmax)                # (..., P, (2L+1)^2)
    out = W.reshape(-1, W.shape[-1]) @ table.reshape(table.shape[0], q * q)
    return out.reshape(t.shape[:-1] + (grid.n_radial, q, q))


def _rotated_z_translation(lmax, grid, t):
    """T(rho_p, t) = D(S)^T T_z(|t|) D(S), shape (..., P, Q, Q) (the lmax > PLANE_WAVE_MAX_L path)."""
    from .rotation import wigner_d_real
    xp = get_array_module(t)
    DS = wigner_d_real(lmax, rotation_to_z(t))                          # (..., Q, Q)
    Tz = z_translation_matrices(lmax, grid, xp.sqrt(xp.sum(t * t, axis=-1)))  # (..., P, Q, Q)
    P, Q = Tz.shape[-3], Tz.shape[-1]
    # D(S)^T Tz_p D(S) as two GEMMs batched over the translations only, the shells folded
    # into the rows: X = [Tz_p D(S)]_p, then out_p^T = X_p^T D(S)
    X = (Tz.reshape(Tz.shape[:-3] + (P * Q, Q)) @ DS).reshape(Tz.shape)
    Xt = xp.ascontiguousarray(xp.swapaxes(X, -1, -2)).reshape(Tz.shape[:-3] + (P * Q, Q))
    return xp.swapaxes((Xt @ DS).reshape(Tz.shape), -1, -2)


def _translation(lmax, grid, t, rotation):
    """``T(t) [D(R)]``, shape (..., P, Q, Q), C-contiguous."""
    from .rotation import wigner_d_real
    xp = get_array_module(t, rotation)
    if lmax <= PLANE_WAVE_MAX_L:
        T = _plane_wave_translation(lmax, grid, t)
    else:
        T = _rotated_z_translation(lmax, grid, t)
    if rotation is None:
        return xp.ascontiguousarray(T)
    # T_p D(R) for every shell p: one GEMM per translation, the shells folded into the rows
    # (batch shapes of t and the rotations broadcast)
    P, Q = T.shape[-3], T.shape[-1]
    DR = wigner_d_real(lmax, xp.asarray(rotation, dtype=t.dtype))
    out = T.reshape(T.shape[:-3] + (P * Q, Q)) @ DR
    return out.reshape(out.shape[:-2] + (P, Q, Q))


def _as_lmax(lmax):
    """``int(lmax)`` of a non-negative integral value (bools rejected), else ValueError."""
    if isinstance(lmax, bool) or int(lmax) != lmax or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    return int(lmax)


def _check_translation_args(lmax, grid, t, rotation):
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    lmax = _as_lmax(lmax)
    xp = get_array_module(t, rotation)
    t = xp.asarray(t)
    if t.dtype.kind != "f":
        t = t.astype(np.float64)
    if t.ndim < 1 or t.shape[-1] != 3:
        raise ValueError(f"t must have shape (..., 3), got {t.shape}")
    return lmax, t


def translation_matrices(lmax, grid, t, rotation=None):
    """Matrices of the translation by a general vector t (Eqs. 5-6), batched.

    Parameters
    ----------
    lmax : int
    grid : RadialGrid
    t : array, shape (..., 3)
        Translation vectors (Angstrom).
    rotation : array, shape (..., 3, 3), optional
        A rotation R applied BEFORE the translation (points x -> R x + t).

    Returns
    -------
    array, shape (..., n_radial, Q, Q)
        ``T(t) [D(R)]`` with ``T(t) = D(S)^T T_z(|t|) D(S)``, ``S t = |t| e_z``:
        maps the coefficients of f to those of ``f(R^-1 (r - t))`` (one dense
        matrix per batch element and radius).

    Notes
    -----
    For lmax <= ``PLANE_WAVE_MAX_L``, T(t) is evaluated by the plane-wave
    expansion (:func:`plane_wave_table`): one GEMM of the per-(translation,
    radius) factors ``j_lam(rho |t|) Y_lam mu(t_hat)`` with a fixed table, no
    Wigner matrices; above, by rotating t onto +z (Eq. 5 between two Eq. 6
    rotations).  ``D(R)`` is applied by one GEMM per translation.
    """
    lmax, t = _check_translation_args(lmax, grid, t, rotation)
    return _translation(lmax, grid, t, rotation)


def translation_matrices_t(lmax, grid, t, rotation=None):
    """The TRANSPOSED matrices of :func:`translation_matrices`, C-contiguous.

    Returns
    -------
    array, shape (..., n_radial, Q, Q)
        ``out[..., p, b, a] = translation_matrices(lmax, grid, t, rotation)[..., p, a, b]``.

    Notes
    -----
    Computed directly: ``(T(t) D(R))^T = D(R^T) T(-t) = T(-R^T t) D(R^T)``
    (rotations are orthogonal, ``T(-t) = T(t)^T``, and ``D(R) T(t) = T(R t) D(R)``,
    all exact after truncation), i.e. the operator of the reversed edge, in the
    layout :func:`fourier6d.message_passing.edge_operators` stores.
    """
    lmax, t = _check_translation_args(lmax, grid, t, rotation)
    xp = get_array_module(t, rotation)
    if rotation is None:
        return _translation(lmax, grid, -t, None)
    Rt = xp.swapaxes(xp.asarray(rotation, dtype=t.dtype), -1, -2)
    return _translation(lmax, grid, -(Rt @ t[..., None])[..., 0], Rt)


def translate(coeffs, t, grid):
    """Coefficients of ``f(r - t)`` for a general vector t (rotate, z-translate, rotate back).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, Q, C)
    t : array, shape (3,) or (..., 3) broadcastable to ``coeffs.shape[:-3]``
    grid : RadialGrid

    Returns
    -------
    array, shape of ``coeffs`` (broadcast).  Differentiable w.r.t. ``coeffs``.
    """
    lmax, dtype = _check_coeffs(coeffs, grid)
    xp = get_array_module(coeffs, t)
    ops = translation_matrices(lmax, grid, xp.asarray(t, dtype=dtype))
    return apply_operators(ops, coeffs)
