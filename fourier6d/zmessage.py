"""Message passing through edge frames: rotate, translate along z, rotate (paper Eqs. 5-6).

The message of edge (i, k), source j = nbr_idx[i, k], to receiver i is

    T(t) D(R) G_j,    T(t) = D(S)^T T_z(|t|) D(S),    S t = |t| e_z,

(``R = R_ij``, ``t = t_ij``; :mod:`fourier6d.message_passing`).  With
``S = Ry(-theta) Rz(-phi)`` ((theta, phi) the polar angles of t) it factorises as

    m = Z(phi) D_y(theta) T_z(|t|) D(S R) G_j,

four sparse steps applied to the P C columns of the source's coefficients
instead of one dense (Q, Q) operator per edge and radius:

1. ``D(S R)``: one rotation into the edge frame (edge along +z), the diagonal
   blocks of the Wigner matrix only: sum_l (2l+1)^2 = 165 multiply-adds per
   column at L = 4.
2. ``T_z(|t|)`` (Eq. 5): couples (l, m) only with (l', m), one
   (L+1-|m|)^2 block per m and radius: 85 per column; its entries are
   ``sum_lam j_lam(rho_p |t|) A[lam]`` (the fixed table of
   :func:`fourier6d.translation.z_translation_table`, identical for m and -m).
3. ``D_y(theta)``: a rotation about y commutes with the reflection y -> -y,
   so it does not mix the m >= 0 (cosine) and m < 0 (sine) harmonics: blocks
   of l + 1 and l per degree, 85 per column.
4. ``Z(phi)`` (pairs m, -m), times the edge weight, added to the receiver's
   sum: 45 per column.

Cost per edge at L = 4, P = 5, C = 15 (float32), counted before coding
(:func:`multiply_adds`, :func:`frame_floats`):

=====================  ===========================  =====================================
formulation            multiply-adds                bytes per edge
=====================  ===========================  =====================================
dense (reference)      build 32,000 (sparse Numba   operator P Q^2 = 3,125 floats written
                       kernel) + forward P Q^2 C    once, read twice (forward, VJP):
                       = 46,875 + VJP 46,875        37.5 KB; plus the source's 7.5 KB
                       = 126,000                    per pass
edge frames (this)     forward 380 P C = 28,500     geometry 2 x 165 + 2 (L+1) + 55 P
                       + VJP 28,500 = 57,000        = 615 floats written once, read
                       (+ geometry ~2,000, once)    twice: 7.4 KB; plus the source's
                                                    7.5 KB per pass
=====================  ===========================  =====================================

i.e. 2.2x fewer multiply-adds and 5x fewer operator bytes; the geometry
(:func:`edge_frames`) is computed once per structure like the dense
operators.  At the 16-model 6DCNN-2 batch (70,634 edges) the dense
operators are 0.88 GB in float32, the edge frames 0.17 GB.  The Numba
kernels also spread the 55 P entries of T_z over the rows' channels once per
edge and pass (P 55 C stores) and pad the channels to a multiple of 8.

The VJP (w.r.t. the coefficients) applies the transposed steps in reverse order
and sums per source.  On a symmetric graph (every edge j -> i with its reverse
i -> j of the same weight, as the residue graphs of the networks: all pairs
closer than r_n) message passing is its own adjoint (:func:`reverse_edges`),
and the VJP runs the forward kernels on the cotangent: ordered sums per
receiver, no pass over sources (1.35x less CPU time than the transposed steps
on the 16-model 6DCNN-2 batch).

Translation-only frames (:func:`translation_frames`) serve message passing
between coefficients that share one set of axes (the networks rotate every
residue's coefficients to global axes once and back once,
:func:`fourier6d.message_passing.node_message_passing`): per edge
``w Z(phi) D_y(theta) T_z D_y(theta)^T Z(-phi)``, 345 multiply-adds per
column at L = 4, and a geometry of D_y, cos/sin(m phi) and T_z only, one row
per edge and its reverse (``T(-t) = T(t)^T``: the reverse applies the
transposed T_z), about a third of the edge frames' geometry time.

The array-agnostic path here (NumPy, CuPy) runs the four steps as batched
``matmul`` over chunks of edges; on NumPy with Numba the fused kernels of
:mod:`fourier6d._numba_zmessage` run them edge by edge in cache (for
translation-only frames at L <= 4 the generated kernels of
:mod:`fourier6d._numba_translate`, every coefficient of a lane in a register
through the five steps: 0.65 of the GEMM rate against 0.15 for the row kernel,
``benchmarks/RESULTS.md``).  The sums
over edges have a fixed order (per receiver in slot order; the VJP per
source in receiver order): results are the same run to run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from autograd.extend import primitive, defvjp

from . import _numba_zmessage
from ._backend import get_array_module, cached_table
from .gather import scatter_add_rows, sum_rows_by_index
from .harmonics import lmax_of, n_coef, spherical_jn
from .radial import RadialGrid

__all__ = ["EdgeFrames", "edge_frames", "translation_frames", "pass_messages_z",
           "reverse_edges", "z_translation_blocks", "multiply_adds",
           "translation_multiply_adds", "frame_floats"]

#: Elements of the largest temporary of one chunk of the array path (16 MB in float32).
CHUNK_ELEMENTS = 1 << 22


def _step_multiply_adds(lmax):
    """Multiply-adds per coefficient column of each step: the Wigner blocks of a general
    rotation, sum_l (2l+1)^2; T_z, sum_m (L+1-|m|)^2; D_y(theta) within its sectors,
    sum_l (l+1)^2 + l^2; Z(phi), 1 per m = 0 row and 2 per other row."""
    L = int(lmax)
    Q = (L + 1) ** 2
    return dict(rotation=sum((2 * l + 1) ** 2 for l in range(L + 1)),
                tz=sum((L + 1 - abs(m)) ** 2 for m in range(-L, L + 1)),
                dy=sum((l + 1) ** 2 + l * l for l in range(L + 1)),
                z=(L + 1) + 2 * (Q - L - 1))


def multiply_adds(lmax, n_radial, channels):
    """Multiply-adds per edge of one pass (messages or VJP) in the edge-frame formulation.

    Per coefficient column (radius, channel): the Wigner blocks of D(S R), T_z, D_y(theta)
    within its sectors, Z(phi) with the weight (:func:`_step_multiply_adds`).  380 at L = 4.
    """
    s = _step_multiply_adds(lmax)
    return (s["rotation"] + s["tz"] + s["dy"] + s["z"]) * int(n_radial) * int(channels)


def translation_multiply_adds(lmax, n_radial, channels):
    """Multiply-adds per edge of one pass in the translation-only formulation
    (:func:`translation_frames`): per coefficient column Z(-phi), D_y(theta)^T within its
    sectors, T_z, D_y(theta), w Z(phi); 345 at L = 4."""
    s = _step_multiply_adds(lmax)
    return (2 * s["z"] + 2 * s["dy"] + s["tz"]) * int(n_radial) * int(channels)


def frame_floats(lmax, n_radial):
    """Floats of geometry per edge held by :class:`EdgeFrames` (615 at L = 4, P = 5)."""
    L = int(lmax)
    return (2 * sum((2 * l + 1) ** 2 for l in range(L + 1)) + 2 * (L + 1)
            + int(n_radial) * sum((L + 1 - m) ** 2 for m in range(L + 1)))


def block_offsets(lmax):
    """Offsets of the diagonal block of each degree in a packed (sum_l (2l+1)^2,) array."""
    return np.concatenate([[0], np.cumsum([(2 * l + 1) ** 2 for l in range(lmax + 1)])])


def _z_table_packed(lmax):
    """``T_z`` as ``sum_lam j_lam A[lam]`` per m >= 0, packed (host float64).

    Returns (ptr, lam, val, offsets): entry ``t`` of block m (``offsets[m] <= t <
    offsets[m+1]``, row-major over (l, l') with l, l' = m..L) is
    ``sum_(j = ptr[t]..ptr[t+1]-1) val[j] j_lam[j]``.  Checks that the blocks of m and -m
    agree (T_z commutes with rotations about z).
    """
    from .translation import z_translation_table
    A = z_translation_table(lmax)                                  # (2L+1, Q, Q)
    ptr, lam, val, offsets = [0], [], [], [0]
    for m in range(lmax + 1):
        for l in range(m, lmax + 1):
            for l2 in range(m, lmax + 1):
                a = A[:, l * l + l + m, l2 * l2 + l2 + m]
                b = A[:, l * l + l - m, l2 * l2 + l2 - m]
                if np.abs(a - b).max() > 1e-12:                    # pragma: no cover - identity
                    raise AssertionError("T_z differs between m and -m")
                nz = np.nonzero(np.abs(a) > 1e-14)[0]
                lam.extend(nz.tolist())
                val.extend(a[nz].tolist())
                ptr.append(len(lam))
        offsets.append(len(ptr) - 1)
    return (np.asarray(ptr, np.int64), np.asarray(lam, np.int64), np.asarray(val),
            np.asarray(offsets, np.int64))


def z_table(lmax):
    """:func:`_z_table_packed`, cached per lmax (host)."""
    return tuple(cached_table(f"z_translation_packed_{part}", lmax,
                              lambda part=part: _z_table_packed(lmax)[part], np, dtype)
                 for part, dtype in ((0, np.int64), (1, np.int64), (2, np.float64), (3, np.int64)))


def z_table_dense(lmax):
    """The packed T_z table as a dense (2L+1, n_tz) matrix: ``tz = jl @ table`` (host float64)."""
    def build():
        ptr, lam, val, offsets = z_table(lmax)
        dense = np.zeros((2 * lmax + 1, int(offsets[-1])))
        for t in range(int(offsets[-1])):
            for j in range(ptr[t], ptr[t + 1]):
                dense[lam[j], t] = val[j]
        return dense
    return cached_table("z_translation_dense", lmax, build)


def z_translation_entries(jl, lmax):
    """Entries of T_z, packed per m >= 0 (:func:`_z_table_packed`), from
    ``jl[..., lam] = j_lam(rho |t|)``: one GEMM, shape (..., n_tz) (array-agnostic)."""
    xp = get_array_module(jl)
    table = xp.asarray(z_table_dense(lmax), dtype=jl.dtype)
    return jl @ table


def z_translation_blocks(tz, lmax, m):
    """The block of order m of T_z from its packed entries ``tz`` (..., n_tz): shape
    (..., n, n), n = L + 1 - |m|, rows and columns the degrees |m|..L."""
    offsets = z_table(lmax)[3]
    am = abs(int(m))
    n = lmax + 1 - am
    return tz[..., offsets[am]:offsets[am + 1]].reshape(tz.shape[:-1] + (n, n))


@dataclass(eq=False)
class EdgeFrames:
    """Geometry of message passing along the unmasked edges, in the edge-frame factorisation.

    Edges are the unmasked slots (i, k) of nonzero weight in row-major order (sorted by
    receiver).

    Attributes
    ----------
    lmax, n_radial : int
    n_nodes, n_src : int
        Receivers N (rows of ``nbr_idx``) and sources (rows of the coefficients).
    recv, src : int arrays, shape (E,)
        Receiver i and source nbr_idx[i, k] of each edge.
    row_ptr : int array, shape (N + 1,)
        Edges of receiver i: ``row_ptr[i]:row_ptr[i+1]``.
    src_order, src_ptr : int arrays, shapes (E,), (n_src + 1,)
        Edges by source (the VJP): ``src_order[src_ptr[j]:src_ptr[j+1]]``, in receiver order.
    rot : array, shape (E, sum_l (2l+1)^2), or None
        Diagonal blocks of ``D(S R)`` (row-major per degree, packed).  None for
        translation-only frames (:func:`translation_frames`): the sources' coefficients are
        then in the receivers' axes already, and the first step is ``D_y(theta)^T Z(-phi)``.
    roty : array, same shape
        Diagonal blocks of ``D_y(theta)``.
    zcos, zsin : arrays, shape (E, L + 1)
        ``w cos(m phi)``, ``w sin(m phi)`` for m = 0..L (w the edge weight).
    tz : array, shape (E, P, n_tz)
        Entries of ``T_z(rho_p, |t|)``, the blocks of m = 0..L packed row-major
        (n_tz = sum_m (L+1-m)^2 = 55 at L = 4; the block of -m equals that of m).
    symmetric : bool
        Every edge j -> i has its reverse i -> j with the same weight (to 8 units in the
        last place of the frames' dtype), sources being the receivers: the VJP is then
        the messages of the cotangent (:func:`reverse_edges`).
    pair, flip, weight : arrays, shape (E,), or None
        Translation-only frames: the geometry of edge e is that of row ``pair[e]`` of
        ``roty``, ``ucos``, ``usin`` and ``tz`` (an edge and its reverse share one row:
        ``T(-t) = T(t)^T``, so a reverse edge, ``flip[e]``, applies the transposed T_z), and
        its weight is ``weight[e]``.
    ucos, usin : arrays, shape (n_pairs, L + 1), or None
        Translation-only frames: ``cos(m phi)``, ``sin(m phi)`` (unweighted).  Their
        ``zcos``, ``zsin`` are None.
    """

    lmax: int
    n_radial: int
    n_nodes: int
    n_src: int
    recv: object
    src: object
    row_ptr: object
    src_order: object
    src_ptr: object
    rot: object
    roty: object
    zcos: object
    zsin: object
    tz: object
    symmetric: bool = False
    ucos: object = None
    usin: object = None
    pair: object = None
    flip: object = None
    weight: object = None

    @property
    def n_edges(self):
        return int(self.recv.shape[0])

    @property
    def dtype(self):
        return self.roty.dtype

    def astype(self, dtype):
        """These frames with the floating arrays in ``dtype`` (self when already so)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        cast = {k: getattr(self, k).astype(dtype)
                for k in ("rot", "roty", "zcos", "zsin", "tz", "ucos", "usin", "weight")
                if getattr(self, k) is not None}
        return EdgeFrames(**{**self.__dict__, **cast})


def _packed_blocks(blocks, xp):
    E = blocks[0].shape[0]
    return xp.concatenate([b.reshape(E, b.shape[-1] * b.shape[-2]) for b in blocks], axis=1)


def _polar(t, xp):
    """|t|, theta, phi of vectors (E, 3) (0, 0, 0 for t = 0: S = identity)."""
    rxy = xp.sqrt(t[:, 0] ** 2 + t[:, 1] ** 2)
    d = xp.sqrt(rxy * rxy + t[:, 2] ** 2)
    return d, xp.arctan2(rxy, t[:, 2]), xp.arctan2(t[:, 1], t[:, 0])


def _frames_array(t, R, w, grid, lmax, dtype, xp):
    """Wigner blocks, weighted z-rotation factors and T_z entries of the edges (array path,
    float64 inside); ``R`` None: translation-only frames ``(roty, ucos, usin, tz)``, as
    :func:`_numba_zmessage.frames` gives them."""
    from .rotation import matrix_to_euler, wigner_blocks
    from .translation import rotation_to_z
    d, theta, phi = _polar(t, xp)
    zero = xp.zeros_like(theta)
    roty = _packed_blocks(wigner_blocks(lmax, zero, theta, zero), xp)
    mphi = phi[:, None] * xp.arange(lmax + 1, dtype=phi.dtype)
    ucos, usin = xp.cos(mphi), xp.sin(mphi)
    jl = spherical_jn(2 * lmax, d[:, None] * grid.points(xp, np.float64)[None, :])
    tz = z_translation_entries(jl, lmax)
    if R is None:
        parts = (roty, ucos, usin, tz)
    else:
        zcos, zsin = w[:, None] * ucos, w[:, None] * usin
        R1 = rotation_to_z(t) @ R                               # source frame -> edge frame
        a, b, g = matrix_to_euler(R1)
        rot = _packed_blocks(wigner_blocks(lmax, a, b, g), xp)
        parts = (rot, roty, zcos, zsin, tz)
    return tuple(x.astype(dtype, copy=False) for x in parts)


def edge_frames(R_ij, t_ij, grid, lmax, nbr_idx, nbr_mask, edge_weight=None, n_src=None):
    """Geometry of message passing in edge frames (computed once per structure).

    Parameters
    ----------
    R_ij : array, shape (N, K, 3, 3)
        Rotations from j's frame to i's frame.
    t_ij : array, shape (N, K, 3)
        Position of j's origin in i's frame.
    grid : RadialGrid
    lmax : int
    nbr_idx : int array, shape (N, K)
    nbr_mask : bool array, shape (N, K)
    edge_weight : float array, shape (N, K), optional
        Weight of each message (None: 1); geometry, no gradient.  Edges of
        weight 0 are left out.
    n_src : int, optional
        Number of source rows (default N).

    Returns
    -------
    EdgeFrames
        In the floating dtype of ``t_ij`` (float64 for integer input) and its
        array module; computed in float64.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    if getattr(t_ij, "ndim", 0) != 3 or t_ij.shape[-1] != 3:
        raise ValueError(f"t_ij must have shape (N, K, 3), got {getattr(t_ij, 'shape', None)}")
    if getattr(R_ij, "shape", None) != tuple(t_ij.shape[:-1]) + (3, 3):
        raise ValueError(f"R_ij must have shape {tuple(t_ij.shape[:-1]) + (3, 3)}, "
                         f"got {getattr(R_ij, 'shape', None)}")
    if tuple(nbr_idx.shape) != tuple(t_ij.shape[:2]):
        raise ValueError(f"nbr_idx {tuple(nbr_idx.shape)} does not match t_ij {tuple(t_ij.shape)}")
    from .translation import _as_lmax
    lmax = _as_lmax(lmax)
    xp = get_array_module(R_ij, t_ij, nbr_idx)
    t_ij = xp.asarray(t_ij)
    dtype = t_ij.dtype if t_ij.dtype.kind == "f" else np.dtype(np.float64)
    graph = _graph_edges(nbr_idx, nbr_mask, edge_weight, n_src, xp)
    flat = graph["flat"]
    t = t_ij.reshape(-1, 3)[flat].astype(np.float64)
    R = xp.asarray(R_ij).reshape(-1, 3, 3)[flat].astype(np.float64)
    if _numba_zmessage.applicable_frames(t):
        parts = _numba_zmessage.frames(t, R, graph["w"], grid, lmax, dtype)
    else:
        parts = _frames_array(t, R, graph["w"], grid, lmax, dtype, xp)
    return _edge_frames_of(graph, grid, lmax, dtype, *parts)


def translation_frames(origins, grid, lmax, nbr_idx, nbr_mask, edge_weight=None,
                       src_origins=None, dtype=None):
    """Geometry of message passing between nodes whose coefficients share one set of axes.

    The message of edge (i, k), source j = nbr_idx[i, k], is ``w T(o_j - o_i) H_j`` with
    ``T(t) = Z(phi) D_y(theta) T_z(|t|) D_y(theta)^T Z(-phi)`` ((theta, phi) the polar angles
    of t): no rotation between frames.  With node frames F (columns = local axes),
    ``T(t_ij) D(R_ij) = D(F_i^T) T(o_j - o_i) D(F_j)`` for ``R_ij = F_i^T F_j`` and
    ``t_ij = F_i^T (o_j - o_i)`` (equivariance of the translations), so the messages of
    :func:`edge_frames` are those of these frames between two per-node rotations
    (:func:`fourier6d.message_passing.node_message_passing`): per edge and column,
    45 + 85 + 85 + 85 + 45 = 345 multiply-adds at L = 4 instead of 380, and no Wigner
    blocks of a general rotation in the geometry (their evaluation was about a third of it).

    Parameters
    ----------
    origins : array, shape (N, 3)
        Receivers' positions o_i.
    grid : RadialGrid
    lmax : int
    nbr_idx : int array, shape (N, K)
        Source j of each slot (a row of ``src_origins``).
    nbr_mask : bool array, shape (N, K)
    edge_weight : float array, shape (N, K), optional
        As in :func:`edge_frames`.
    src_origins : array, shape (n_src, 3), optional
        Sources' positions (default ``origins``).
    dtype : dtype, optional
        Floating dtype of the frames (default: that of ``origins``, float64 for integers);
        computed in float64 whatever it is.

    Returns
    -------
    EdgeFrames
        With ``rot`` None.
    """
    if not isinstance(grid, RadialGrid):
        raise TypeError(f"grid must be a RadialGrid, got {type(grid).__name__}")
    from .translation import _as_lmax
    lmax = _as_lmax(lmax)
    xp = get_array_module(origins, nbr_idx)
    origins = xp.asarray(origins)
    same_origins = src_origins is None or src_origins is origins
    src_origins = origins if src_origins is None else xp.asarray(src_origins)
    for name, o in (("origins", origins), ("src_origins", src_origins)):
        if o.ndim != 2 or o.shape[1] != 3:
            raise ValueError(f"{name} must have shape (n, 3), got {tuple(o.shape)}")
        if not bool(xp.all(xp.isfinite(o))):
            raise ValueError(f"{name} must be finite")
    if tuple(nbr_idx.shape[:1]) != tuple(origins.shape[:1]):
        raise ValueError(f"nbr_idx {tuple(nbr_idx.shape)} does not match origins "
                         f"{tuple(origins.shape)}")
    if dtype is None:
        dtype = origins.dtype if origins.dtype.kind == "f" else np.dtype(np.float64)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    graph = _graph_edges(nbr_idx, nbr_mask, edge_weight, src_origins.shape[0], xp)
    recv, src, w = graph["recv"], graph["src"], graph["w"]
    N, n_src, E = graph["n_nodes"], graph["n_src"], int(recv.shape[0])
    # an edge and its reverse (t and -t) share one geometry row when both ends use one
    # origin table: T(-t) = T(t)^T
    rev = (reverse_edges(recv, src, xp.ones(E), N) if same_origins and n_src == N
           else None)
    if rev is None:
        canon = xp.arange(E, dtype=np.int64)
        pair, flip = canon, xp.zeros(E, dtype=bool)
    else:
        canonical = xp.arange(E) <= rev
        canon = xp.nonzero(canonical)[0].astype(np.int64)
        ids = xp.cumsum(canonical).astype(np.int64) - 1
        pair = xp.where(canonical, ids, ids[rev])
        flip = ~canonical
    t = (src_origins[src[canon]].astype(np.float64)
         - origins[recv[canon]].astype(np.float64))
    if _numba_zmessage.applicable_frames(t):
        roty, ucos, usin, tz = _numba_zmessage.frames(t, None, None, grid, lmax, dtype)
    else:
        roty, ucos, usin, tz = _frames_array(t, None, None, grid, lmax, dtype, xp)
    symmetric = rev is not None and _reverse_weights_equal(w, rev, 8 * np.finfo(dtype).eps)
    return EdgeFrames(lmax, grid.n_radial, N, n_src, recv, src, graph["row_ptr"],
                      graph["src_order"], graph["src_ptr"], None, roty, None, None, tz,
                      symmetric=symmetric, ucos=ucos, usin=usin, pair=pair, flip=flip,
                      weight=w.astype(dtype))


def _graph_edges(nbr_idx, nbr_mask, edge_weight, n_src, xp):
    """The unmasked edges of nonzero weight of a padded neighbour list, in row-major order,
    with their CSR indices by receiver and by source (dict)."""
    from .message_passing import _check_graph, _edge_weight
    N, K = nbr_idx.shape
    n_src = N if n_src is None else int(n_src)
    idx = _check_graph(nbr_idx, nbr_mask, n_src)
    mask = xp.asarray(nbr_mask)
    weight = _edge_weight(edge_weight, mask, np.float64, xp)
    if weight is not None:
        # edges of weight 0 (e.g. at a smooth cut-off) carry nothing: not edges at all
        mask = mask & (weight != 0)
    flat = xp.nonzero(mask.reshape(-1))[0]
    recv = (flat // K).astype(np.int64)
    src = idx.reshape(-1)[flat].astype(np.int64)
    counts = xp.sum(mask, axis=1)
    row_ptr = xp.concatenate([xp.zeros(1, np.int64), xp.cumsum(counts).astype(np.int64)])
    src_order = xp.argsort(src, kind="stable").astype(np.int64)
    src_ptr = xp.concatenate([xp.zeros(1, np.int64),
                              xp.cumsum(xp.bincount(src, minlength=n_src)).astype(np.int64)])
    w = xp.ones(flat.shape[0]) if weight is None else weight.reshape(-1)[flat]
    return dict(flat=flat, recv=recv, src=src, row_ptr=row_ptr, src_order=src_order,
                src_ptr=src_ptr, w=w, n_nodes=N, n_src=n_src)


def _edge_frames_of(graph, grid, lmax, dtype, rot, roty, zcos, zsin, tz):
    N, n_src = graph["n_nodes"], graph["n_src"]
    symmetric = (n_src == N
                 and reverse_edges(graph["recv"], graph["src"], graph["w"], N,
                                   tol=8 * np.finfo(dtype).eps) is not None)
    return EdgeFrames(lmax, grid.n_radial, N, n_src, graph["recv"], graph["src"],
                      graph["row_ptr"], graph["src_order"], graph["src_ptr"], rot, roty, zcos,
                      zsin, tz, symmetric=symmetric)


def reverse_edges(recv, src, w, n_nodes, tol=0.0):
    """The reverse of each edge of a symmetric graph, or None when the graph is not symmetric.

    A graph whose edge j -> i (``src`` j, ``recv`` i, weight ``w``) always comes with
    i -> j of the same weight (relative to the largest, within ``tol``), and no edge twice,
    is symmetric.  Then its message passing is its own adjoint: with ``R_ji = R_ij^T``
    and ``t_ji = -R_ji t_ij``, ``(T(t_ij) D(R_ij))^T = D(R_ji) T(-t_ij) = T(t_ji) D(R_ji)``
    (translations are unitary, ``T(-t) = T(t)^T`` in the real truncated basis, and
    ``D(R)^T = D(R^T)``), so the VJP of the messages is the messages of the cotangent,
    per receiver in slot order -- no scatter over sources.

    Returns
    -------
    int array, shape (E,), or None
        ``rev[e]``: the edge with ``recv`` and ``src`` of e swapped.
    """
    xp = get_array_module(recv, src)
    n = int(n_nodes)
    key = recv * n + src
    order = xp.argsort(key)
    sorted_key = key[order]
    if sorted_key.shape[0] > 1 and not bool(xp.all(sorted_key[1:] > sorted_key[:-1])):
        return None                                              # an edge listed twice
    rkey = src * n + recv
    pos = xp.minimum(xp.searchsorted(sorted_key, rkey), max(sorted_key.shape[0] - 1, 0))
    if sorted_key.shape[0] and not bool(xp.all(sorted_key[pos] == rkey)):
        return None
    rev = order[pos]
    return rev if _reverse_weights_equal(w, rev, tol) else None


def _reverse_weights_equal(w, rev, tol):
    """Every edge's weight equals its reverse's (``rev``), relative to the largest, within
    ``tol``."""
    xp = get_array_module(w)
    w = xp.asarray(w)
    if not w.shape[0]:
        return True
    return float(xp.abs(w[rev] - w).max()) <= tol * float(xp.abs(w).max())


# ----------------------------------------------------------------------------- array path

def _apply_blocks(packed, X, lmax, transpose=False):
    """Per degree ``B_l X_l`` (``B_l^T`` when ``transpose``): packed (e, S), X (e, P, Q, C)."""
    xp = get_array_module(packed, X)
    off = block_offsets(lmax)
    outs = []
    for l in range(lmax + 1):
        n = 2 * l + 1
        B = packed[:, off[l]:off[l + 1]].reshape(-1, 1, n, n)
        if transpose:
            B = xp.swapaxes(B, -1, -2)
        outs.append(xp.matmul(B, X[:, :, l * l:(l + 1) ** 2]))
    return xp.concatenate(outs, axis=2)


def _apply_tz(tz, X, lmax, transpose=False):
    """Per m, ``T_z`` (its transpose) on the rows (l, m), l >= |m|: tz (e, P, n_tz)."""
    xp = get_array_module(tz, X)
    out = xp.empty_like(X)
    for m in range(-lmax, lmax + 1):
        rows = xp.asarray([l * l + l + m for l in range(abs(m), lmax + 1)])
        T = z_translation_blocks(tz, lmax, m)                     # (e, P, n, n)
        if transpose:
            T = xp.swapaxes(T, -1, -2)
        out[:, :, rows] = xp.matmul(T, X[:, :, rows])
    return out


def _apply_z(zcos, zsin, X, lmax, transpose=False):
    """``Z(phi)`` times the weight (``Z(-phi)`` when ``transpose``) on (e, P, Q, C)."""
    xp = get_array_module(zcos, X)
    q = np.arange(n_coef(lmax))
    l = np.floor(np.sqrt(q)).astype(int)
    m = q - l * l - l
    partner = xp.asarray(l * l + l - m)
    am = xp.asarray(np.abs(m))
    c = zcos[:, am]                                                  # (e, Q)
    s = zsin[:, am] * xp.asarray(np.sign(m), dtype=zsin.dtype)
    if transpose:
        s = -s
    return c[:, None, :, None] * X - s[:, None, :, None] * X[:, :, partner]


def _edge_chunks(frames, per_edge):
    step = max(1, CHUNK_ELEMENTS // max(int(per_edge), 1))
    E = frames.n_edges
    return [slice(s, min(s + step, E)) for s in range(0, E, step)]


def _tz_transpose_index(lmax, xp=np):
    """Permutation of the packed T_z entries (:func:`_z_table_packed`) that transposes every
    block (cached per lmax and device)."""
    def build():
        offsets = z_table(lmax)[3]
        perm = []
        for am in range(lmax + 1):
            n = lmax + 1 - am
            perm += [offsets[am] + b * n + a for a in range(n) for b in range(n)]
        return np.asarray(perm, dtype=np.int64)
    return cached_table("z_translation_transpose", lmax, build, xp, np.int64)


def _translation_steps(fr, c, X, L, transpose):
    """``w T(t) X`` on the edges ``c`` of translation-only frames (``T(t)^T`` when
    ``transpose``): Z(-phi), D_y^T, T_z (T_z^T on reverse edges), D_y, w Z(phi)."""
    xp = get_array_module(X)
    g = fr.pair[c]
    ucos, usin, roty = fr.ucos[g], fr.usin[g], fr.roty[g]
    tz = fr.tz[g]
    flip = fr.flip[c] != transpose
    if bool(xp.any(flip)):
        tz = xp.where(flip[:, None, None], tz[..., _tz_transpose_index(L, xp)], tz)
    X = _apply_z(ucos, usin, X, L, transpose=True)
    X = _apply_blocks(roty, X, L, transpose=True)
    X = _apply_tz(tz, X, L)
    X = _apply_blocks(roty, X, L)
    w = fr.weight[c][:, None]
    return _apply_z(w * ucos, w * usin, X, L)


def _forward_array(coeffs, fr):
    xp = get_array_module(coeffs, fr.roty)
    n_src, P, Q, C = coeffs.shape
    L = fr.lmax
    out = xp.zeros((fr.n_nodes, P * Q * C), dtype=coeffs.dtype)
    for c in _edge_chunks(fr, P * Q * C):
        X = xp.take(coeffs, fr.src[c], axis=0)
        if fr.rot is None:
            X = _translation_steps(fr, c, X, L, False)
        else:
            X = _apply_blocks(fr.rot[c], X, L)
            X = _apply_tz(fr.tz[c], X, L)
            X = _apply_blocks(fr.roty[c], X, L)
            X = _apply_z(fr.zcos[c], fr.zsin[c], X, L)
        # receivers of a chunk are consecutive: one ordered sum per chunk
        r = fr.recv[c]
        r0 = int(r[0])
        part = sum_rows_by_index(X.reshape(X.shape[0], -1), r - r0, int(r[-1]) - r0 + 1)
        out[r0:r0 + part.shape[0]] += part
    return out.reshape(fr.n_nodes, P, Q, C)


def _vjp_array(g, fr, shape, dtype):
    xp = get_array_module(g, fr.roty)
    n_src, P, Q, C = shape
    L = fr.lmax
    grad = xp.zeros((n_src, P * Q * C), dtype=dtype)
    for c in _edge_chunks(fr, P * Q * C):
        X = xp.take(g, fr.recv[c], axis=0)
        if fr.rot is None:
            # T(t)^T: the same steps with T_z transposed
            X = _translation_steps(fr, c, X, L, True)
        else:
            X = _apply_z(fr.zcos[c], fr.zsin[c], X, L, transpose=True)
            X = _apply_blocks(fr.roty[c], X, L, transpose=True)
            X = _apply_tz(fr.tz[c], X, L, transpose=True)
            X = _apply_blocks(fr.rot[c], X, L, transpose=True)
        scatter_add_rows(grad, fr.src[c], X.reshape(X.shape[0], -1))
    return grad.reshape(shape)


# ----------------------------------------------------------------------------- primitive

def _use_kernels(coeffs, fr):
    return _numba_zmessage.applicable(coeffs, fr)


def _forward(coeffs, fr):
    """The messages of ``coeffs``: the Numba kernels where they apply, else the array path."""
    if _use_kernels(coeffs, fr):
        return _numba_zmessage.forward(coeffs, fr)
    return _forward_array(coeffs, fr)


@primitive
def _z_messages(coeffs, fr):
    return _forward(coeffs, fr)


def _z_messages_vjp(ans, coeffs, fr):
    shape, dtype = coeffs.shape, coeffs.dtype

    def vjp(g):
        xp = get_array_module(g)
        g = xp.ascontiguousarray(g, dtype=dtype)
        if fr.symmetric:
            # a symmetric graph's message passing is its own adjoint (reverse_edges): the
            # receivers' ordered sums, no scatter over sources
            return _forward(g, fr)
        if _use_kernels(g, fr):
            return _numba_zmessage.vjp(g, fr, shape)
        return _vjp_array(g, fr, shape, dtype)
    return vjp


defvjp(_z_messages, _z_messages_vjp)


def pass_messages_z(coeffs, frames):
    """Messages ``m_i = sum_k mask[i,k] w[i,k] T_ik G_{nbr_idx[i,k]}`` through edge frames.

    Parameters
    ----------
    coeffs : array, shape (N_src, n_radial, Q, C)
        Coefficients of every residue in its own frame.
    frames : EdgeFrames
        From :func:`edge_frames` (same lmax, radial grid and source count).

    Returns
    -------
    array, shape (N, n_radial, Q, C)
        In the dtype of ``coeffs`` (the geometry is cast to it); differentiable
        (autograd primitive) w.r.t. ``coeffs``.
    """
    if not isinstance(frames, EdgeFrames):
        raise TypeError(f"frames must be EdgeFrames, got {type(frames).__name__}")
    cshape = getattr(coeffs, "shape", None)
    if cshape is None or len(cshape) != 4:
        raise ValueError(f"coeffs must have shape (N, n_radial, Q, C), got {cshape}")
    if (cshape[0] != frames.n_src or cshape[1] != frames.n_radial
            or lmax_of(cshape[2]) != frames.lmax):
        raise ValueError(f"coeffs {tuple(cshape)} do not match the edge frames (sources "
                         f"{frames.n_src}, {frames.n_radial} radial points, lmax {frames.lmax})")
    dtype = np.dtype(getattr(getattr(coeffs, "_value", coeffs), "dtype"))
    if dtype.kind != "f":
        raise TypeError(f"coeffs must be a real floating array, got dtype {dtype}")
    return _z_messages(coeffs, frames.astype(dtype))
