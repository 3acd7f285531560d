"""Numba CPU kernels of :mod:`fourier6d.zmessage` (message passing through edge frames).

One job: for NumPy inputs, the edge-frame geometry (:func:`frames`) and the
messages and their VJP (:func:`forward`, :func:`vjp`), edge by edge in cache:

* geometry: per block of ``BLOCK`` edges, edges in the vector lanes, the
  Wigner blocks of ``D(S R)`` (:func:`fourier6d._numba_wigner._wigner_lanes`),
  those of ``D_y(theta) = J Z(theta) J^T`` within its sectors
  (:func:`_wigner_y_lanes`, half the work), ``w cos(m phi)``, ``w sin(m phi)``
  by angle addition, ``j_lam(rho_p |t|)``
  (:func:`fourier6d._numba_kernels._jn_block`) and from them the entries of
  T_z; all in float64, written packed in the output dtype into one recycled
  buffer;
* forward: per receiver, per incoming edge (slot order), the source's
  coefficients (transposed once per call to rows of P C values, channels padded
  to a multiple of 8, so that every step is a loop over P C contiguous values
  without a scalar remainder) go through the four steps of
  :mod:`fourier6d.zmessage` in two (Q, P C) scratch arrays and are added to the
  receiver's sum, which is written once;
* VJP: per source, per outgoing edge (receiver order), the receiver's cotangent
  goes through the transposed steps and is added to the source's gradient;
* translation-only frames (:func:`fourier6d.zmessage.translation_frames`, the networks'
  path): up to L = 4 the unrolled kernels of :mod:`fourier6d._numba_translate` on blocks
  of 16 lanes (:func:`_blocks`; every coefficient of a lane in a register through the five
  steps), beyond it the row kernel :func:`_translate_range`.

Each receiver (source) is handled by one thread, its edges in a fixed order,
so results do not depend on the threads' timing nor on their number.
Receivers (sources) are split into ranges of about equal edge counts,
``RANGES_PER_THREAD`` per thread of the nogil pool of
:mod:`fourier6d._numba_kernels`, which the threads take in turn.  Accumulation in the coefficients' dtype, as in
the array path (the reference, and CuPy's path); tests check both agree.

Numba is optional: :data:`AVAILABLE` is False when it cannot be imported or
``FOURIER6D_DISABLE_NUMBA=1`` is set.
"""
from __future__ import annotations

import numpy as np

from ._numba_kernels import AVAILABLE, BLOCK, numba, _run_ranges, _split, default_threads

__all__ = ["AVAILABLE", "applicable", "applicable_frames", "frames", "forward", "vjp"]

#: Edges per thread below which the kernels run in the calling thread only.
EDGES_PER_THREAD = 256


def applicable_frames(t):
    """True when :func:`frames` handles these edges (NumPy float64 (E, 3))."""
    return AVAILABLE and type(t) is np.ndarray and t.ndim == 2 and t.dtype == np.float64


def applicable(coeffs, fr):
    """True when :func:`forward` / :func:`vjp` handle ``coeffs`` with frames ``fr``."""
    return (AVAILABLE and type(coeffs) is np.ndarray and type(fr.roty) is np.ndarray
            and coeffs.ndim == 4 and coeffs.dtype in (np.float32, np.float64)
            and fr.roty.dtype == coeffs.dtype)


if AVAILABLE:
    from ._numba_kernels import _jn_block, _series_table
    from ._numba_wigner import _lane_scratch, _trig_lanes, _wigner_lanes

    _jit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")
    # the message kernels: multiply-adds may be fused (FMA; deterministic, within rounding
    # of the array path)
    _jit_fma = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")

    @_jit
    def _wigner_y_lanes(nb, ct, st, J, lmax, B, Dy):
        """Diagonal blocks of D(Ry(theta)) = J Z(theta) J^T per lane (``ct``, ``st`` from
        :func:`_trig_lanes` of theta), packed as the frames hold them (row ``off_l + a n + k``
        of ``Dy`` (S, BLOCK) for entry (a, k) of degree l's block): only the entries within
        the m >= 0 and the m < 0 harmonics are written (the others are zero and left as they
        are)."""
        for v in range(nb):
            Dy[0, v] = 1.0
        off = 1
        for l in range(1, lmax + 1):
            n = 2 * l + 1
            # B = Z(theta) J^T: B[i, k] = cos(m x) J[k, i] - sign(m) sin(|m| x) J[k, n-1-i]
            for i in range(n):
                m = abs(i - l)
                sgn = -1.0 if i - l > 0 else 1.0
                c = ct[m]
                sn = st[m]
                for k in range(n):
                    j1 = J[l, k, i]
                    j2 = J[l, k, n - 1 - i] * sgn
                    b = B[i, k]
                    for u in range(nb):
                        b[u] = j1 * c[u] + j2 * sn[u]
            # D = J B within the sectors (J's zeros skipped)
            for a in range(n):
                k0, k1 = (l, n) if a >= l else (0, l)
                for k in range(k0, k1):
                    d = Dy[off + a * n + k]
                    for u in range(nb):
                        d[u] = 0.0
                    for j in range(n):
                        w = J[l, a, j]
                        if w != 0.0:
                            b = B[j, k]
                            for u in range(nb):
                                d[u] += w * b[u]
            off += n * n

    @_jit
    def _frames_range(e0, e1, alpha, beta, gamma, theta, d, phi, w, J, lmax, rho, ztab,
                      rot, roty, zcos, zsin, tz, general, ucos, usin):
        """Geometry of edges e0 <= e < e1 (see :func:`frames`); without ``general`` no
        D(S R) (``rot`` unused) and the unweighted cos/sin(m phi) in ``ucos``, ``usin``."""
        Q = (lmax + 1) * (lmax + 1)
        P = rho.shape[0]
        L2 = 2 * lmax
        trig, A, B, C, Dt = _lane_scratch(lmax, rot)
        S = roty.shape[1]
        Dy = np.zeros((S, BLOCK), dtype=roty.dtype)     # D_y packed; zeros across sectors
        nk = P * BLOCK
        x = np.empty(nk)
        sn = np.empty(nk)
        cs = np.empty(nk)
        jlb = np.empty((L2 + 1, nk))
        sel = np.empty(nk, dtype=np.int64)
        xc = np.empty(nk)
        xinv = np.empty(nk)
        w0 = np.empty(nk)
        w1 = np.empty(nk)
        w2 = np.empty(nk)
        w3 = np.empty((L2 + 1) * nk)
        ser = _series_table(L2)
        n_tz = ztab.shape[1]
        tzb = np.empty((n_tz, nk))
        for b0 in range(e0, e1, BLOCK):
            nb = min(BLOCK, e1 - b0)
            if general:
                _wigner_lanes(b0, nb, alpha, beta, gamma, J, lmax, trig, A, B, C, Dt)
                for v in range(nb):
                    o = rot[b0 + v]
                    off = 0
                    for l in range(lmax + 1):
                        s = l * l
                        n = 2 * l + 1
                        for a in range(n):
                            for b in range(n):
                                o[off + a * n + b] = Dt[(s + a) * Q + s + b, v]
                        off += n * n
            # D_y(theta), packed (the entries across the sectors stay zero in Dy): instead of
            # zeroing a (Q^2, BLOCK) scratch per block and gathering the blocks from it,
            # 35,317 edges at L = 4, one thread, 34-36 -> 30-32 ms, the same values
            _trig_lanes(b0, nb, theta, lmax, trig[0], trig[1])
            _wigner_y_lanes(nb, trig[0], trig[1], J, lmax, B, Dy)
            for v in range(nb):
                o = roty[b0 + v]
                for k in range(S):
                    o[k] = Dy[k, v]
            _trig_lanes(b0, nb, phi, lmax, trig[0], trig[1])
            for v in range(nb):
                e = b0 + v
                for m in range(lmax + 1):
                    if general:
                        zcos[e, m] = w[e] * trig[0, m, v]
                        zsin[e, m] = w[e] * trig[1, m, v]
                    else:
                        ucos[e, m] = trig[0, m, v]
                        usin[e, m] = trig[1, m, v]
            nkb = P * nb
            for p in range(P):
                for v in range(nb):
                    xv = rho[p] * d[b0 + v]
                    x[p * nb + v] = xv
                    sn[p * nb + v] = np.sin(xv)
                    cs[p * nb + v] = np.cos(xv)
            _jn_block(L2, nkb, x, sn, cs, jlb, sel, xc, xinv, w0, w1, w2, w3, ser)
            # T_z entries: tz[t] = sum_lam ztab[lam, t] j_lam, the block's radii and edges in
            # the lanes
            for t in range(n_tz):
                row = tzb[t]
                for k in range(nkb):
                    row[k] = 0.0
                for lam in range(L2 + 1):
                    c = ztab[lam, t]
                    if c != 0.0:
                        jr = jlb[lam]
                        for k in range(nkb):
                            row[k] += c * jr[k]
            for v in range(nb):
                for p in range(P):
                    dst = tz[b0 + v, p]
                    for t in range(n_tz):
                        dst[t] = tzb[t, p * nb + v]

    _inline = numba.njit(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy",
                         inline="always")

    @_inline
    def _rotate_rows(Rb, X, Y, lmax, transpose, sectors, accumulate):
        """Y = B X per degree (B^T when ``transpose``; Y += B X when ``accumulate``), B the
        packed diagonal blocks ``Rb``; ``sectors``: only within the m >= 0 and the m < 0
        harmonics (D_y).  Two output rows per pass over three input rows (each input load
        serves two multiply-adds), b increasing (the same sum as one row at a time)."""
        PC = X.shape[1]
        off = 0
        for l in range(lmax + 1):
            s = l * l
            n = 2 * l + 1
            a = 0
            while a < n:
                b0, b1 = 0, n
                if sectors:
                    b0, b1 = (l, n) if a >= l else (0, l)
                # a pair of rows with the same column range (sectors: not across m = 0)
                pair = a + 1 < n and (not sectors or (a + 1 >= l) == (a >= l))
                y = Y[s + a]
                if pair:
                    z = Y[s + a + 1]
                    if not accumulate:
                        for v in range(PC):
                            y[v] = 0.0
                            z[v] = 0.0
                    b = b0
                    while b + 3 <= b1:
                        if transpose:
                            c0 = Rb[off + b * n + a]
                            c1 = Rb[off + (b + 1) * n + a]
                            c2 = Rb[off + (b + 2) * n + a]
                            d0 = Rb[off + b * n + a + 1]
                            d1 = Rb[off + (b + 1) * n + a + 1]
                            d2 = Rb[off + (b + 2) * n + a + 1]
                        else:
                            c0 = Rb[off + a * n + b]
                            c1 = Rb[off + a * n + b + 1]
                            c2 = Rb[off + a * n + b + 2]
                            d0 = Rb[off + (a + 1) * n + b]
                            d1 = Rb[off + (a + 1) * n + b + 1]
                            d2 = Rb[off + (a + 1) * n + b + 2]
                        x0 = X[s + b]
                        x1 = X[s + b + 1]
                        x2 = X[s + b + 2]
                        for v in range(PC):
                            u0 = x0[v]
                            u1 = x1[v]
                            u2 = x2[v]
                            y[v] = y[v] + c0 * u0 + c1 * u1 + c2 * u2
                            z[v] = z[v] + d0 * u0 + d1 * u1 + d2 * u2
                        b += 3
                    while b < b1:
                        if transpose:
                            c0 = Rb[off + b * n + a]
                            d0 = Rb[off + b * n + a + 1]
                        else:
                            c0 = Rb[off + a * n + b]
                            d0 = Rb[off + (a + 1) * n + b]
                        x0 = X[s + b]
                        for v in range(PC):
                            u0 = x0[v]
                            y[v] = y[v] + c0 * u0
                            z[v] = z[v] + d0 * u0
                        b += 1
                    a += 2
                    continue
                if not accumulate:
                    for v in range(PC):
                        y[v] = 0.0
                b = b0
                while b + 3 <= b1:
                    if transpose:
                        c0 = Rb[off + b * n + a]
                        c1 = Rb[off + (b + 1) * n + a]
                        c2 = Rb[off + (b + 2) * n + a]
                    else:
                        c0 = Rb[off + a * n + b]
                        c1 = Rb[off + a * n + b + 1]
                        c2 = Rb[off + a * n + b + 2]
                    x0 = X[s + b]
                    x1 = X[s + b + 1]
                    x2 = X[s + b + 2]
                    for v in range(PC):
                        y[v] = y[v] + c0 * x0[v] + c1 * x1[v] + c2 * x2[v]
                    b += 3
                while b < b1:
                    c0 = Rb[off + b * n + a] if transpose else Rb[off + a * n + b]
                    x0 = X[s + b]
                    for v in range(PC):
                        y[v] = y[v] + c0 * x0[v]
                    b += 1
                a += 1
            off += n * n

    @_inline
    def _z_rows(zc, zs, scale, back, Y, out, lmax, accumulate):
        """out = scale Z(phi) Y (``back``: scale Z(-phi) Y; ``accumulate``: out += ...) per
        degree, ``zc[m]``, ``zs[m]`` cos/sin(m phi): [Z v]_m = cos(m phi) v_m - sin(m phi) v_-m,
        [Z^T v]_m = cos(m phi) v_m + sin(m phi) v_-m, the rows m and -m in one pass (each
        input load serves two outputs; one row at a time did not vectorise: 5x slower)."""
        PC = Y.shape[1]
        for l in range(lmax + 1):
            c0 = l * l + l
            o0 = out[c0]
            y0 = Y[c0]
            c = scale * zc[0]
            if accumulate:
                for v in range(PC):
                    o0[v] += c * y0[v]
            else:
                for v in range(PC):
                    o0[v] = c * y0[v]
            for am in range(1, l + 1):
                c = scale * zc[am]
                sg = scale * zs[am] if back else -scale * zs[am]
                op = out[c0 + am]
                on = out[c0 - am]
                yp = Y[c0 + am]
                yn = Y[c0 - am]
                if accumulate:
                    for v in range(PC):
                        u = yp[v]
                        t = yn[v]
                        op[v] += c * u + sg * t
                        on[v] += c * t - sg * u
                else:
                    for v in range(PC):
                        u = yp[v]
                        t = yn[v]
                        op[v] = c * u + sg * t
                        on[v] = c * t - sg * u

    @_inline
    def _scratch(Q, PC, lmax, dt):
        """Per-thread rows: two work arrays, the accumulator and the spread T_z entries."""
        return (np.empty((Q, PC), dtype=dt), np.empty((Q, PC), dtype=dt),
                np.empty((Q, PC), dtype=dt), np.empty(((lmax + 1) * (lmax + 1), PC), dtype=dt))

    @_inline
    def _store(acc, o, P, Cp, C):
        """o (P, Q, C) = the accumulator's rows (Q, P Cp) without the channel padding."""
        for p in range(P):
            for q in range(acc.shape[0]):
                oq = o[p, q]
                a = acc[q]
                for c in range(C):
                    oq[c] = a[p * Cp + c]

    @_inline
    def _translate_z(tze, toff, X, Y, lmax, Cp, transpose, texp):
        """Y = T_z X per m (T_z^T when ``transpose``), all radii at once; rows (Q, P Cp).

        The entries ``tze[p, t]`` of the block of |m| are first spread over the rows'
        radii, ``texp[t', p Cp + c]`` (one block at a time: a scratch of at most (L+1)^2
        rows stays in L1 cache next to X and Y), and used for m and -m."""
        PC = X.shape[1]
        P = tze.shape[0]
        for am in range(lmax + 1):
            nl = lmax + 1 - am
            base = toff[am]
            for t in range(nl * nl):
                row = texp[t]
                if Cp == 16:
                    # constant trip count: two vector stores per radius (measured 2.5x faster)
                    for p in range(P):
                        c = tze[p, base + t]
                        b = p * 16
                        for u in range(16):
                            row[b + u] = c
                else:
                    for p in range(P):
                        c = tze[p, base + t]
                        for u in range(p * Cp, (p + 1) * Cp):
                            row[u] = c
            for sgn in range(2):
                if am == 0 and sgn == 1:
                    break
                m = am if sgn == 0 else -am
                for li in range(nl):
                    l = am + li
                    y = Y[l * l + l + m]
                    for v in range(PC):
                        y[v] = 0.0
                    for lj in range(nl):
                        l2 = am + lj
                        c = texp[lj * nl + li] if transpose else texp[li * nl + lj]
                        xr = X[l2 * l2 + l2 + m]
                        for v in range(PC):
                            y[v] += c[v] * xr[v]

    @_jit_fma
    def _forward_range(i0, i1, src, row_ptr, esrc, rot, roty, zcos, zsin, tz, toff, lmax, out):
        """out[i] = sum over the edges of receiver i, i0 <= i < i1 (src: (n_src, Q, P C);
        out: (N, P, Q, C))."""
        N, P, Q, C = out.shape
        PC = src.shape[2]
        Cp = PC // P
        X, Y, acc, texp = _scratch(Q, PC, lmax, out.dtype)
        for i in range(i0, i1):
            acc[:, :] = 0.0
            for e in range(row_ptr[i], row_ptr[i + 1]):
                _rotate_rows(rot[e], src[esrc[e]], Y, lmax, False, False, False)
                _translate_z(tz[e], toff, Y, X, lmax, Cp, False, texp)
                _rotate_rows(roty[e], X, Y, lmax, False, True, False)
                _z_rows(zcos[e], zsin[e], 1.0, False, Y, acc, lmax, True)      # w Z(phi) Y
            _store(acc, out[i], P, Cp, C)

    @_jit_fma
    def _translate_range(i0, i1, src, ptr, order, ordered, other, pair, flip, w, roty, ucos,
                         usin, tz, toff, lmax, transpose, out):
        """Translation-only frames: out[i] = sum over the edges e of row i (``ptr``; edge
        ``order[k]`` unless ``ordered``) of ``w[e] T(t_e) src[other[e]]``, i0 <= i < i1, with
        T(t) = Z(phi) D_y T_z D_y^T Z(-phi) from the geometry of pair k = ``pair[e]``; T_z^T
        when ``flip[e]`` differs from ``transpose`` (a reverse edge, t = -t_k:
        T(-t) = T(t)^T; or the VJP over sources).  src: (n, Q, P C); out: (rows, P, Q, C)."""
        N, P, Q, C = out.shape
        PC = src.shape[2]
        Cp = PC // P
        X, Y, acc, texp = _scratch(Q, PC, lmax, out.dtype)
        for i in range(i0, i1):
            acc[:, :] = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                e = k if ordered else order[k]
                g = pair[e]
                _z_rows(ucos[g], usin[g], 1.0, True, src[other[e]], X, lmax, False)
                _rotate_rows(roty[g], X, Y, lmax, True, True, False)
                _translate_z(tz[g], toff, Y, X, lmax, Cp, flip[e] != transpose, texp)
                _rotate_rows(roty[g], X, Y, lmax, False, True, False)
                _z_rows(ucos[g], usin[g], w[e], False, Y, acc, lmax, True)    # w Z(phi) Y
            _store(acc, out[i], P, Cp, C)

    @_jit_fma
    def _vjp_range(j0, j1, gt, src_ptr, src_order, erecv, rot, roty, zcos, zsin, tz, toff, lmax,
                   grad):
        """grad[j] = sum over the edges leaving source j of the transposed steps applied to
        the receiver's cotangent, j0 <= j < j1 (gt: (N, Q, P C); grad: (n_src, P, Q, C))."""
        n_src, P, Q, C = grad.shape
        PC = gt.shape[2]
        Cp = PC // P
        X, Y, acc, texp = _scratch(Q, PC, lmax, grad.dtype)
        for j in range(j0, j1):
            acc[:, :] = 0.0
            for idx in range(src_ptr[j], src_ptr[j + 1]):
                e = src_order[idx]
                # X = w Z(-phi) g
                _z_rows(zcos[e], zsin[e], 1.0, True, gt[erecv[e]], X, lmax, False)
                _rotate_rows(roty[e], X, Y, lmax, True, True, False)
                _translate_z(tz[e], toff, Y, X, lmax, Cp, True, texp)
                _rotate_rows(rot[e], X, acc, lmax, True, False, True)
            _store(acc, grad[j], P, Cp, C)


#: Edge frames of at least this many bytes live in recycled memory (:func:`_outputs`).
RECYCLE_BYTES = 8 << 20


def _outputs(shapes, dtype):
    """Uninitialised arrays of ``shapes`` carved from one buffer (64-byte aligned parts).

    Large geometry (170 MB for a 16-model batch) would land on fresh pages at every
    call, whose first touch is slow on the project's VM (0.1-5 s per GB); the buffer is
    reused once no array of an earlier call is alive (two tracked: the frames of two
    message-passing steps of one forward pass live together until the backward pass).
    """
    from ._backend import recycled_buffer
    dtype = np.dtype(dtype)
    sizes = [int(np.prod(s)) * dtype.itemsize for s in shapes]
    starts = np.concatenate([[0], np.cumsum([-(-n // 64) * 64 for n in sizes])])
    total = int(starts[-1])
    if total < RECYCLE_BYTES:
        return tuple(np.empty(s, dtype=dtype) for s in shapes)
    raw, _ = recycled_buffer(total + 64, "edge_frames", buffers=2)
    base = (-raw.__array_interface__["data"][0]) % 64
    return tuple(raw[base + a:base + a + n].view(dtype).reshape(s)
                 for a, n, s in zip(starts[:-1].astype(int), sizes, shapes))


def frames(t, R, w, grid, lmax, dtype):
    """Edge-frame geometry of edges (float64 ``t`` (E, 3), ``R`` (E, 3, 3), weights ``w`` (E,)):
    ``(rot, roty, zcos, zsin, tz)`` as :class:`fourier6d.zmessage.EdgeFrames` holds them.

    ``R`` None: translation-only frames, ``(roty, ucos, usin, tz)`` (no D(S R); ``ucos``,
    ``usin`` the unweighted cos/sin(m phi); ``w`` unused)."""
    from ._numba_wigner import _swap_tables
    from .rotation import matrix_to_euler
    from .translation import rotation_to_z
    from .zmessage import block_offsets
    E = t.shape[0]
    rxy = np.sqrt(t[:, 0] ** 2 + t[:, 1] ** 2)
    d = np.sqrt(rxy * rxy + t[:, 2] ** 2)
    theta = np.arctan2(rxy, t[:, 2])
    phi = np.arctan2(t[:, 1], t[:, 0])
    general = R is not None
    if general:
        alpha, beta, gamma = (np.ascontiguousarray(a) for a in
                              matrix_to_euler(np.matmul(rotation_to_z(t), R)))
    else:
        alpha = beta = gamma = theta
    from .zmessage import z_table_dense
    S = int(block_offsets(lmax)[-1])
    P = grid.n_radial
    ztab = z_table_dense(lmax)
    shapes = ((E, S), (E, lmax + 1), (E, lmax + 1), (E, P, ztab.shape[1]))
    if general:
        rot, roty, zcos, zsin, tz = _outputs(((E, S),) + shapes, dtype)
        ucos = usin = zcos[:0]
    else:
        roty, ucos, usin, tz = _outputs(shapes, dtype)
        rot = roty[:0]
        zcos = zsin = ucos[:0]
    n_threads = min(default_threads(), max(1, E // EDGES_PER_THREAD))
    n_ranges = n_threads if n_threads == 1 else min(n_threads * RANGES_PER_THREAD,
                                                    max(1, E // BLOCK))
    args = (alpha, beta, gamma, np.ascontiguousarray(theta), d,
            np.ascontiguousarray(phi), np.ascontiguousarray(w, dtype=np.float64),
            _swap_tables(lmax), int(lmax), grid.points(np, np.float64), ztab, rot, roty, zcos, zsin,
            tz, general, ucos, usin)
    _run(_frames_range, _split(E, n_ranges), n_threads, args)
    if general:
        return rot, roty, zcos, zsin, tz
    return roty, ucos, usin, tz


#: Ranges per thread: the threads take ranges in turn, so a thread slowed down by other work
#: on the machine takes fewer (the results do not depend on which thread computes a range).
RANGES_PER_THREAD = 8


def _ranges(ptr):
    """Bounds of about equal edge counts over the rows of a CSR pointer, and the thread count."""
    n = ptr.shape[0] - 1
    E = int(ptr[-1])
    n_threads = max(1, min(default_threads(), E // EDGES_PER_THREAD, n))
    if n_threads == 1:
        return _split(n, 1), 1
    n_ranges = min(n, n_threads * RANGES_PER_THREAD)
    return _split(n, n_ranges, np.diff(ptr) + 1), n_threads


def _run(kernel, bounds, n_threads, args):
    """``kernel(a, b, *args)`` for the ranges of ``bounds``, taken in turn by ``n_threads``
    threads."""
    wait = _run_ranges(lambda a, b: kernel(a, b, *args), bounds, n_threads, block=False)
    wait()


def _offsets(fr):
    """Offsets of the T_z blocks of m = 0..L in the packed entries."""
    from .zmessage import z_table
    return z_table(fr.lmax)[3]


#: Channels are padded to a multiple of this in the kernels' rows (the vector loops then have
#: no scalar remainder).
CHANNEL_PAD = 8


def _rows(a):
    """(n, P, Q, C) -> (n, Q, P Cp), channels zero-padded to Cp (a multiple of CHANNEL_PAD)."""
    n, P, Q, C = a.shape
    Cp = -(-C // CHANNEL_PAD) * CHANNEL_PAD
    out = np.empty((n, Q, P, Cp), dtype=a.dtype)
    out[..., :C] = a.transpose(0, 2, 1, 3)
    if Cp > C:
        out[..., C:] = 0
    return out.reshape(n, Q, P * Cp)


#: Use the unrolled kernels of :mod:`fourier6d._numba_translate` where one exists (False: the
#: row kernel for every degree; benchmarks compare the two).
UNROLLED = True


def _blocks(a):
    """(n, P, Q, C) -> blocks of 16 lanes (n, P, n_chunk, Q, 16) flattened, channels
    zero-padded to 16 n_chunk (the layout of :mod:`fourier6d._numba_translate`)."""
    from ._translate_codegen import LANES
    n, P, Q, C = a.shape
    n_chunk = -(-C // LANES)
    out = np.empty((n, P, n_chunk, Q, LANES), dtype=a.dtype)
    full = C // LANES
    if full:
        out[:, :, :full] = a[..., :full * LANES].reshape(n, P, Q, full, LANES).transpose(
            0, 1, 3, 2, 4)
    if full < n_chunk:
        rest = C - full * LANES
        out[:, :, full, :, :rest] = a[..., full * LANES:]
        out[:, :, full, :, rest:] = 0
    return out.reshape(-1), n_chunk


def _translate(data, fr, ptr, order, ordered, other, transpose, out):
    """Translation-only frames: ``out[i] = sum_e w T(t_e)^(T) data[other[e]]`` over the rows
    of ``ptr`` (the unrolled kernel of this degree when there is one, else the row kernel)."""
    from ._numba_translate import KERNELS
    bounds, n_threads = _ranges(ptr)
    kernel = KERNELS.get(int(fr.lmax)) if UNROLLED else None
    if kernel is not None:
        blocks, n_chunk = _blocks(data)
        args = (blocks, n_chunk, ptr, order, ordered, other, fr.pair, fr.flip, fr.weight,
                fr.roty, fr.ucos, fr.usin, fr.tz, transpose, out)
    else:
        kernel = _translate_range
        args = (_rows(data), ptr, order, ordered, other, fr.pair, fr.flip, fr.weight, fr.roty,
                fr.ucos, fr.usin, fr.tz, _offsets(fr), int(fr.lmax), transpose, out)
    _run(kernel, bounds, n_threads, args)
    return out


def forward(coeffs, fr):
    """Messages (N, P, Q, C) of ``coeffs`` (n_src, P, Q, C) through the edge frames ``fr``."""
    n_src, P, Q, C = coeffs.shape
    out = np.empty((fr.n_nodes, P, Q, C), dtype=coeffs.dtype)
    if fr.rot is None:
        return _translate(coeffs, fr, fr.row_ptr, fr.src, True, fr.src, False, out)
    src = _rows(coeffs)
    args = (src, fr.row_ptr, fr.src, fr.rot, fr.roty, fr.zcos, fr.zsin, fr.tz, _offsets(fr),
            int(fr.lmax), out)
    bounds, n_threads = _ranges(fr.row_ptr)
    _run(_forward_range, bounds, n_threads, args)
    return out


def vjp(g, fr, shape):
    """Gradient (n_src, P, Q, C) of the messages' cotangent ``g`` (N, P, Q, C)."""
    grad = np.empty(shape, dtype=g.dtype)
    if fr.rot is None:
        return _translate(g, fr, fr.src_ptr, fr.src_order, False, fr.recv, True, grad)
    gt = _rows(g)
    args = (gt, fr.src_ptr, fr.src_order, fr.recv, fr.rot, fr.roty, fr.zcos, fr.zsin, fr.tz,
            _offsets(fr), int(fr.lmax), grad)
    bounds, n_threads = _ranges(fr.src_ptr)
    _run(_vjp_range, bounds, n_threads, args)
    return grad
