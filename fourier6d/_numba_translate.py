"""Unrolled Numba kernels of the translation-only message passing (GENERATED: do not edit).

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

    @_jit
    def _translate_l1(i0, i1, src, n_chunk, ptr, order, ordered, other, pair, flip, w, roty,
            ucos, usin, tz, transpose, out):
        """out[i] = sum over the edges e of row i (``ptr``; edge ``order[k]`` unless
        ``ordered``) of w[e] T(t_e) src[other[e]], i0 <= i < i1, L = 1; T_z^T where ``flip[e]``
        differs from ``transpose``.  src: blocks (n, P, n_chunk, Q, 16) flattened."""
        prefer_256_bit_vectors()
        N, P, Qo, C = out.shape
        B = P * n_chunk
        acc = np.empty(B * 64, dtype=out.dtype)
        for i in range(i0, i1):
            acc[:] = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                e = k if ordered else order[k]
                g = pair[e]
                j = other[e]
                tr = flip[e] != transpose
                we = w[e]
                R = roty[g]
                zc0 = ucos[g, 0]
                wc0 = we * zc0
                zc1 = ucos[g, 1]
                wc1 = we * zc1
                zs1 = usin[g, 1]
                ws1 = we * zs1
                r0_0_0 = R[0]
                r1_0_0 = R[1]
                r1_1_1 = R[5]
                r1_1_2 = R[6]
                r1_2_1 = R[8]
                r1_2_2 = R[9]
                for p in range(P):
                    T = tz[g, p]
                    t0_0_0 = T[0]
                    t0_0_1 = T[2] if tr else T[1]
                    t0_1_0 = T[1] if tr else T[2]
                    t0_1_1 = T[3]
                    t1_0_0 = T[4]
                    for c in range(n_chunk):
                        b = p * n_chunk + c
                        s0 = (j * B + b) * 64
                        S = src[s0:s0 + 64]
                        A = acc[b * 64:(b + 1) * 64]
                        for u in range(16):
                            x0 = S[0 + u]
                            x1 = S[16 + u]
                            x2 = S[32 + u]
                            x3 = S[48 + u]
                            y0 = zc0 * x0
                            y2 = zc0 * x2
                            y3 = zc1 * x3 + zs1 * x1
                            y1 = zc1 * x1 - zs1 * x3
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_2_1 * y3
                            x3 = r1_1_2 * y2 + r1_2_2 * y3
                            y0 = t0_0_0 * x0 + t0_0_1 * x2
                            y2 = t0_1_0 * x0 + t0_1_1 * x2
                            y3 = t1_0_0 * x3
                            y1 = t1_0_0 * x1
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_1_2 * y3
                            x3 = r1_2_1 * y2 + r1_2_2 * y3
                            A[0 + u] += wc0 * x0
                            A[32 + u] += wc0 * x2
                            A[48 + u] += wc1 * x3 - ws1 * x1
                            A[16 + u] += wc1 * x1 + ws1 * x3
            for p in range(P):
                for q in range(Qo):
                    o = out[i, p, q]
                    for c in range(C):
                        o[c] = acc[((p * n_chunk + c // 16) * 4 + q) * 16 + c % 16]

    KERNELS[1] = _translate_l1

    @_jit
    def _translate_l2(i0, i1, src, n_chunk, ptr, order, ordered, other, pair, flip, w, roty,
            ucos, usin, tz, transpose, out):
        """out[i] = sum over the edges e of row i (``ptr``; edge ``order[k]`` unless
        ``ordered``) of w[e] T(t_e) src[other[e]], i0 <= i < i1, L = 2; T_z^T where ``flip[e]``
        differs from ``transpose``.  src: blocks (n, P, n_chunk, Q, 16) flattened."""
        prefer_256_bit_vectors()
        N, P, Qo, C = out.shape
        B = P * n_chunk
        acc = np.empty(B * 144, dtype=out.dtype)
        for i in range(i0, i1):
            acc[:] = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                e = k if ordered else order[k]
                g = pair[e]
                j = other[e]
                tr = flip[e] != transpose
                we = w[e]
                R = roty[g]
                zc0 = ucos[g, 0]
                wc0 = we * zc0
                zc1 = ucos[g, 1]
                wc1 = we * zc1
                zs1 = usin[g, 1]
                ws1 = we * zs1
                zc2 = ucos[g, 2]
                wc2 = we * zc2
                zs2 = usin[g, 2]
                ws2 = we * zs2
                r0_0_0 = R[0]
                r1_0_0 = R[1]
                r1_1_1 = R[5]
                r1_1_2 = R[6]
                r1_2_1 = R[8]
                r1_2_2 = R[9]
                r2_0_0 = R[10]
                r2_0_1 = R[11]
                r2_1_0 = R[15]
                r2_1_1 = R[16]
                r2_2_2 = R[22]
                r2_2_3 = R[23]
                r2_2_4 = R[24]
                r2_3_2 = R[27]
                r2_3_3 = R[28]
                r2_3_4 = R[29]
                r2_4_2 = R[32]
                r2_4_3 = R[33]
                r2_4_4 = R[34]
                for p in range(P):
                    T = tz[g, p]
                    t0_0_0 = T[0]
                    t0_0_1 = T[3] if tr else T[1]
                    t0_0_2 = T[6] if tr else T[2]
                    t0_1_0 = T[1] if tr else T[3]
                    t0_1_1 = T[4]
                    t0_1_2 = T[7] if tr else T[5]
                    t0_2_0 = T[2] if tr else T[6]
                    t0_2_1 = T[5] if tr else T[7]
                    t0_2_2 = T[8]
                    t1_0_0 = T[9]
                    t1_0_1 = T[11] if tr else T[10]
                    t1_1_0 = T[10] if tr else T[11]
                    t1_1_1 = T[12]
                    t2_0_0 = T[13]
                    for c in range(n_chunk):
                        b = p * n_chunk + c
                        s0 = (j * B + b) * 144
                        S = src[s0:s0 + 144]
                        A = acc[b * 144:(b + 1) * 144]
                        for u in range(16):
                            x0 = S[0 + u]
                            x1 = S[16 + u]
                            x2 = S[32 + u]
                            x3 = S[48 + u]
                            x4 = S[64 + u]
                            x5 = S[80 + u]
                            x6 = S[96 + u]
                            x7 = S[112 + u]
                            x8 = S[128 + u]
                            y0 = zc0 * x0
                            y2 = zc0 * x2
                            y3 = zc1 * x3 + zs1 * x1
                            y1 = zc1 * x1 - zs1 * x3
                            y6 = zc0 * x6
                            y7 = zc1 * x7 + zs1 * x5
                            y5 = zc1 * x5 - zs1 * x7
                            y8 = zc2 * x8 + zs2 * x4
                            y4 = zc2 * x4 - zs2 * x8
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_2_1 * y3
                            x3 = r1_1_2 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_1_0 * y5
                            x5 = r2_0_1 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_3_2 * y7 + r2_4_2 * y8
                            x7 = r2_2_3 * y6 + r2_3_3 * y7 + r2_4_3 * y8
                            x8 = r2_2_4 * y6 + r2_3_4 * y7 + r2_4_4 * y8
                            y0 = t0_0_0 * x0 + t0_0_1 * x2 + t0_0_2 * x6
                            y2 = t0_1_0 * x0 + t0_1_1 * x2 + t0_1_2 * x6
                            y6 = t0_2_0 * x0 + t0_2_1 * x2 + t0_2_2 * x6
                            y3 = t1_0_0 * x3 + t1_0_1 * x7
                            y7 = t1_1_0 * x3 + t1_1_1 * x7
                            y1 = t1_0_0 * x1 + t1_0_1 * x5
                            y5 = t1_1_0 * x1 + t1_1_1 * x5
                            y8 = t2_0_0 * x8
                            y4 = t2_0_0 * x4
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_1_2 * y3
                            x3 = r1_2_1 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_0_1 * y5
                            x5 = r2_1_0 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_2_3 * y7 + r2_2_4 * y8
                            x7 = r2_3_2 * y6 + r2_3_3 * y7 + r2_3_4 * y8
                            x8 = r2_4_2 * y6 + r2_4_3 * y7 + r2_4_4 * y8
                            A[0 + u] += wc0 * x0
                            A[32 + u] += wc0 * x2
                            A[48 + u] += wc1 * x3 - ws1 * x1
                            A[16 + u] += wc1 * x1 + ws1 * x3
                            A[96 + u] += wc0 * x6
                            A[112 + u] += wc1 * x7 - ws1 * x5
                            A[80 + u] += wc1 * x5 + ws1 * x7
                            A[128 + u] += wc2 * x8 - ws2 * x4
                            A[64 + u] += wc2 * x4 + ws2 * x8
            for p in range(P):
                for q in range(Qo):
                    o = out[i, p, q]
                    for c in range(C):
                        o[c] = acc[((p * n_chunk + c // 16) * 9 + q) * 16 + c % 16]

    KERNELS[2] = _translate_l2

    @_jit
    def _translate_l3(i0, i1, src, n_chunk, ptr, order, ordered, other, pair, flip, w, roty,
            ucos, usin, tz, transpose, out):
        """out[i] = sum over the edges e of row i (``ptr``; edge ``order[k]`` unless
        ``ordered``) of w[e] T(t_e) src[other[e]], i0 <= i < i1, L = 3; T_z^T where ``flip[e]``
        differs from ``transpose``.  src: blocks (n, P, n_chunk, Q, 16) flattened."""
        prefer_256_bit_vectors()
        N, P, Qo, C = out.shape
        B = P * n_chunk
        acc = np.empty(B * 256, dtype=out.dtype)
        for i in range(i0, i1):
            acc[:] = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                e = k if ordered else order[k]
                g = pair[e]
                j = other[e]
                tr = flip[e] != transpose
                we = w[e]
                R = roty[g]
                zc0 = ucos[g, 0]
                wc0 = we * zc0
                zc1 = ucos[g, 1]
                wc1 = we * zc1
                zs1 = usin[g, 1]
                ws1 = we * zs1
                zc2 = ucos[g, 2]
                wc2 = we * zc2
                zs2 = usin[g, 2]
                ws2 = we * zs2
                zc3 = ucos[g, 3]
                wc3 = we * zc3
                zs3 = usin[g, 3]
                ws3 = we * zs3
                r0_0_0 = R[0]
                r1_0_0 = R[1]
                r1_1_1 = R[5]
                r1_1_2 = R[6]
                r1_2_1 = R[8]
                r1_2_2 = R[9]
                r2_0_0 = R[10]
                r2_0_1 = R[11]
                r2_1_0 = R[15]
                r2_1_1 = R[16]
                r2_2_2 = R[22]
                r2_2_3 = R[23]
                r2_2_4 = R[24]
                r2_3_2 = R[27]
                r2_3_3 = R[28]
                r2_3_4 = R[29]
                r2_4_2 = R[32]
                r2_4_3 = R[33]
                r2_4_4 = R[34]
                r3_0_0 = R[35]
                r3_0_1 = R[36]
                r3_0_2 = R[37]
                r3_1_0 = R[42]
                r3_1_1 = R[43]
                r3_1_2 = R[44]
                r3_2_0 = R[49]
                r3_2_1 = R[50]
                r3_2_2 = R[51]
                r3_3_3 = R[59]
                r3_3_4 = R[60]
                r3_3_5 = R[61]
                r3_3_6 = R[62]
                r3_4_3 = R[66]
                r3_4_4 = R[67]
                r3_4_5 = R[68]
                r3_4_6 = R[69]
                r3_5_3 = R[73]
                r3_5_4 = R[74]
                r3_5_5 = R[75]
                r3_5_6 = R[76]
                r3_6_3 = R[80]
                r3_6_4 = R[81]
                r3_6_5 = R[82]
                r3_6_6 = R[83]
                for p in range(P):
                    T = tz[g, p]
                    t0_0_0 = T[0]
                    t0_0_1 = T[4] if tr else T[1]
                    t0_0_2 = T[8] if tr else T[2]
                    t0_0_3 = T[12] if tr else T[3]
                    t0_1_0 = T[1] if tr else T[4]
                    t0_1_1 = T[5]
                    t0_1_2 = T[9] if tr else T[6]
                    t0_1_3 = T[13] if tr else T[7]
                    t0_2_0 = T[2] if tr else T[8]
                    t0_2_1 = T[6] if tr else T[9]
                    t0_2_2 = T[10]
                    t0_2_3 = T[14] if tr else T[11]
                    t0_3_0 = T[3] if tr else T[12]
                    t0_3_1 = T[7] if tr else T[13]
                    t0_3_2 = T[11] if tr else T[14]
                    t0_3_3 = T[15]
                    t1_0_0 = T[16]
                    t1_0_1 = T[19] if tr else T[17]
                    t1_0_2 = T[22] if tr else T[18]
                    t1_1_0 = T[17] if tr else T[19]
                    t1_1_1 = T[20]
                    t1_1_2 = T[23] if tr else T[21]
                    t1_2_0 = T[18] if tr else T[22]
                    t1_2_1 = T[21] if tr else T[23]
                    t1_2_2 = T[24]
                    t2_0_0 = T[25]
                    t2_0_1 = T[27] if tr else T[26]
                    t2_1_0 = T[26] if tr else T[27]
                    t2_1_1 = T[28]
                    t3_0_0 = T[29]
                    for c in range(n_chunk):
                        b = p * n_chunk + c
                        s0 = (j * B + b) * 256
                        S = src[s0:s0 + 256]
                        A = acc[b * 256:(b + 1) * 256]
                        for u in range(16):
                            x0 = S[0 + u]
                            x1 = S[16 + u]
                            x2 = S[32 + u]
                            x3 = S[48 + u]
                            x4 = S[64 + u]
                            x5 = S[80 + u]
                            x6 = S[96 + u]
                            x7 = S[112 + u]
                            x8 = S[128 + u]
                            x9 = S[144 + u]
                            x10 = S[160 + u]
                            x11 = S[176 + u]
                            x12 = S[192 + u]
                            x13 = S[208 + u]
                            x14 = S[224 + u]
                            x15 = S[240 + u]
                            y0 = zc0 * x0
                            y2 = zc0 * x2
                            y3 = zc1 * x3 + zs1 * x1
                            y1 = zc1 * x1 - zs1 * x3
                            y6 = zc0 * x6
                            y7 = zc1 * x7 + zs1 * x5
                            y5 = zc1 * x5 - zs1 * x7
                            y8 = zc2 * x8 + zs2 * x4
                            y4 = zc2 * x4 - zs2 * x8
                            y12 = zc0 * x12
                            y13 = zc1 * x13 + zs1 * x11
                            y11 = zc1 * x11 - zs1 * x13
                            y14 = zc2 * x14 + zs2 * x10
                            y10 = zc2 * x10 - zs2 * x14
                            y15 = zc3 * x15 + zs3 * x9
                            y9 = zc3 * x9 - zs3 * x15
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_2_1 * y3
                            x3 = r1_1_2 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_1_0 * y5
                            x5 = r2_0_1 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_3_2 * y7 + r2_4_2 * y8
                            x7 = r2_2_3 * y6 + r2_3_3 * y7 + r2_4_3 * y8
                            x8 = r2_2_4 * y6 + r2_3_4 * y7 + r2_4_4 * y8
                            x9 = r3_0_0 * y9 + r3_1_0 * y10 + r3_2_0 * y11
                            x10 = r3_0_1 * y9 + r3_1_1 * y10 + r3_2_1 * y11
                            x11 = r3_0_2 * y9 + r3_1_2 * y10 + r3_2_2 * y11
                            x12 = r3_3_3 * y12 + r3_4_3 * y13 + r3_5_3 * y14 + r3_6_3 * y15
                            x13 = r3_3_4 * y12 + r3_4_4 * y13 + r3_5_4 * y14 + r3_6_4 * y15
                            x14 = r3_3_5 * y12 + r3_4_5 * y13 + r3_5_5 * y14 + r3_6_5 * y15
                            x15 = r3_3_6 * y12 + r3_4_6 * y13 + r3_5_6 * y14 + r3_6_6 * y15
                            y0 = t0_0_0 * x0 + t0_0_1 * x2 + t0_0_2 * x6 + t0_0_3 * x12
                            y2 = t0_1_0 * x0 + t0_1_1 * x2 + t0_1_2 * x6 + t0_1_3 * x12
                            y6 = t0_2_0 * x0 + t0_2_1 * x2 + t0_2_2 * x6 + t0_2_3 * x12
                            y12 = t0_3_0 * x0 + t0_3_1 * x2 + t0_3_2 * x6 + t0_3_3 * x12
                            y3 = t1_0_0 * x3 + t1_0_1 * x7 + t1_0_2 * x13
                            y7 = t1_1_0 * x3 + t1_1_1 * x7 + t1_1_2 * x13
                            y13 = t1_2_0 * x3 + t1_2_1 * x7 + t1_2_2 * x13
                            y1 = t1_0_0 * x1 + t1_0_1 * x5 + t1_0_2 * x11
                            y5 = t1_1_0 * x1 + t1_1_1 * x5 + t1_1_2 * x11
                            y11 = t1_2_0 * x1 + t1_2_1 * x5 + t1_2_2 * x11
                            y8 = t2_0_0 * x8 + t2_0_1 * x14
                            y14 = t2_1_0 * x8 + t2_1_1 * x14
                            y4 = t2_0_0 * x4 + t2_0_1 * x10
                            y10 = t2_1_0 * x4 + t2_1_1 * x10
                            y15 = t3_0_0 * x15
                            y9 = t3_0_0 * x9
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_1_2 * y3
                            x3 = r1_2_1 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_0_1 * y5
                            x5 = r2_1_0 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_2_3 * y7 + r2_2_4 * y8
                            x7 = r2_3_2 * y6 + r2_3_3 * y7 + r2_3_4 * y8
                            x8 = r2_4_2 * y6 + r2_4_3 * y7 + r2_4_4 * y8
                            x9 = r3_0_0 * y9 + r3_0_1 * y10 + r3_0_2 * y11
                            x10 = r3_1_0 * y9 + r3_1_1 * y10 + r3_1_2 * y11
                            x11 = r3_2_0 * y9 + r3_2_1 * y10 + r3_2_2 * y11
                            x12 = r3_3_3 * y12 + r3_3_4 * y13 + r3_3_5 * y14 + r3_3_6 * y15
                            x13 = r3_4_3 * y12 + r3_4_4 * y13 + r3_4_5 * y14 + r3_4_6 * y15
                            x14 = r3_5_3 * y12 + r3_5_4 * y13 + r3_5_5 * y14 + r3_5_6 * y15
                            x15 = r3_6_3 * y12 + r3_6_4 * y13 + r3_6_5 * y14 + r3_6_6 * y15
                            A[0 + u] += wc0 * x0
                            A[32 + u] += wc0 * x2
                            A[48 + u] += wc1 * x3 - ws1 * x1
                            A[16 + u] += wc1 * x1 + ws1 * x3
                            A[96 + u] += wc0 * x6
                            A[112 + u] += wc1 * x7 - ws1 * x5
                            A[80 + u] += wc1 * x5 + ws1 * x7
                            A[128 + u] += wc2 * x8 - ws2 * x4
                            A[64 + u] += wc2 * x4 + ws2 * x8
                            A[192 + u] += wc0 * x12
                            A[208 + u] += wc1 * x13 - ws1 * x11
                            A[176 + u] += wc1 * x11 + ws1 * x13
                            A[224 + u] += wc2 * x14 - ws2 * x10
                            A[160 + u] += wc2 * x10 + ws2 * x14
                            A[240 + u] += wc3 * x15 - ws3 * x9
                            A[144 + u] += wc3 * x9 + ws3 * x15
            for p in range(P):
                for q in range(Qo):
                    o = out[i, p, q]
                    for c in range(C):
                        o[c] = acc[((p * n_chunk + c // 16) * 16 + q) * 16 + c % 16]

    KERNELS[3] = _translate_l3

    @_jit
    def _translate_l4(i0, i1, src, n_chunk, ptr, order, ordered, other, pair, flip, w, roty,
            ucos, usin, tz, transpose, out):
        """out[i] = sum over the edges e of row i (``ptr``; edge ``order[k]`` unless
        ``ordered``) of w[e] T(t_e) src[other[e]], i0 <= i < i1, L = 4; T_z^T where ``flip[e]``
        differs from ``transpose``.  src: blocks (n, P, n_chunk, Q, 16) flattened."""
        prefer_256_bit_vectors()
        N, P, Qo, C = out.shape
        B = P * n_chunk
        acc = np.empty(B * 400, dtype=out.dtype)
        for i in range(i0, i1):
            acc[:] = 0.0
            for k in range(ptr[i], ptr[i + 1]):
                e = k if ordered else order[k]
                g = pair[e]
                j = other[e]
                tr = flip[e] != transpose
                we = w[e]
                R = roty[g]
                zc0 = ucos[g, 0]
                wc0 = we * zc0
                zc1 = ucos[g, 1]
                wc1 = we * zc1
                zs1 = usin[g, 1]
                ws1 = we * zs1
                zc2 = ucos[g, 2]
                wc2 = we * zc2
                zs2 = usin[g, 2]
                ws2 = we * zs2
                zc3 = ucos[g, 3]
                wc3 = we * zc3
                zs3 = usin[g, 3]
                ws3 = we * zs3
                zc4 = ucos[g, 4]
                wc4 = we * zc4
                zs4 = usin[g, 4]
                ws4 = we * zs4
                r0_0_0 = R[0]
                r1_0_0 = R[1]
                r1_1_1 = R[5]
                r1_1_2 = R[6]
                r1_2_1 = R[8]
                r1_2_2 = R[9]
                r2_0_0 = R[10]
                r2_0_1 = R[11]
                r2_1_0 = R[15]
                r2_1_1 = R[16]
                r2_2_2 = R[22]
                r2_2_3 = R[23]
                r2_2_4 = R[24]
                r2_3_2 = R[27]
                r2_3_3 = R[28]
                r2_3_4 = R[29]
                r2_4_2 = R[32]
                r2_4_3 = R[33]
                r2_4_4 = R[34]
                r3_0_0 = R[35]
                r3_0_1 = R[36]
                r3_0_2 = R[37]
                r3_1_0 = R[42]
                r3_1_1 = R[43]
                r3_1_2 = R[44]
                r3_2_0 = R[49]
                r3_2_1 = R[50]
                r3_2_2 = R[51]
                r3_3_3 = R[59]
                r3_3_4 = R[60]
                r3_3_5 = R[61]
                r3_3_6 = R[62]
                r3_4_3 = R[66]
                r3_4_4 = R[67]
                r3_4_5 = R[68]
                r3_4_6 = R[69]
                r3_5_3 = R[73]
                r3_5_4 = R[74]
                r3_5_5 = R[75]
                r3_5_6 = R[76]
                r3_6_3 = R[80]
                r3_6_4 = R[81]
                r3_6_5 = R[82]
                r3_6_6 = R[83]
                r4_0_0 = R[84]
                r4_0_1 = R[85]
                r4_0_2 = R[86]
                r4_0_3 = R[87]
                r4_1_0 = R[93]
                r4_1_1 = R[94]
                r4_1_2 = R[95]
                r4_1_3 = R[96]
                r4_2_0 = R[102]
                r4_2_1 = R[103]
                r4_2_2 = R[104]
                r4_2_3 = R[105]
                r4_3_0 = R[111]
                r4_3_1 = R[112]
                r4_3_2 = R[113]
                r4_3_3 = R[114]
                r4_4_4 = R[124]
                r4_4_5 = R[125]
                r4_4_6 = R[126]
                r4_4_7 = R[127]
                r4_4_8 = R[128]
                r4_5_4 = R[133]
                r4_5_5 = R[134]
                r4_5_6 = R[135]
                r4_5_7 = R[136]
                r4_5_8 = R[137]
                r4_6_4 = R[142]
                r4_6_5 = R[143]
                r4_6_6 = R[144]
                r4_6_7 = R[145]
                r4_6_8 = R[146]
                r4_7_4 = R[151]
                r4_7_5 = R[152]
                r4_7_6 = R[153]
                r4_7_7 = R[154]
                r4_7_8 = R[155]
                r4_8_4 = R[160]
                r4_8_5 = R[161]
                r4_8_6 = R[162]
                r4_8_7 = R[163]
                r4_8_8 = R[164]
                for p in range(P):
                    T = tz[g, p]
                    t0_0_0 = T[0]
                    t0_0_1 = T[5] if tr else T[1]
                    t0_0_2 = T[10] if tr else T[2]
                    t0_0_3 = T[15] if tr else T[3]
                    t0_0_4 = T[20] if tr else T[4]
                    t0_1_0 = T[1] if tr else T[5]
                    t0_1_1 = T[6]
                    t0_1_2 = T[11] if tr else T[7]
                    t0_1_3 = T[16] if tr else T[8]
                    t0_1_4 = T[21] if tr else T[9]
                    t0_2_0 = T[2] if tr else T[10]
                    t0_2_1 = T[7] if tr else T[11]
                    t0_2_2 = T[12]
                    t0_2_3 = T[17] if tr else T[13]
                    t0_2_4 = T[22] if tr else T[14]
                    t0_3_0 = T[3] if tr else T[15]
                    t0_3_1 = T[8] if tr else T[16]
                    t0_3_2 = T[13] if tr else T[17]
                    t0_3_3 = T[18]
                    t0_3_4 = T[23] if tr else T[19]
                    t0_4_0 = T[4] if tr else T[20]
                    t0_4_1 = T[9] if tr else T[21]
                    t0_4_2 = T[14] if tr else T[22]
                    t0_4_3 = T[19] if tr else T[23]
                    t0_4_4 = T[24]
                    t1_0_0 = T[25]
                    t1_0_1 = T[29] if tr else T[26]
                    t1_0_2 = T[33] if tr else T[27]
                    t1_0_3 = T[37] if tr else T[28]
                    t1_1_0 = T[26] if tr else T[29]
                    t1_1_1 = T[30]
                    t1_1_2 = T[34] if tr else T[31]
                    t1_1_3 = T[38] if tr else T[32]
                    t1_2_0 = T[27] if tr else T[33]
                    t1_2_1 = T[31] if tr else T[34]
                    t1_2_2 = T[35]
                    t1_2_3 = T[39] if tr else T[36]
                    t1_3_0 = T[28] if tr else T[37]
                    t1_3_1 = T[32] if tr else T[38]
                    t1_3_2 = T[36] if tr else T[39]
                    t1_3_3 = T[40]
                    t2_0_0 = T[41]
                    t2_0_1 = T[44] if tr else T[42]
                    t2_0_2 = T[47] if tr else T[43]
                    t2_1_0 = T[42] if tr else T[44]
                    t2_1_1 = T[45]
                    t2_1_2 = T[48] if tr else T[46]
                    t2_2_0 = T[43] if tr else T[47]
                    t2_2_1 = T[46] if tr else T[48]
                    t2_2_2 = T[49]
                    t3_0_0 = T[50]
                    t3_0_1 = T[52] if tr else T[51]
                    t3_1_0 = T[51] if tr else T[52]
                    t3_1_1 = T[53]
                    t4_0_0 = T[54]
                    for c in range(n_chunk):
                        b = p * n_chunk + c
                        s0 = (j * B + b) * 400
                        S = src[s0:s0 + 400]
                        A = acc[b * 400:(b + 1) * 400]
                        for u in range(16):
                            x0 = S[0 + u]
                            x1 = S[16 + u]
                            x2 = S[32 + u]
                            x3 = S[48 + u]
                            x4 = S[64 + u]
                            x5 = S[80 + u]
                            x6 = S[96 + u]
                            x7 = S[112 + u]
                            x8 = S[128 + u]
                            x9 = S[144 + u]
                            x10 = S[160 + u]
                            x11 = S[176 + u]
                            x12 = S[192 + u]
                            x13 = S[208 + u]
                            x14 = S[224 + u]
                            x15 = S[240 + u]
                            x16 = S[256 + u]
                            x17 = S[272 + u]
                            x18 = S[288 + u]
                            x19 = S[304 + u]
                            x20 = S[320 + u]
                            x21 = S[336 + u]
                            x22 = S[352 + u]
                            x23 = S[368 + u]
                            x24 = S[384 + u]
                            y0 = zc0 * x0
                            y2 = zc0 * x2
                            y3 = zc1 * x3 + zs1 * x1
                            y1 = zc1 * x1 - zs1 * x3
                            y6 = zc0 * x6
                            y7 = zc1 * x7 + zs1 * x5
                            y5 = zc1 * x5 - zs1 * x7
                            y8 = zc2 * x8 + zs2 * x4
                            y4 = zc2 * x4 - zs2 * x8
                            y12 = zc0 * x12
                            y13 = zc1 * x13 + zs1 * x11
                            y11 = zc1 * x11 - zs1 * x13
                            y14 = zc2 * x14 + zs2 * x10
                            y10 = zc2 * x10 - zs2 * x14
                            y15 = zc3 * x15 + zs3 * x9
                            y9 = zc3 * x9 - zs3 * x15
                            y20 = zc0 * x20
                            y21 = zc1 * x21 + zs1 * x19
                            y19 = zc1 * x19 - zs1 * x21
                            y22 = zc2 * x22 + zs2 * x18
                            y18 = zc2 * x18 - zs2 * x22
                            y23 = zc3 * x23 + zs3 * x17
                            y17 = zc3 * x17 - zs3 * x23
                            y24 = zc4 * x24 + zs4 * x16
                            y16 = zc4 * x16 - zs4 * x24
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_2_1 * y3
                            x3 = r1_1_2 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_1_0 * y5
                            x5 = r2_0_1 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_3_2 * y7 + r2_4_2 * y8
                            x7 = r2_2_3 * y6 + r2_3_3 * y7 + r2_4_3 * y8
                            x8 = r2_2_4 * y6 + r2_3_4 * y7 + r2_4_4 * y8
                            x9 = r3_0_0 * y9 + r3_1_0 * y10 + r3_2_0 * y11
                            x10 = r3_0_1 * y9 + r3_1_1 * y10 + r3_2_1 * y11
                            x11 = r3_0_2 * y9 + r3_1_2 * y10 + r3_2_2 * y11
                            x12 = r3_3_3 * y12 + r3_4_3 * y13 + r3_5_3 * y14 + r3_6_3 * y15
                            x13 = r3_3_4 * y12 + r3_4_4 * y13 + r3_5_4 * y14 + r3_6_4 * y15
                            x14 = r3_3_5 * y12 + r3_4_5 * y13 + r3_5_5 * y14 + r3_6_5 * y15
                            x15 = r3_3_6 * y12 + r3_4_6 * y13 + r3_5_6 * y14 + r3_6_6 * y15
                            x16 = r4_0_0 * y16 + r4_1_0 * y17 + r4_2_0 * y18 + r4_3_0 * y19
                            x17 = r4_0_1 * y16 + r4_1_1 * y17 + r4_2_1 * y18 + r4_3_1 * y19
                            x18 = r4_0_2 * y16 + r4_1_2 * y17 + r4_2_2 * y18 + r4_3_2 * y19
                            x19 = r4_0_3 * y16 + r4_1_3 * y17 + r4_2_3 * y18 + r4_3_3 * y19
                            x20 = r4_4_4 * y20 + r4_5_4 * y21 + r4_6_4 * y22 + r4_7_4 * y23 + r4_8_4 * y24
                            x21 = r4_4_5 * y20 + r4_5_5 * y21 + r4_6_5 * y22 + r4_7_5 * y23 + r4_8_5 * y24
                            x22 = r4_4_6 * y20 + r4_5_6 * y21 + r4_6_6 * y22 + r4_7_6 * y23 + r4_8_6 * y24
                            x23 = r4_4_7 * y20 + r4_5_7 * y21 + r4_6_7 * y22 + r4_7_7 * y23 + r4_8_7 * y24
                            x24 = r4_4_8 * y20 + r4_5_8 * y21 + r4_6_8 * y22 + r4_7_8 * y23 + r4_8_8 * y24
                            y0 = t0_0_0 * x0 + t0_0_1 * x2 + t0_0_2 * x6 + t0_0_3 * x12 + t0_0_4 * x20
                            y2 = t0_1_0 * x0 + t0_1_1 * x2 + t0_1_2 * x6 + t0_1_3 * x12 + t0_1_4 * x20
                            y6 = t0_2_0 * x0 + t0_2_1 * x2 + t0_2_2 * x6 + t0_2_3 * x12 + t0_2_4 * x20
                            y12 = t0_3_0 * x0 + t0_3_1 * x2 + t0_3_2 * x6 + t0_3_3 * x12 + t0_3_4 * x20
                            y20 = t0_4_0 * x0 + t0_4_1 * x2 + t0_4_2 * x6 + t0_4_3 * x12 + t0_4_4 * x20
                            y3 = t1_0_0 * x3 + t1_0_1 * x7 + t1_0_2 * x13 + t1_0_3 * x21
                            y7 = t1_1_0 * x3 + t1_1_1 * x7 + t1_1_2 * x13 + t1_1_3 * x21
                            y13 = t1_2_0 * x3 + t1_2_1 * x7 + t1_2_2 * x13 + t1_2_3 * x21
                            y21 = t1_3_0 * x3 + t1_3_1 * x7 + t1_3_2 * x13 + t1_3_3 * x21
                            y1 = t1_0_0 * x1 + t1_0_1 * x5 + t1_0_2 * x11 + t1_0_3 * x19
                            y5 = t1_1_0 * x1 + t1_1_1 * x5 + t1_1_2 * x11 + t1_1_3 * x19
                            y11 = t1_2_0 * x1 + t1_2_1 * x5 + t1_2_2 * x11 + t1_2_3 * x19
                            y19 = t1_3_0 * x1 + t1_3_1 * x5 + t1_3_2 * x11 + t1_3_3 * x19
                            y8 = t2_0_0 * x8 + t2_0_1 * x14 + t2_0_2 * x22
                            y14 = t2_1_0 * x8 + t2_1_1 * x14 + t2_1_2 * x22
                            y22 = t2_2_0 * x8 + t2_2_1 * x14 + t2_2_2 * x22
                            y4 = t2_0_0 * x4 + t2_0_1 * x10 + t2_0_2 * x18
                            y10 = t2_1_0 * x4 + t2_1_1 * x10 + t2_1_2 * x18
                            y18 = t2_2_0 * x4 + t2_2_1 * x10 + t2_2_2 * x18
                            y15 = t3_0_0 * x15 + t3_0_1 * x23
                            y23 = t3_1_0 * x15 + t3_1_1 * x23
                            y9 = t3_0_0 * x9 + t3_0_1 * x17
                            y17 = t3_1_0 * x9 + t3_1_1 * x17
                            y24 = t4_0_0 * x24
                            y16 = t4_0_0 * x16
                            x0 = r0_0_0 * y0
                            x1 = r1_0_0 * y1
                            x2 = r1_1_1 * y2 + r1_1_2 * y3
                            x3 = r1_2_1 * y2 + r1_2_2 * y3
                            x4 = r2_0_0 * y4 + r2_0_1 * y5
                            x5 = r2_1_0 * y4 + r2_1_1 * y5
                            x6 = r2_2_2 * y6 + r2_2_3 * y7 + r2_2_4 * y8
                            x7 = r2_3_2 * y6 + r2_3_3 * y7 + r2_3_4 * y8
                            x8 = r2_4_2 * y6 + r2_4_3 * y7 + r2_4_4 * y8
                            x9 = r3_0_0 * y9 + r3_0_1 * y10 + r3_0_2 * y11
                            x10 = r3_1_0 * y9 + r3_1_1 * y10 + r3_1_2 * y11
                            x11 = r3_2_0 * y9 + r3_2_1 * y10 + r3_2_2 * y11
                            x12 = r3_3_3 * y12 + r3_3_4 * y13 + r3_3_5 * y14 + r3_3_6 * y15
                            x13 = r3_4_3 * y12 + r3_4_4 * y13 + r3_4_5 * y14 + r3_4_6 * y15
                            x14 = r3_5_3 * y12 + r3_5_4 * y13 + r3_5_5 * y14 + r3_5_6 * y15
                            x15 = r3_6_3 * y12 + r3_6_4 * y13 + r3_6_5 * y14 + r3_6_6 * y15
                            x16 = r4_0_0 * y16 + r4_0_1 * y17 + r4_0_2 * y18 + r4_0_3 * y19
                            x17 = r4_1_0 * y16 + r4_1_1 * y17 + r4_1_2 * y18 + r4_1_3 * y19
                            x18 = r4_2_0 * y16 + r4_2_1 * y17 + r4_2_2 * y18 + r4_2_3 * y19
                            x19 = r4_3_0 * y16 + r4_3_1 * y17 + r4_3_2 * y18 + r4_3_3 * y19
                            x20 = r4_4_4 * y20 + r4_4_5 * y21 + r4_4_6 * y22 + r4_4_7 * y23 + r4_4_8 * y24
                            x21 = r4_5_4 * y20 + r4_5_5 * y21 + r4_5_6 * y22 + r4_5_7 * y23 + r4_5_8 * y24
                            x22 = r4_6_4 * y20 + r4_6_5 * y21 + r4_6_6 * y22 + r4_6_7 * y23 + r4_6_8 * y24
                            x23 = r4_7_4 * y20 + r4_7_5 * y21 + r4_7_6 * y22 + r4_7_7 * y23 + r4_7_8 * y24
                            x24 = r4_8_4 * y20 + r4_8_5 * y21 + r4_8_6 * y22 + r4_8_7 * y23 + r4_8_8 * y24
                            A[0 + u] += wc0 * x0
                            A[32 + u] += wc0 * x2
                            A[48 + u] += wc1 * x3 - ws1 * x1
                            A[16 + u] += wc1 * x1 + ws1 * x3
                            A[96 + u] += wc0 * x6
                            A[112 + u] += wc1 * x7 - ws1 * x5
                            A[80 + u] += wc1 * x5 + ws1 * x7
                            A[128 + u] += wc2 * x8 - ws2 * x4
                            A[64 + u] += wc2 * x4 + ws2 * x8
                            A[192 + u] += wc0 * x12
                            A[208 + u] += wc1 * x13 - ws1 * x11
                            A[176 + u] += wc1 * x11 + ws1 * x13
                            A[224 + u] += wc2 * x14 - ws2 * x10
                            A[160 + u] += wc2 * x10 + ws2 * x14
                            A[240 + u] += wc3 * x15 - ws3 * x9
                            A[144 + u] += wc3 * x9 + ws3 * x15
                            A[320 + u] += wc0 * x20
                            A[336 + u] += wc1 * x21 - ws1 * x19
                            A[304 + u] += wc1 * x19 + ws1 * x21
                            A[352 + u] += wc2 * x22 - ws2 * x18
                            A[288 + u] += wc2 * x18 + ws2 * x22
                            A[368 + u] += wc3 * x23 - ws3 * x17
                            A[272 + u] += wc3 * x17 + ws3 * x23
                            A[384 + u] += wc4 * x24 - ws4 * x16
                            A[256 + u] += wc4 * x16 + ws4 * x24
            for p in range(P):
                for q in range(Qo):
                    o = out[i, p, q]
                    for c in range(C):
                        o[c] = acc[((p * n_chunk + c // 16) * 25 + q) * 16 + c % 16]

    KERNELS[4] = _translate_l4
