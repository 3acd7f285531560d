"""6D convolution (Eq. 4): dense real GEMM form vs a literal complex evaluation, equivariance, VJPs."""
import math

import numpy as np

from fourier6d import random_rotations
import pytest
from autograd.test_util import check_grads

from fourier6d.conv6d import conv6d, conv6d_operator
from fourier6d.gaunt import complex_gaunt
from fourier6d.harmonics import complex_to_real_matrix, n_coef
from fourier6d.rotation import wigner_d_real, rotate


def _to_complex(G, lmax):
    """Paper coefficients F_l = (-i)^l U_l^T G_l for real G (..., Q)."""
    F = np.zeros(G.shape, dtype=complex)
    for l in range(lmax + 1):
        s = slice(l * l, (l + 1) ** 2)
        F[..., s] = (-1j) ** l * G[..., s] @ complex_to_real_matrix(l)
    return F


def _to_real(F, lmax):
    G = np.zeros(F.shape, dtype=complex)
    for l in range(lmax + 1):
        s = slice(l * l, (l + 1) ** 2)
        G[..., s] = (1j) ** l * F[..., s] @ complex_to_real_matrix(l).conj().T
    return G


def _eq4_direct(F, W, lmax):
    """Literal Eq. 4 on one shell, complex coefficients F[q], W[q] (no channels)."""
    out = np.zeros(n_coef(lmax), dtype=complex)
    idx = lambda l, m: l * l + l + m
    for l in range(lmax + 1):
        for k in range(-l, l + 1):
            acc = 0j
            for l1 in range(lmax + 1):
                for k1 in range(-l1, l1 + 1):
                    w = W[idx(l1, -k1)]
                    for l2 in range(abs(l - l1), min(l + l1, lmax) + 1):
                        if abs(k + k1) > l2:
                            continue
                        # c^{l2}(l,k,l1,-k1) = int conj(Y_l^k) Y_l1^-k1 Y_l2^(k+k1)
                        c = (-1) ** k * complex_gaunt(l, -k, l1, -k1, l2, k + k1)
                        acc += 8 * math.pi ** 2 / (2 * l1 + 1) * w * c * F[idx(l2, k + k1)]
            out[idx(l, k)] = acc
    return out


@pytest.mark.parametrize("lmax", [1, 2, 3])
def test_dense_real_equals_literal_complex_eq4(lmax, rng):
    P, Q, ci, co = 2, n_coef(lmax), 2, 3
    G = rng.normal(size=(4, P, Q, ci))
    W = rng.normal(size=(P, Q, ci, co))
    ours = conv6d(G, W)
    ref = np.zeros_like(ours)
    for n in range(4):
        for p in range(P):
            for o in range(co):
                acc = np.zeros(Q, dtype=complex)
                for i in range(ci):
                    acc += _eq4_direct(_to_complex(G[n, p, :, i], lmax),
                                       _to_complex(W[p, :, i, o], lmax), lmax)
                g = _to_real(acc, lmax)
                assert np.abs(g.imag).max() < 1e-10
                ref[n, p, :, o] = g.real
    assert np.abs(ours - ref).max() < 1e-10 * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-11), (np.float32, 2e-4)])
def test_equivariance_when_input_and_filter_rotate_together(dtype, tol, rng):
    lmax, P, ci, co = 4, 3, 2, 2
    Q = n_coef(lmax)
    G = rng.normal(size=(5, P, Q, ci)).astype(dtype)
    W = rng.normal(size=(P, Q, ci, co)).astype(dtype)
    errs = []
    for _ in range(20):
        D = wigner_d_real(lmax, random_rotations(rng=rng)).astype(dtype)
        W_rot = rotate(W.reshape(P, Q, ci * co), D).reshape(P, Q, ci, co)
        out_rot = conv6d(rotate(G, D), W_rot)
        rot_out = rotate(conv6d(G, W), D)
        errs.append(np.abs(out_rot - rot_out).max() / np.abs(rot_out).max())
    assert max(errs) < tol


def test_rotating_only_the_input_is_not_equivariant(rng):
    # Eq. 4 is a Fourier-space product with a filter fixed in the frame: a real-space
    # convolution; it commutes with rotations only when the filter rotates too.
    lmax, P = 3, 2
    Q = n_coef(lmax)
    G = rng.normal(size=(2, P, Q, 1))
    W = rng.normal(size=(P, Q, 1, 1))
    D = wigner_d_real(lmax, random_rotations(rng=rng))
    err = np.abs(conv6d(rotate(G, D), W) - rotate(conv6d(G, W), D)).max()
    assert err > 1e-3


def test_vjps_and_bias(rng):
    lmax, P, ci, co = 2, 2, 2, 3
    Q = n_coef(lmax)
    G = rng.normal(size=(3, P, Q, ci))
    W = rng.normal(size=(P, Q, ci, co))
    b = rng.normal(size=(P, Q, co))
    check_grads(lambda g: conv6d(g, W, b), modes=["rev"], order=1)(G)
    check_grads(lambda w: conv6d(G, w, b), modes=["rev"], order=1)(W)
    check_grads(lambda bb: conv6d(G, W, bb), modes=["rev"], order=1)(b)
    np.testing.assert_allclose(conv6d(G, W, b) - conv6d(G, W), np.broadcast_to(b, (3, P, Q, co)))


def test_operator_shape_and_errors(rng):
    W = rng.normal(size=(2, 9, 3, 4))
    assert conv6d_operator(W).shape == (2, 27, 36)
    with pytest.raises(ValueError, match="does not match"):
        conv6d(rng.normal(size=(2, 2, 9, 2)), W)
    with pytest.raises(ValueError, match="square"):
        conv6d(rng.normal(size=(2, 2, 8, 3)), rng.normal(size=(2, 8, 3, 4)))
    with pytest.raises(ValueError, match="bias"):
        conv6d(rng.normal(size=(2, 2, 9, 3)), W, rng.normal(size=(2, 9, 3)))


def test_float32_matches_float64(rng):
    G = rng.normal(size=(6, 5, 25, 4))
    W = rng.normal(size=(5, 25, 4, 3))
    a = conv6d(G, W)
    b = conv6d(G.astype(np.float32), W.astype(np.float32))
    assert b.dtype == np.float32
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-5


def test_cupy_matches_numpy(xp, rng):
    G = rng.normal(size=(3, 2, 9, 2))
    W = rng.normal(size=(2, 9, 2, 2))
    out = conv6d(xp.asarray(G), xp.asarray(W))
    out = out.get() if hasattr(out, "get") else out
    np.testing.assert_allclose(out, conv6d(G, W), atol=1e-12)
