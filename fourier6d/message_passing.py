"""Nonparametric message passing of continuous data between residue frames (paper Eqs. 5-6).

Each residue i carries the coefficients G_i of a function given in its own
frame (origin o_i, axes F_i; see "Relative frames" in the project notes).
A point with j-local coordinates x_j has i-local coordinates
``x_i = R_ij x_j + t_ij`` (``R_ij = F_i^T F_j``, ``t_ij = F_i^T (o_j - o_i)``),
so j's function seen from i is ``f_j(R_ij^T (r - t_ij))``: rotate by R_ij,
then translate by t_ij.  The translation is decomposed as in the paper:
rotate t_ij onto +z, translate along z (Eq. 5), rotate back (Eq. 6).  The
messages are

    m_i = sum_k mask[i, k] w[i, k] T_ik G_{nbr_idx[i, k]}

(optional per-edge weights w, e.g. a smooth envelope of the edge length; 1 by default).

Three formulations, the same messages up to rounding:

* node frames (:func:`node_message_passing`, what the networks run): with
  the frames F_i and origins o_i themselves, ``T(t_ij) D(R_ij) =
  D(F_i)^T T(o_j - o_i) D(F_j)``: each source rotated to global axes once,
  translated along each edge in global axes (Z(-phi), D_y^T, T_z, D_y,
  Z(phi): no general rotation per edge; an edge and its reverse share one
  geometry row, T(-t) = T(t)^T), each receiver's sum rotated back once
  (:func:`fourier6d.zmessage.translation_frames`);
* edge frames (:func:`message_passing` default, ``method="z"``;
  :mod:`fourier6d.zmessage`): the four sparse steps applied to each edge's
  coefficients, with the per-m block structure of the z-translation; about
  2x fewer multiply-adds and 5x fewer operator bytes per edge;
* dense (``method="dense"``, the reference): the steps composed into ONE
  dense (n_radial, Q, Q) matrix per edge (:func:`edge_operators`, pure
  geometry, computed once per structure), and per receiver and radial point
  one GEMM whose contraction runs over the neighbour slots and coefficients
  together (:func:`pass_messages`).

Both are autograd primitives differentiable w.r.t. the coefficients; no
gradient flows to the geometry or the weights.

Accuracy: the translation is exact except for the truncation at degree L
(Eq. 5's error term); it is accurate for |t_ij| up to about sigma L / 2
with the paper's grid (see tests/test_translation.py).
"""
from __future__ import annotations

import threading

import numpy as np
from autograd.extend import primitive, defvjp

from . import _numba_edge, _numba_kernels
from ._backend import get_array_module, recycled_zeros, to_numpy
from .gather import scatter_add_rows
from .radial import RadialGrid
from .harmonics import lmax_of, n_coef
from .translation import (translation_matrices, translation_matrices_t, _as_lmax,
                          PLANE_WAVE_MAX_L)

__all__ = ["edge_operators", "pass_messages", "message_passing", "node_message_passing",
           "translate_messages", "node_wigner", "clear_frames_cache"]


def _check_graph(nbr_idx, nbr_mask, n_source):
    for name, a in (("nbr_idx", nbr_idx), ("nbr_mask", nbr_mask)):
        if getattr(a, "ndim", None) != 2:
            raise ValueError(f"{name} must have shape (N, K), got {getattr(a, 'shape', None)}")
    if nbr_idx.shape != nbr_mask.shape:
        raise ValueError(f"nbr_idx {nbr_idx.shape} and nbr_mask {nbr_mask.shape} differ")
    if nbr_idx.dtype.kind not in "iu":
        raise TypeError(f"nbr_idx must be an integer array, got {nbr_idx.dtype}")
    if nbr_mask.dtype != np.bool_:
        raise TypeError(f"nbr_mask must be a boolean array, got {nbr_mask.dtype}")
    xp = get_array_module(nbr_idx)
    valid = xp.where(nbr_mask, nbr_idx, 0)
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= n_source):
        raise ValueError(f"nbr_idx of unmasked edges must lie in [0, {n_source})")
    return valid


#: Elements of the largest temporary of one chunk in the loops below (16 MB in float32).
#: Temporaries this small are served from the heap and reused from chunk to chunk (glibc
#: raises its mmap threshold up to 32 MB), whereas one large temporary costs fresh
#: first-touch page faults on every call (about 0.2 s per GB measured on the 2-core machine).
CHUNK_ELEMENTS = 1 << 22


def _chunks(n, per_item):
    step = max(1, CHUNK_ELEMENTS // max(int(per_item), 1))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def edge_operators(R_ij, t_ij, grid, lmax, nbr_mask=None):
    """Per-edge operators T(j -> i) = D(S)^T T_z(|t|) D(S) D(R_ij).

    Parameters
    ----------
    R_ij : array, shape (N, K, 3, 3)
        Rotations from j's frame to i's frame.
    t_ij : array, shape (N, K, 3)
        Position of j's origin in i's frame.
    grid : RadialGrid
    lmax : int
    nbr_mask : array of bool, shape (N, K), optional
        Operators of masked (padding) edges are zero (and not computed).

    Returns
    -------
    array, shape (N, K, n_radial, Q, Q)
        Maps coefficients in j's frame to those of the same function in i's
        frame; dtype and array module of ``t_ij``.  Memory layout: a
        transposed view of a C-contiguous ``(N, n_radial, K, Q, Q)`` array of
        the transposed matrices, the layout in which :func:`pass_messages`
        folds the sum over neighbours into its GEMMs without a copy (any
        other layout passed to it is copied into this one first).

    Notes
    -----
    Computed for the unmasked edges only, ``CHUNK_ELEMENTS`` at a time (by
    :func:`fourier6d.translation.translation_matrices_t`), each chunk written
    into place.  Batches of other than two dimensions are returned as
    :func:`fourier6d.translation.translation_matrices` gives them.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if getattr(t_ij, "ndim", 0) < 1 or t_ij.shape[-1] != 3:
        raise ValueError(f"t_ij must have shape (..., 3), got {getattr(t_ij, 'shape', None)}")
    if getattr(R_ij, "shape", None) != tuple(t_ij.shape[:-1]) + (3, 3):
        raise ValueError(f"R_ij must have shape {tuple(t_ij.shape[:-1]) + (3, 3)}, "
                         f"got {getattr(R_ij, 'shape', None)}")
    lmax = _as_lmax(lmax)
    xp = get_array_module(R_ij, t_ij)
    t_ij = xp.asarray(t_ij)
    if t_ij.dtype.kind != "f":
        t_ij = t_ij.astype(np.float64)
    R_ij = xp.asarray(R_ij, dtype=t_ij.dtype)
    mask = None
    if nbr_mask is not None:
        mask = xp.broadcast_to(xp.asarray(nbr_mask), t_ij.shape[:-1])
    if t_ij.ndim != 3:
        ops = translation_matrices(lmax, grid, t_ij, rotation=R_ij)
        if mask is not None:
            ops = ops * mask.astype(ops.dtype)[..., None, None, None]
        return ops
    N, K = t_ij.shape[:2]
    P, Q = grid.n_radial, n_coef(lmax)
    fused = lmax <= PLANE_WAVE_MAX_L and _numba_edge.applicable(R_ij, t_ij)
    # the fused kernel writes every unmasked slot: only the masked ones are zeroed (below)
    buf = recycled_zeros((N, P, K, Q, Q), t_ij.dtype, xp, slot="edge_operators", zero=not fused)
    edges = xp.arange(N * K) if mask is None else xp.nonzero(mask.reshape(-1).astype(bool))[0]
    t_flat, R_flat = t_ij.reshape(-1, 3), R_ij.reshape(-1, 3, 3)
    if fused:
        _numba_edge.edge_operators_into(buf, t_flat, R_flat, edges, K, grid, lmax)
        if mask is not None:
            _numba_edge.zero_masked_slots(buf, mask)
        return buf.transpose(0, 2, 1, 4, 3)
    for c in _chunks(int(edges.shape[0]), P * Q * Q):
        e = edges[c]
        buf[e // K, :, e % K] = translation_matrices_t(lmax, grid, t_flat[e], rotation=R_flat[e])
    return buf.transpose(0, 2, 1, 4, 3)


def _ops_t(edge_ops):
    """``(N, P, K, Q, Q)`` C-contiguous, ``[i, p, k] = edge_ops[i, k, p].T`` (a view if possible)."""
    xp = get_array_module(edge_ops)
    return xp.ascontiguousarray(edge_ops.transpose(0, 2, 1, 4, 3))


def _source_rows(idx, mask, n_src, n_radial):
    """``(N, P, K)`` rows of ``coeffs.reshape(n_src * P, -1)`` read by slot (i, k) at radius p.

    Masked slots read row ``n_src * P``: a zero row appended by the forward pass
    (and a discarded row of the gradient).
    """
    xp = get_array_module(idx, mask)
    rows = idx[:, None, :] * n_radial + xp.arange(n_radial)[None, :, None]
    return xp.where(mask[:, None, :], rows, n_src * n_radial)


def _spans(mask, P, Q, C):
    """Chunks ``(start, stop, k_used)`` of receivers: ``k_used`` = 1 + the last unmasked slot of
    any receiver in the chunk (slots beyond it read only the zero row and are skipped; with the
    neighbours first, as featurize and collate store them, about a quarter of a 6DCNN-2 batch's
    padded slots).  One small host transfer per call, for the planning."""
    N, K = mask.shape
    xp = get_array_module(mask)
    last = xp.where(mask.any(axis=1), K - xp.argmax(mask[:, ::-1], axis=1), 0)
    last = to_numpy(last)
    return tuple((c.start, c.stop, int(last[c].max()) if c.stop > c.start else 0)
                 for c in _chunks(N, P * K * Q * max(Q, C)))


def _span_groups(spans, xp):
    """Bounds splitting ``spans`` into one consecutive group per thread (about equal work
    ``(b - a) k``), and the thread count: NumPy inputs only (the GEMMs of these small shapes
    run single-threaded in BLAS, and NumPy releases the GIL in them and in the gathers);
    one group on CuPy or without the thread pool."""
    n_threads = _numba_kernels.default_threads() if xp is np else 1
    n_threads = max(1, min(n_threads, len(spans)))
    work = [(b - a) * max(k, 1) for a, b, k in spans]
    return _numba_kernels._split(len(spans), n_threads, work if n_threads > 1 else None), n_threads


def _weighted(x, weight, a, b, k):
    """``x`` (b - a, P, k Q, C) with slot (i, k') scaled by ``weight[a + i, k']`` (in place)."""
    if weight is None:
        return x
    n, P, kQ, C = x.shape
    x = x.reshape(n, P, k, kQ // k, C)
    x *= weight[a:b, None, :k, None, None]
    return x.reshape(n, P, kQ, C)


def _forward(coeffs, ops_t, rows, spans, weight=None):
    xp = get_array_module(coeffs, ops_t)
    n_src, P, Q, C = coeffs.shape
    N = rows.shape[0]
    src = xp.concatenate([coeffs.reshape(n_src * P, Q * C), xp.zeros((1, Q * C), coeffs.dtype)])
    out = xp.empty((N, P, Q, C), dtype=xp.result_type(coeffs.dtype, ops_t.dtype))

    # per receiver i and radius p ONE GEMM (Q x kQ) @ (kQ x C): the neighbour sum is the
    # contraction over (k, q'), the neighbours' coefficients gathered row by row
    def work(s0, s1):
        for a, b, k in spans[s0:s1]:
            if k == 0:
                out[a:b] = 0
                continue
            gathered = xp.take(src, rows[a:b, :, :k].reshape(-1), axis=0).reshape(b - a, P, k * Q, C)
            gathered = _weighted(gathered, weight, a, b, k)
            ops = ops_t[a:b, :, :k].reshape(b - a, P, k * Q, Q)
            xp.matmul(ops.swapaxes(-1, -2), gathered, out=out[a:b])

    # groups of chunks in threads: they write disjoint receivers
    _numba_kernels._run_ranges(work, *_span_groups(spans, xp))
    return out


@primitive
def _messages(coeffs, ops_t, rows, spans, weight=None):
    return _forward(coeffs, ops_t, rows, spans, weight)


def _vjp_coeffs(ans, coeffs, ops_t, rows, spans, weight=None):
    shape, dtype = coeffs.shape, coeffs.dtype

    def vjp(g):
        xp = get_array_module(g, ops_t)
        n_src, P, Q, C = shape
        # in the output's dtype: a float64 cotangent (autograd's ``mean`` gives one for
        # float32 arrays) would otherwise cast every chunk of the float32 operators
        g = xp.ascontiguousarray(g, dtype=ans.dtype)
        bounds, n_threads = _span_groups(spans, xp)
        grads = {}                    # one gradient per group of chunks (threads never share one)

        # transposed GEMMs per (i, p): (kQ x Q) @ (Q x C), then a scatter-add to the sources
        def work(s0, s1):
            grad = grads.setdefault(s0, xp.zeros((n_src * P + 1, Q * C), dtype=ans.dtype))
            for a, b, k in spans[s0:s1]:
                if k == 0:
                    continue
                contrib = xp.matmul(ops_t[a:b, :, :k].reshape(b - a, P, k * Q, Q), g[a:b])
                contrib = _weighted(contrib, weight, a, b, k)
                scatter_add_rows(grad, rows[a:b, :, :k].reshape(-1),
                                 contrib.reshape((b - a) * P * k, Q * C),
                                 threads=n_threads == 1)

        _numba_kernels._run_ranges(work, bounds, n_threads)
        grad = (_numba_kernels.sum_partials(grads) if grads
                else xp.zeros((n_src * P + 1, Q * C), dtype=ans.dtype))
        return grad[:-1].reshape(shape).astype(dtype, copy=False)
    return vjp


defvjp(_messages, _vjp_coeffs)


def _edge_weight(edge_weight, mask, dtype, xp):
    """The per-edge weights as a constant (N, K) array of ``dtype``, zero on masked slots
    (whatever they held there, NaN included); None stays None.

    Weights are geometry: an autograd box is unwrapped, no gradient flows to them."""
    shape = mask.shape
    if edge_weight is None:
        return None
    while hasattr(edge_weight, "_value"):
        edge_weight = edge_weight._value
    if tuple(getattr(edge_weight, "shape", ())) != tuple(shape):
        raise ValueError(f"edge_weight must have shape {tuple(shape)}, "
                         f"got {getattr(edge_weight, 'shape', None)}")
    w = xp.asarray(edge_weight)
    if w.dtype.kind != "f":
        raise TypeError(f"edge_weight must be a floating-point array, got {w.dtype}")
    return xp.ascontiguousarray(xp.where(mask, w, 0), dtype=dtype)


def pass_messages(coeffs, edge_ops, nbr_idx, nbr_mask, edge_weight=None):
    """Messages ``m_i = sum_k mask[i,k] w[i,k] T_ik G_{nbr_idx[i,k]}`` from precomputed operators.

    Parameters
    ----------
    coeffs : array, shape (N_src, n_radial, Q, C)
        Coefficients of every residue in its own frame.
    edge_ops : array, shape (N, K, n_radial, Q, Q)
        From :func:`edge_operators` (whose memory layout is used without a copy;
        other layouts are copied into it first).
    nbr_idx : int array, shape (N, K)
        Source residue of each neighbour slot (any value where masked).
    nbr_mask : bool array, shape (N, K)
    edge_weight : float array, shape (N, K), optional
        Weight ``w[i, k]`` of each message (e.g. a smooth envelope of the edge
        length); None means 1 on every unmasked edge.  Treated as a constant:
        no gradient flows to it.

    Returns
    -------
    array, shape (N, n_radial, Q, C)
        Differentiable (autograd primitive) w.r.t. ``coeffs``.

    Notes
    -----
    Per receiver i and radius p, the sum over neighbours is one GEMM
    ``(Q x K Q) @ (K Q x C)`` on the neighbours' gathered coefficients (masked
    slots read a zero row, so the operators are never copied); receivers are
    processed ``CHUNK_ELEMENTS`` at a time.  The VJP is the transposed GEMM
    followed by one sparse scatter-add to the sources.
    """
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    lmax_of(cshape[2])
    eshape = getattr(edge_ops, "shape", None)
    if (eshape is None or len(eshape) != 5 or tuple(eshape[2:]) != (cshape[1], cshape[2], cshape[2])
            or tuple(eshape[:2]) != tuple(nbr_idx.shape)):
        raise ValueError(f"edge_ops must have shape {tuple(nbr_idx.shape) + (cshape[1], cshape[2], cshape[2])},"
                         f" got {eshape}")
    xp = get_array_module(coeffs, edge_ops, nbr_idx)
    idx = _check_graph(nbr_idx, nbr_mask, cshape[0])
    mask = xp.asarray(nbr_mask)
    rows = _source_rows(idx, mask, cshape[0], cshape[1])
    spans = _spans(mask, cshape[1], cshape[2], cshape[3])
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    weight = _edge_weight(edge_weight, mask, xp.result_type(dtype, edge_ops.dtype), xp)
    return _messages(coeffs, _ops_t(edge_ops), rows, spans, weight)


#: Formulations of :func:`message_passing`.
METHODS = ("z", "dense")

#: The last edge frames built by :func:`message_passing` and copies of their inputs.
_LAST_FRAMES: dict = {}
_FRAMES_LOCK = threading.Lock()


def _cached(builder, key, inputs, build):
    """``build()``, reusing the last result of ``builder`` when ``key`` and every input equal the
    last call's (value comparison, so arrays changed in place are seen): the message-passing
    steps of one forward pass share one geometry (the 15/12/10 network has two), for about 1 ms
    of comparisons instead of the geometry's 60-200 ms."""
    xp = get_array_module(*[a for a in inputs if a is not None])
    with _FRAMES_LOCK:
        last = _LAST_FRAMES.get(builder)
    if last is not None and last[0] == key and all(
            (a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                          and a.dtype == b.dtype and bool(xp.array_equal(a, b)))
            for a, b in zip(inputs, last[1])):
        return last[2]
    frames = build()
    copies = tuple(None if a is None else xp.array(a, copy=True) for a in inputs)
    with _FRAMES_LOCK:
        _LAST_FRAMES[builder] = (key, copies, frames)
    return frames


def _frames(R_ij, t_ij, grid, lmax, nbr_idx, nbr_mask, edge_weight, n_src):
    """:func:`fourier6d.zmessage.edge_frames`, the last result reused for equal inputs
    (:func:`_cached`)."""
    from .zmessage import edge_frames
    xp = get_array_module(R_ij, t_ij, nbr_idx)
    w = getattr(edge_weight, "_value", edge_weight)
    key = (grid, int(lmax), np.dtype(t_ij.dtype).str, int(n_src), xp.__name__)
    return _cached("edge", key, (R_ij, t_ij, nbr_idx, nbr_mask, w),
                   lambda: edge_frames(R_ij, t_ij, grid, lmax, nbr_idx, nbr_mask, edge_weight,
                                       n_src=n_src))


def _translation_frames(origins, src_origins, grid, lmax, nbr_idx, nbr_mask, edge_weight,
                        dtype):
    """:func:`fourier6d.zmessage.translation_frames` in ``dtype``, the last result reused for
    equal inputs (:func:`_cached`)."""
    from .zmessage import translation_frames
    xp = get_array_module(origins, nbr_idx)
    w = getattr(edge_weight, "_value", edge_weight)
    key = (grid, int(lmax), np.dtype(dtype).str, xp.__name__)
    return _cached("translation", key, (origins, src_origins, nbr_idx, nbr_mask, w),
                   lambda: translation_frames(origins, grid, lmax, nbr_idx, nbr_mask,
                                              edge_weight, src_origins, dtype=dtype))


def clear_frames_cache():
    """Forget the edge frames kept by :func:`message_passing` (frees their memory)."""
    with _FRAMES_LOCK:
        _LAST_FRAMES.clear()


def message_passing(coeffs, nbr_idx, nbr_mask, R_ij, t_ij, grid, edge_weight=None, method="z"):
    """Sum over neighbours of their functions re-expressed in the receiver's frame.

    Convenience wrapper: the edge geometry, then the messages (precompute the
    geometry once per structure when passing several times).

    Parameters
    ----------
    coeffs : array, shape (N, n_radial, Q, C)
    nbr_idx : int array, shape (N, K)
    nbr_mask : bool array, shape (N, K)
    R_ij : array, shape (N, K, 3, 3)
    t_ij : array, shape (N, K, 3)
    grid : RadialGrid
    edge_weight : float array, shape (N, K), optional
        Weight of each message, ``m_i = sum_k mask[i,k] w[i,k] T_ik G_{nbr_idx[i,k]}``
        (None: 1); geometry, no gradient flows to it.
    method : {"z", "dense"}
        ``"z"`` (default): through edge frames, rotate / translate along z /
        rotate (:func:`fourier6d.zmessage.edge_frames` and
        :func:`fourier6d.zmessage.pass_messages_z`; about 2x fewer operations
        and 5x fewer bytes per edge; the geometry of the last call is reused
        when all geometric inputs are equal, as in the several message-passing
        steps of one forward pass).  ``"dense"``: one dense (n_radial, Q, Q)
        operator per edge (:func:`edge_operators` and :func:`pass_messages`),
        the reference.  Both give the same messages and VJP up to rounding.

    Returns
    -------
    array, shape (N, n_radial, Q, C)
    """
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if cshape[1] != grid.n_radial:
        raise ValueError(f"coeffs have {cshape[1]} radial points, grid has {grid.n_radial}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    xp = get_array_module(coeffs, t_ij)
    R_ij, t_ij = xp.asarray(R_ij, dtype=dtype), xp.asarray(t_ij, dtype=dtype)
    if method == "z":
        from .zmessage import pass_messages_z
        frames = _frames(R_ij, t_ij, grid, lmax_of(cshape[2]), nbr_idx, nbr_mask, edge_weight,
                         cshape[0])
        return pass_messages_z(coeffs, frames)
    ops = edge_operators(R_ij, t_ij, grid, lmax_of(cshape[2]), nbr_mask)
    return pass_messages(coeffs, ops, nbr_idx, nbr_mask, edge_weight)


# ----------------------------------------------------------------------------- node frames

def node_wigner(frames, lmax, dtype):
    """Real Wigner matrices ``D(F_i)`` of node frames (N, 3, 3) (columns = local axes in
    global coordinates), computed in float64 and cast to ``dtype``: (N, Q, Q).
    :func:`fourier6d.rotation.rotate` with them takes local coefficients to global axes,
    with their transposes back."""
    from .rotation import wigner_d_real
    xp = get_array_module(frames)
    F = xp.asarray(getattr(frames, "_value", frames)).astype(np.float64)
    return wigner_d_real(lmax, F).astype(dtype)


def translate_messages(coeffs, nbr_idx, nbr_mask, origins, grid, edge_weight=None,
                       src_origins=None):
    """Messages between nodes whose coefficients share one set of axes (e.g. global):
    ``m_i = sum_k mask[i,k] w[i,k] T(o_j - o_i) H_j``, j = nbr_idx[i, k].

    Parameters
    ----------
    coeffs : array, shape (n_src, n_radial, Q, C)
        H_j in the common axes.
    nbr_idx, nbr_mask : arrays, shape (N, K)
    origins : array, shape (N, 3)
        Receivers' positions (float64 recommended: the geometry is computed in float64).
    grid : RadialGrid
    edge_weight : array, shape (N, K), optional
    src_origins : array, shape (n_src, 3), optional
        Sources' positions (default ``origins``; then n_src = N).

    Returns
    -------
    array, shape (N, n_radial, Q, C)
        Differentiable w.r.t. ``coeffs`` (:func:`fourier6d.zmessage.pass_messages_z` through
        :func:`fourier6d.zmessage.translation_frames`, reused while the geometry is unchanged).
    """
    from .zmessage import pass_messages_z
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    frames = _translation_frames(origins, src_origins, grid, lmax_of(cshape[2]), nbr_idx,
                                 nbr_mask, edge_weight, dtype)
    return pass_messages_z(coeffs, frames)


def node_message_passing(coeffs, nbr_idx, nbr_mask, frames, origins, grid, edge_weight=None):
    """:func:`message_passing` from node frames: the same messages, fewer operations.

    With ``R_ij = F_i^T F_j`` and ``t_ij = F_i^T (o_j - o_i)`` (the residue graphs'
    relative transforms), ``T(t_ij) D(R_ij) = D(F_i)^T T(o_j - o_i) D(F_j)``: the sources'
    coefficients are rotated to global axes once per node, translated along each edge in
    global axes (:func:`translate_messages`: no rotation between frames per edge), and each
    receiver's sum is rotated back once.  Per edge and column 345 multiply-adds at L = 4
    instead of 380, and a geometry without the Wigner blocks of a general rotation per edge.

    Parameters
    ----------
    coeffs : array, shape (N, n_radial, Q, C)
        Coefficients of every node in its own frame.
    nbr_idx, nbr_mask : arrays, shape (N, K)
    frames : array, shape (N, 3, 3)
        Node frames F_i, columns = local axes in global coordinates (orthonormal, det +1).
    origins : array, shape (N, 3)
        Node origins o_i.
    grid : RadialGrid
    edge_weight : array, shape (N, K), optional
        Weight of each message (None: 1); no gradient.

    Returns
    -------
    array, shape (N, n_radial, Q, C)
        Differentiable w.r.t. ``coeffs``.
    """
    from .rotation import rotate
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    if getattr(frames, "shape", None) != (cshape[0], 3, 3):
        raise ValueError(f"frames must have shape ({cshape[0]}, 3, 3), "
                         f"got {getattr(frames, 'shape', None)}")
    if getattr(origins, "shape", None) != (cshape[0], 3):
        raise ValueError(f"origins must have shape ({cshape[0]}, 3), "
                         f"got {getattr(origins, 'shape', None)}")
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    xp = get_array_module(frames)
    D = node_wigner(frames, lmax_of(cshape[2]), dtype)
    H = rotate(coeffs, D)
    m = translate_messages(H, nbr_idx, nbr_mask, origins, grid, edge_weight)
    return rotate(m, xp.swapaxes(D, -1, -2))
