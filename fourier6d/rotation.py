"""Rotations of spherical Fourier coefficients: real Wigner D matrices (paper Eq. 6).

Convention (shared by all of :mod:`fourier6d`)
----------------------------------------------
``D(R)`` is the real, orthogonal, block-diagonal matrix with

    Y^R(R x) = D(R) Y^R(x)          for every x in R^3,

where Y^R is :func:`fourier6d.harmonics.real_sph_harm` (flat index
q = l*l + l + m).  It is a representation, D(R1 R2) = D(R1) D(R2), and the
coefficients of the rotated point set (points x -> R x, i.e. the function
f(R^-1 r)) are ``D(R) G``.  The paper's Eq. 6 rotates the function as
f_L(r) = f(L r), i.e. it uses R = L^-1 = L^T: its coefficients are
``D(L^T) G``.  In terms of the complex harmonics of the paper,
``D(R) = U Dc(R) U^H`` block by block, with U from
:func:`fourier6d.harmonics.complex_to_real_matrix` and Dc the complex Wigner
matrix acting as Y^C(R x) = Dc(R) Y^C(x).

Method
------
ZYZ Euler angles, R = Rz(alpha) Ry(beta) Rz(gamma), so that
D(R) = Z(alpha) D(Ry(beta)) Z(gamma).  A z-rotation by a maps phi to
phi + a; in the real basis it only mixes (l, m) with (l, -m)::

    [Z(a) v]_m = cos(m a) v_m - sin(m a) v_-m      (m = -l..l).

The y-rotation is a conjugated z-rotation, Ry(b) = Q Rz(b) Q^T with the
cyclic permutation Q (x -> z, y -> x, z -> y), so D(Ry(b)) = J Z(b) J^T with
the fixed orthogonal matrix J = D(Q).  J is computed once per degree l in
float64 NumPy by a least-squares fit of Y_l(Q x) = J_l Y_l(x) on random
points and cached per (l, dtype, device) (:func:`fourier6d._backend.cached_table`).
Per rotation and degree this costs two small matrix products; every step is
written with the array module of the input (NumPy or CuPy).

Euler angles are extracted from a matrix without loss of accuracy near the
singular cases beta = 0 and beta = pi: beta = atan2(sin b, R_zz) with
sin b from the four off-diagonal entries; alpha = atan2(R_yz, R_xz); and
gamma from the well-conditioned combination of the upper-left 2x2 block
(alpha + gamma when cos b >= 0, alpha - gamma otherwise), so that the
rebuilt rotation matches R to rounding error for every R.
"""
from __future__ import annotations

import numpy as np
from autograd.extend import primitive, defvjp

from . import _numba_rotate, _numba_wigner
from ._backend import get_array_module, cached_table, unbroadcast
from .harmonics import lmax_of, real_sph_harm, n_coef

__all__ = ["euler_to_matrix", "matrix_to_euler", "wigner_d_real",
           "wigner_d_from_euler", "rotate", "wigner_blocks", "random_rotations"]

#: Q with Q e_x = e_z, Q e_y = e_x, Q e_z = e_y; Q Rz(b) Q^T = Ry(b).
_SWAP_Q = np.array([[0.0, 1.0, 0.0],
                    [0.0, 0.0, 1.0],
                    [1.0, 0.0, 0.0]])


def _check_lmax(lmax):
    if isinstance(lmax, bool) or not isinstance(lmax, (int, np.integer)) or lmax < 0:
        raise ValueError(f"lmax must be a non-negative integer, got {lmax!r}")
    return int(lmax)


def _float_array(x, xp, name):
    x = xp.asarray(x)
    if x.dtype.kind in "iub":
        x = x.astype(np.float64)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a real floating array, got dtype {x.dtype}")
    return x


def euler_to_matrix(alpha, beta, gamma):
    """Rotation matrix R = Rz(alpha) Ry(beta) Rz(gamma) (ZYZ, active, radians).

    Parameters
    ----------
    alpha, beta, gamma : array_like, broadcastable shapes (...)

    Returns
    -------
    array, shape (..., 3, 3)
        Same array module and floating dtype as the angles.
    """
    xp = get_array_module(alpha, beta, gamma)
    alpha, beta, gamma = xp.broadcast_arrays(_float_array(alpha, xp, "alpha"),
                                             _float_array(beta, xp, "beta"),
                                             _float_array(gamma, xp, "gamma"))
    ca, sa = xp.cos(alpha), xp.sin(alpha)
    cb, sb = xp.cos(beta), xp.sin(beta)
    cg, sg = xp.cos(gamma), xp.sin(gamma)
    rows = [[ca * cb * cg - sa * sg, -ca * cb * sg - sa * cg, ca * sb],
            [sa * cb * cg + ca * sg, -sa * cb * sg + ca * cg, sa * sb],
            [-sb * cg, sb * sg, cb]]
    return xp.stack([xp.stack(r, axis=-1) for r in rows], axis=-2)


def random_rotations(n=None, rng=None, dtype=np.float64):
    """Rotation matrices drawn uniformly (Haar measure on SO(3)).

    A unit quaternion with i.i.d. normal components is uniform on S^3, and
    q -> R(q) maps that to the Haar measure on SO(3) (used by the property
    tests and benchmarks, as in e3nn's ``rand_matrix``).

    Parameters
    ----------
    n : int or None
        Number of rotations; ``None`` returns one (3, 3) matrix.
    rng : numpy.random.Generator, int or None
        Random generator or seed.
    dtype : numpy dtype

    Returns
    -------
    numpy.ndarray, shape (n, 3, 3) or (3, 3)
        Host (NumPy) arrays; move them with ``cupy.asarray`` when needed.
    """
    rng = np.random.default_rng(rng)
    q = rng.standard_normal((1 if n is None else int(n), 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    R = np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                  np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                  np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)],
                 axis=-2).astype(dtype)
    return R[0] if n is None else R


def _check_rotation_shape(R, xp):
    R = _float_array(R, xp, "R")
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape (..., 3, 3), got {R.shape}")
    return R


def matrix_to_euler(R):
    """ZYZ Euler angles of rotation matrices, R = Rz(alpha) Ry(beta) Rz(gamma).

    Parameters
    ----------
    R : array, shape (..., 3, 3)
        Proper rotation matrices (orthogonal, det +1).  Not checked beyond
        the shape: a non-rotation gives meaningless angles.

    Returns
    -------
    alpha, beta, gamma : arrays, shape (...)
        beta in [0, pi].  At beta = 0 (pi) only alpha + gamma (alpha - gamma)
        is defined; the split returned still rebuilds R exactly.

    Notes
    -----
    Accurate near the singular cases (see module docstring): for beta near
    0, alpha + gamma = atan2(R_yx - R_xy, R_xx + R_yy) (the 2x2 block equals
    (1 + cos b) times a rotation by alpha + gamma); for beta near pi,
    alpha - gamma = atan2(-(R_yx + R_xy), R_yy - R_xx).  alpha itself is
    atan2(R_yz, R_xz) (ill-conditioned only where its effect on R vanishes).
    """
    xp = get_array_module(R)
    R = _check_rotation_shape(R, xp)
    r = lambda i, j: R[..., i, j]
    sin_b = xp.sqrt(0.5 * (r(0, 2) ** 2 + r(1, 2) ** 2 + r(2, 0) ** 2 + r(2, 1) ** 2))
    beta = xp.arctan2(sin_b, r(2, 2))
    alpha = xp.arctan2(r(1, 2), r(0, 2))
    apg = xp.arctan2(r(1, 0) - r(0, 1), r(0, 0) + r(1, 1))        # alpha + gamma
    amg = xp.arctan2(-(r(1, 0) + r(0, 1)), r(1, 1) - r(0, 0))     # alpha - gamma
    gamma = xp.where(r(2, 2) >= 0, apg - alpha, alpha - amg)
    return alpha, beta, gamma


def _swap_matrix(l):
    """J_l = D_l(Q) by least squares on random points (float64, host)."""
    rng = np.random.default_rng(20240 + l)
    n_pts = max(64, 8 * (2 * l + 1))
    x = rng.normal(size=(n_pts, 3))
    sl = slice(l * l, (l + 1) ** 2)
    Y = real_sph_harm(l, x)[:, sl]                # (N, 2l+1)
    YQ = real_sph_harm(l, x @ _SWAP_Q.T)[:, sl]   # Y(Q x)
    # YQ^T = J Y^T  <=>  Y J^T = YQ
    Jt, *_ = np.linalg.lstsq(Y, YQ, rcond=None)
    J = Jt.T
    # J is orthogonal up to the fit's rounding; project onto O(2l+1) (polar factor).
    u, _, vt = np.linalg.svd(J)
    return u @ vt


def _z_factors(l, angle, xp):
    """cos(m a) and -sin(m a) for m = -l..l, shape (..., 2l+1)."""
    m = xp.arange(-l, l + 1, dtype=angle.dtype)
    ma = angle[..., None] * m
    return xp.cos(ma), -xp.sin(ma)


def _z_left(c, s, M):
    """Z(a) @ M for a (..., n, k) array M, with (c, s) from :func:`_z_factors`."""
    return c[..., :, None] * M + s[..., :, None] * M[..., ::-1, :]


def wigner_blocks(lmax, alpha, beta, gamma):
    """Per-degree real Wigner matrices from ZYZ Euler angles.

    Parameters
    ----------
    lmax : int
    alpha, beta, gamma : arrays, broadcastable shapes (...)

    Returns
    -------
    list of arrays
        Element l has shape (..., 2l+1, 2l+1): D_l(Rz(alpha) Ry(beta) Rz(gamma)).
    """
    lmax = _check_lmax(lmax)
    xp = get_array_module(alpha, beta, gamma)
    alpha, beta, gamma = xp.broadcast_arrays(_float_array(alpha, xp, "alpha"),
                                             _float_array(beta, xp, "beta"),
                                             _float_array(gamma, xp, "gamma"))
    dtype = alpha.dtype
    batch = alpha.shape
    blocks = [xp.ones(batch + (1, 1), dtype=dtype)]
    for l in range(1, lmax + 1):
        J = cached_table("wigner_swap", l, lambda l=l: _swap_matrix(l), xp, dtype)
        Jt = J.T
        cg, sg = _z_factors(l, gamma, xp)
        # J^T Z(gamma) without a matrix product: Z = diag(c) + diag(s) P (P reverses m),
        # so column k of J^T Z is c_k J^T[:, k] + s_k' J^T[:, k'] with k' = n-1-k
        A = Jt * cg[..., None, :] + (Jt * sg[..., None, :])[..., :, ::-1]
        cb, sb = _z_factors(l, beta, xp)
        B = _z_left(cb, sb, A)                                    # Z(beta) J^T Z(gamma)
        C = xp.matmul(J, B)                                       # D(Ry(beta)) Z(gamma)
        ca, sa = _z_factors(l, alpha, xp)
        blocks.append(_z_left(ca, sa, C))
    return blocks


def _assemble(blocks, xp):
    lmax = len(blocks) - 1
    batch = blocks[0].shape[:-2]
    q = n_coef(lmax)
    out = xp.zeros(batch + (q, q), dtype=blocks[0].dtype)
    for l, b in enumerate(blocks):
        sl = slice(l * l, (l + 1) ** 2)
        out[..., sl, sl] = b
    return out


def wigner_d_from_euler(lmax, alpha, beta, gamma):
    """Real Wigner matrix D(Rz(alpha) Ry(beta) Rz(gamma)), block-diagonal (Eq. 6).

    Parameters
    ----------
    lmax : int
    alpha, beta, gamma : arrays, broadcastable shapes (...), radians

    Returns
    -------
    array, shape (..., (lmax+1)**2, (lmax+1)**2)
        Zero outside the diagonal blocks of each degree l.
    """
    xp = get_array_module(alpha, beta, gamma)
    return _assemble(wigner_blocks(lmax, alpha, beta, gamma), xp)


def wigner_d_real(lmax, R):
    """Real Wigner matrices of rotation matrices, batched (paper Eq. 6).

    Parameters
    ----------
    lmax : int
        Maximum degree L (any non-negative integer).
    R : array, shape (..., 3, 3)
        Proper rotation matrices (NumPy or CuPy, float32 or float64).

    Returns
    -------
    array, shape (..., (lmax+1)**2, (lmax+1)**2)
        Block-diagonal, orthogonal, ``Y^R(R x) = D(R) Y^R(x)``; same array
        module and dtype as ``R``.

    Notes
    -----
    Not differentiable with respect to ``R`` (frames come from the data);
    :func:`rotate` is differentiable with respect to D and the coefficients.
    """
    lmax = _check_lmax(lmax)
    xp = get_array_module(R)
    R = _check_rotation_shape(getattr(R, "_value", R), xp)
    alpha, beta, gamma = matrix_to_euler(R)
    if _numba_wigner.applicable(R):
        return _numba_wigner.wigner_d(lmax, alpha, beta, gamma, R.dtype)
    return _assemble(wigner_blocks(lmax, alpha, beta, gamma), xp)


# ---------------------------------------------------------------- rotate

def _rotate_forward(coeffs, D):
    if _numba_rotate.applicable(coeffs, D):
        return _numba_rotate.rotate_forward(coeffs, D)
    xp = get_array_module(coeffs, D)
    lmax = lmax_of(coeffs.shape[-2])
    outs = []
    for l in range(lmax + 1):
        sl = slice(l * l, (l + 1) ** 2)
        # (..., 1, n, n) @ (..., P, n, C) -> (..., P, n, C)
        outs.append(xp.matmul(D[..., None, sl, sl], coeffs[..., sl, :]))
    return xp.concatenate(outs, axis=-2)


def _rotate_vjp_coeffs(ans, coeffs, D):
    shape = coeffs.shape

    def vjp(g):
        if type(g) is np.ndarray and g.shape == shape and _numba_rotate.applicable(coeffs, D):
            return _numba_rotate.rotate_forward(g.astype(coeffs.dtype, copy=False), D, transpose=True)
        xp = get_array_module(g, D)
        lmax = lmax_of(shape[-2])
        outs = []
        for l in range(lmax + 1):
            sl = slice(l * l, (l + 1) ** 2)
            outs.append(xp.matmul(xp.swapaxes(D[..., None, sl, sl], -1, -2), g[..., sl, :]))
        return unbroadcast(xp.concatenate(outs, axis=-2), shape)
    return vjp


def _rotate_vjp_D(ans, coeffs, D):
    shape = D.shape

    def vjp(g):
        if type(g) is np.ndarray and g.shape == coeffs.shape and _numba_rotate.applicable(coeffs, D):
            return _numba_rotate.rotate_vjp_D(g, coeffs)
        xp = get_array_module(g, coeffs)
        lmax = lmax_of(shape[-1])
        batch = np.broadcast_shapes(g.shape[:-3], shape[:-2])
        out = xp.zeros(batch + shape[-2:], dtype=g.dtype)
        for l in range(lmax + 1):
            sl = slice(l * l, (l + 1) ** 2)
            # sum over p and c of g[..., p, q, c] coeffs[..., p, q', c]
            blk = xp.matmul(g[..., sl, :], xp.swapaxes(coeffs[..., sl, :], -1, -2))
            out[..., sl, sl] = blk.sum(axis=-3)
        return unbroadcast(out, shape)
    return vjp


@primitive
def _rotate(coeffs, D):
    return _rotate_forward(coeffs, D)


defvjp(_rotate, _rotate_vjp_coeffs, _rotate_vjp_D)


def rotate(coeffs, D):
    """Apply Wigner matrices to coefficients: out = D G per radial point and channel (Eq. 6).

    Parameters
    ----------
    coeffs : array, shape (..., n_radial, n_coef, n_channels)
        Real coefficients G.
    D : array, shape (..., n_coef, n_coef)
        Real Wigner matrices (e.g. :func:`wigner_d_real`); the batch dims of
        ``D`` and ``coeffs.shape[:-3]`` broadcast.  Only the diagonal blocks
        of each degree are used (entries between degrees are ignored).

    Returns
    -------
    array, shape (broadcast batch) + (n_radial, n_coef, n_channels)
        ``out[..., p, q, c] = sum_q' D[..., q, q'] G[..., p, q', c]``: the
        coefficients of the function rotated by R when ``D = D(R)``.

    Notes
    -----
    An autograd primitive with VJPs w.r.t. ``coeffs`` and ``D`` (the latter
    zero outside the diagonal blocks, consistent with the forward pass),
    written with the array module of the inputs.  Costs
    sum_l (2l+1)^2 multiply-adds per (p, c) instead of n_coef^2.  NumPy inputs
    of shapes (E, P, Q, C) and (E, Q, Q) with one float dtype run the Numba
    kernels of :mod:`fourier6d._numba_rotate` (forward and both VJPs, 3-4x
    faster at 7,500 edges: no per-block ``matmul`` calls); other inputs, and
    CuPy, the array-agnostic path, which is the reference.
    """
    for name, a in (("coeffs", coeffs), ("D", D)):
        dt = getattr(getattr(a, "_value", a), "dtype", None)
        if dt is None or np.dtype(dt).kind != "f":
            raise TypeError(f"{name} must be a real floating array, got {type(a).__name__}"
                            f" with dtype {dt}")
    cs, ds = coeffs.shape, D.shape
    if len(cs) < 3:
        raise ValueError(f"coeffs must have shape (..., n_radial, n_coef, n_channels), got {cs}")
    if len(ds) < 2 or ds[-1] != ds[-2] or ds[-1] != cs[-2]:
        raise ValueError(f"D must have shape (..., {cs[-2]}, {cs[-2]}) to match coeffs "
                         f"{cs}, got {ds}")
    lmax_of(cs[-2])
    try:
        np.broadcast_shapes(cs[:-3], ds[:-2])
    except ValueError:
        raise ValueError(f"batch shapes of coeffs {cs[:-3]} and D {ds[:-2]} do not broadcast")
    return _rotate(coeffs, D)
