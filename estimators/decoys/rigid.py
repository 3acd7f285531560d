"""Rigid-body helpers: rotations about an axis, residue frames and their interpolation."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["rotation_matrix", "residue_frame", "slerp_frames", "kabsch"]


def rotation_matrix(axis, angle):
    """Rotation by ``angle`` (radians) about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


def residue_frame(n, ca, c):
    """Orthonormal frame (columns) of a residue from N, CA, C (Gram-Schmidt of CA->C, CA->N)."""
    e1 = c - ca
    e1 = e1 / np.linalg.norm(e1)
    u = n - ca
    e2 = u - (u @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    e3 = np.array([e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                   e1[0] * e2[1] - e1[1] * e2[0]])                 # e1 x e2
    return np.stack([e1, e2, e3], axis=1)


def slerp_frames(f0, f1, t):
    """Frame between rotations f0 and f1 (fraction t), along the geodesic."""
    rel = f0.T @ f1
    angle = math.acos(max(-1.0, min(1.0, (np.trace(rel) - 1.0) / 2.0)))
    if angle < 1e-9:
        return f0.copy()
    axis = np.array([rel[2, 1] - rel[1, 2], rel[0, 2] - rel[2, 0], rel[1, 0] - rel[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:                                   # angle ~ pi: take the nearest frame
        return f0.copy() if t < 0.5 else f1.copy()
    return f0 @ rotation_matrix(axis / norm, t * angle)


def kabsch(p, q):
    """Rotation R and translation t minimising |R p + t - q| over rows; and the RMSD."""
    pc, qc = p.mean(0), q.mean(0)
    h = (p - pc).T @ (q - qc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    t = qc - rot @ pc
    rmsd = float(np.sqrt((((p @ rot.T + t) - q) ** 2).sum(1).mean()))
    return rot, t, rmsd


_rotation_matrix, _frame, _slerp_frames = rotation_matrix, residue_frame, slerp_frames
