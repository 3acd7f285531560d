"""Per-residue 6DCNN input: local frames, neighbourhood atoms, residue graph.

One job: :func:`featurize` turns a :class:`~estimators.structures.Structure`
into the arrays the network reads (:class:`ProteinFeatures`).

* **Frames** (paper "Workflow"): each residue with N, CA and C gets the
  origin o_i = CA and a rotation F_i (columns = local x, y, z axes in global
  coordinates) by Gram-Schmidt from CA->N and CA->C:
  ``x = (N - CA)/|N - CA|``, ``y`` = the part of ``C - CA`` orthogonal to x,
  normalised, ``z = x X y``.  Global = o_i + F_i @ local.  That is ``frame="backbone"``;
  the default ``frame="ca_trace"`` takes the neighbouring CAs in place of N and C (2.5x
  longer axes, so coordinate errors turn the frame 2.5x less; :func:`trace_frames`).
* **Neighbourhood** (Eqs. 1-2): the heavy atoms with |r - CA_i| < r_max,
  in node i's frame (x_local = F_i^T (r - o_i)), given as the per-atom basis
  :func:`fourier6d.point_basis` (shape (n_radial, n_coef)) together with
  the atom type (0..167, :mod:`estimators.atom_types`).  The first network
  layer (a linear embedding of the 168 one-hot channels, Eq. 2 with
  t_n = W[type_n]) is then ``sum_k atom_basis[i, k] * W[atom_type[i, k]]``
  -- the 168 channels are never materialised.  Smooth cut-off: the basis of an
  atom at distance d is scaled by ``cutoff_envelope(d, r_max, atom_fade)``, which
  fades it out between r_max - atom_fade and r_max (default 1 A).
* **Graph** (paper "Technical details"): edges i -> j between distinct nodes
  with |CA_i - CA_j| < r_n, with the relative transform R_ij = F_i^T F_j,
  t_ij = F_i^T (o_j - o_i) (so x_i = R_ij x_j + t_ij), the ordered
  amino-acid pair 20 aa_i + aa_j and the topological-distance class
  min(|i - j|, d_t) - 1 along the chain (residue positions in the file,
  within one unbroken chain segment), d_t - 1 across chains or chain breaks.
  Smooth cut-off: each edge carries ``edge_weight = cutoff_envelope(|CA_i - CA_j|,
  r_n, edge_fade)`` (default fade 2 A), which scales its message and its
  graph-convolution term, so that no edge appears or vanishes at full weight.
  With both fades the network output is a continuous function of the coordinates
  (with the paper's hard cut-offs, ``atom_fade = edge_fade = 0``, it jumps when an
  atom or a CA crosses r_max or r_n).

Residues without a frame (missing N, CA or C) are not nodes, but their atoms
still belong to the neighbourhoods of others; :attr:`ProteinFeatures.residue_index`
tells which residues are nodes, and a :class:`StructureWarning` names them.

Two implementations give the same arrays: :func:`_reference_arrays` (NumPy,
``cKDTree``, :func:`fourier6d.point_basis`; used when Numba is unavailable or
``FOURIER6D_DISABLE_NUMBA=1``) is the reference; :func:`_fused_arrays` (default)
runs the cell-list neighbour search, the local frame, the Eq. 2 basis written in
the output dtype and the padding as one Numba kernel in nogil threads, on all
CPUs (the calling thread computes the atom types and the graph meanwhile, then
takes basis ranges too; ``atom_basis`` memory of results no longer referenced is
reused, see ``fourier6d._numba_kernels.release_buffers``).  Same pairs in the same order (ascending atom / node index per node); the
basis agrees to rounding (< 1e-12 relative in float64; tests/test_features.py).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from scipy.spatial import cKDTree

from fourier6d import RadialGrid, point_basis
from fourier6d import _numba_kernels
from fourier6d.expansion import gaussian_radial_factor

from .architectures import FRAME_KINDS
from .atom_types import AMINO_ACIDS, N_ATOM_TYPES, RESIDUE_ATOMS, atom_types_of
from .structures import StructureError, StructureWarning, cross, read_structure, sine_between

__all__ = ["ProteinFeatures", "featurize", "residue_frames", "trace_frames", "cutoff_envelope",
           "feature_params", "DEFAULT_PARAMS", "FEATURE_KEYS", "FRAME_KINDS"]

#: Defaults of :func:`featurize` (paper "Hyperparameters"; n_radial see fourier6d.radial;
#: atom_fade / edge_fade: widths of the smooth cut-off envelopes, see :func:`cutoff_envelope`;
#: frame: how residue frames are built, see :data:`FRAME_KINDS`).
DEFAULT_PARAMS = dict(lmax=4, n_radial=5, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
                      atom_fade=1.0, edge_fade=2.0, frame="ca_trace")

#: Below this sine of the CA(i-1)-CA(i)-CA(i+1) angle a trace frame falls back to N and C.
_TRACE_MIN_SINE = 0.1

#: Below this many nodes featurize runs its Numba kernels in the calling thread only.
SMALL_PROTEIN = 64

_ARRAYS = ("residue_index", "aa", "origins", "frames", "atom_basis", "atom_type", "atom_mask",
           "nbr_idx", "nbr_mask", "edge_aa_pair", "edge_topo", "edge_rot", "edge_trans",
           "edge_weight")


def cutoff_envelope(distance, r_cut, width):
    """Smooth cut-off weight of a distance: 1 inside ``r_cut - width``, 0 from ``r_cut`` on.

    ``w(d) = S((r_cut - d) / width)`` with the C2 "smootherstep"
    ``S(x) = 6x^5 - 15x^4 + 10x^3`` on [0, 1] (clipped outside), so w, w' and w'' are continuous
    everywhere: an atom or edge that crosses the cut-off fades in or out instead of appearing at
    full weight, and the network output becomes a continuous (C2) function of the coordinates.
    ``width = 0`` gives the hard cut-off ``d < r_cut`` of the paper.

    Parameters
    ----------
    distance : array_like
        Distances (Angstrom).
    r_cut : float
        Cut-off radius (Angstrom): weight 0 at and beyond it.
    width : float
        Width of the fade (Angstrom), >= 0.

    Returns
    -------
    ndarray of float64, the shape of ``distance``.
    """
    d = np.asarray(distance, dtype=np.float64)
    if width <= 0:
        return (d < r_cut).astype(np.float64)
    x = np.clip((r_cut - d) / width, 0.0, 1.0)
    return x * x * x * (10.0 + x * (6.0 * x - 15.0))


@dataclass
class ProteinFeatures:
    """Network input of one protein (N nodes = residues with a frame).

    Attributes
    ----------
    name : str
    n_residues_total : int
        Number of residues of the Structure (nodes and non-nodes).
    residue_index : (N,) int
        Structure residue of each node.
    aa : (N,) int
        Amino-acid index 0..19.
    origins : (N, 3) float64
        CA coordinates.
    frames : (N, 3, 3) float64
        Columns = local x, y, z axes in global coordinates.
    atom_basis : (N, K, n_radial, n_coef) dtype
        :func:`fourier6d.point_basis` of each neighbourhood atom in the node
        frame; zero in padding slots.
    atom_type : (N, K) int
        Atom type in [0, 168); 0 in padding slots.
    atom_mask : (N, K) bool
    nbr_idx : (N, Kn) int
        Neighbour nodes j of node i (padding: i itself).
    nbr_mask : (N, Kn) bool
    edge_aa_pair : (N, Kn) int
        20 aa_i + aa_j (padding 0).
    edge_topo : (N, Kn) int
        Topological-distance class in [0, d_t) (padding 0).
    edge_rot : (N, Kn, 3, 3) float64
        R_ij = F_i^T F_j (padding: identity).
    edge_trans : (N, Kn, 3) float64
        t_ij = F_i^T (o_j - o_i) (padding 0).
    edge_weight : (N, Kn) float64
        Smooth cut-off weight of each edge, ``cutoff_envelope(|t_ij|, r_n, edge_fade)``
        (padding 0); multiplies the edge's message and its graph-convolution term.
    params : dict
        lmax, n_radial, sigma, r_max, r_n, d_t, atom_fade, edge_fade, frame, rho_max, drho,
        dtype (features written without ``frame`` have the paper's "backbone" frames).
    """

    name: str
    n_residues_total: int
    residue_index: np.ndarray
    aa: np.ndarray
    origins: np.ndarray
    frames: np.ndarray
    atom_basis: np.ndarray
    atom_type: np.ndarray
    atom_mask: np.ndarray
    nbr_idx: np.ndarray
    nbr_mask: np.ndarray
    edge_aa_pair: np.ndarray
    edge_topo: np.ndarray
    edge_rot: np.ndarray
    edge_trans: np.ndarray
    edge_weight: np.ndarray = None
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.edge_weight is None:            # features written before smooth cut-offs
            self.edge_weight = np.asarray(self.nbr_mask, dtype=np.float64)

    @property
    def n_nodes(self):
        return len(self.residue_index)

    @property
    def nbytes(self):
        """Total bytes of the arrays."""
        return int(sum(getattr(self, a).nbytes for a in _ARRAYS))

    def to_arrays(self):
        """Dict of arrays (for ``np.savez``); the inverse is :meth:`from_arrays`."""
        import json
        out = {a: getattr(self, a) for a in _ARRAYS}
        out["n_residues_total"] = np.asarray(self.n_residues_total)
        out["params_json"] = np.asarray(json.dumps(self.params, sort_keys=True))
        return out

    @classmethod
    def from_arrays(cls, arrays, name):
        """Rebuild from :meth:`to_arrays` output (e.g. an ``np.load`` of a .npz)."""
        import json
        kw = {a: np.asarray(arrays[a]) for a in _ARRAYS if a in arrays}
        return cls(name=name, n_residues_total=int(arrays["n_residues_total"]),
                   params=json.loads(str(arrays["params_json"])), **kw)


def residue_frames(n, ca, c):
    """Local frames by Gram-Schmidt from CA->N and CA->C (paper, "Workflow").

    Parameters
    ----------
    n, ca, c : array, shape (R, 3)

    Returns
    -------
    numpy.ndarray, shape (R, 3, 3)
        Rotation matrices whose columns are the local x, y, z axes.
    """
    x = n - ca
    x = x / np.sqrt(np.einsum("...k,...k->...", x, x))[..., None]
    v = c - ca
    y = v - np.einsum("...k,...k->...", v, x)[..., None] * x
    y = y / np.sqrt(np.einsum("...k,...k->...", y, y))[..., None]
    out = np.empty(x.shape + (3,), dtype=x.dtype)
    out[..., 0] = x
    out[..., 1] = y
    out[..., 2] = cross(x, y)
    return out


#: Featurization parameters that must agree between features and a network, with the values
#: that features written before the parameter existed were computed with.
FEATURE_KEYS = dict(lmax=None, n_radial=None, sigma=None, r_max=None, r_n=None, d_t=None,
                    atom_fade=0.0, edge_fade=0.0, frame="backbone")


def feature_params(features):
    """The featurization parameters (:data:`FEATURE_KEYS`) of a :class:`ProteinFeatures`."""
    return {k: features.params.get(k, legacy) for k, legacy in FEATURE_KEYS.items()}


def trace_frames(n, ca, c, prev_ca, next_ca):
    """Local frames from the CA trace: :func:`residue_frames` with CA(i-1) in place of N and
    CA(i+1) in place of C.

    The paper's frame takes its axes from the 1.46 A CA-N and 1.52 A CA-C bonds, so a
    coordinate error of e rotates it by about e / 1.5 rad, and every neighbourhood atom at 8 A
    moves by 5 e in the frame: small errors (PDB rounding to 1e-3 A) move the scores through
    the frame more than through the atoms themselves.  The CA-CA virtual bonds are 3.8 A long,
    which makes the frame about 2.5 times steadier.  The x axis still points to the N-terminal
    side and the y axis to the C-terminal side, as in the paper's frame.

    Parameters
    ----------
    n, ca, c : array, shape (R, 3)
        N, CA, C of each residue.
    prev_ca, next_ca : array, shape (R, 3)
        CA of the peptide-bonded previous / next residue, NaN where there is none (chain ends,
        chain breaks, missing atoms).  There the frame takes N (resp. C) instead, and it takes
        N and C (the paper's frame) where the three CAs are nearly collinear (the sine of their
        angle below 0.1; CA virtual bond angles of proteins lie between about 80 and 150
        degrees).

    Returns
    -------
    numpy.ndarray, shape (R, 3, 3)
        Rotation matrices whose columns are the local x, y, z axes.
    """
    a = np.where(np.isfinite(prev_ca).all(-1, keepdims=True), prev_ca, n)
    b = np.where(np.isfinite(next_ca).all(-1, keepdims=True), next_ca, c)
    bad = (sine_between(a - ca, b - ca) < _TRACE_MIN_SINE)[..., None]
    return residue_frames(np.where(bad, n, a), ca, np.where(bad, c, b))


def _frames(s, nodes, n, ca, c, frame):
    """Frames of the nodes of structure ``s`` (``frame`` one of :data:`FRAME_KINDS`)."""
    if frame == "backbone":
        return residue_frames(n[nodes], ca[nodes], c[nodes])
    bonded = ~s.chain_break_before()                  # residue r bonded to r - 1
    prev_ca = np.full_like(ca, np.nan)
    next_ca = np.full_like(ca, np.nan)
    prev_ca[1:][bonded[1:]] = ca[:-1][bonded[1:]]
    next_ca[:-1][bonded[1:]] = ca[1:][bonded[1:]]
    return trace_frames(n[nodes], ca[nodes], c[nodes], prev_ca[nodes], next_ca[nodes])


def _check_params(lmax, n_radial, sigma, r_max, r_n, d_t, dtype):
    for nm, v in (("lmax", lmax), ("n_radial", n_radial), ("d_t", d_t)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{nm} must be an int, got {type(v).__name__}")
    if lmax < 0:
        raise ValueError(f"lmax must be >= 0, got {lmax}")
    if n_radial < 1:
        raise ValueError(f"n_radial must be >= 1, got {n_radial}")
    if d_t < 1:
        raise ValueError(f"d_t must be >= 1, got {d_t}")
    for nm, v in (("sigma", sigma), ("r_max", r_max), ("r_n", r_n)):
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{nm} must be a positive finite number, got {v}")
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _pad(rows, n_rows):
    """Slot of each (row, item) pair, items grouped by row in order; and the padded width."""
    counts = np.bincount(rows, minlength=n_rows)
    width = int(counts.max()) if len(rows) else 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(rows)) - starts[rows]
    return slot, max(width, 1)


def _codes(a):
    """Inverse indices and distinct values of a string array (as ``np.unique``; any order)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "U" and 0 < a.dtype.itemsize <= 12 and a.ndim == 1:
        # up to 3 code points (< 2**21 each) packed into one int64: unique on integers
        v = a.view(np.uint32).reshape(len(a), -1).astype(np.int64)
        key = v[:, 0]
        for k in range(1, v.shape[1]):
            key = key | (v[:, k] << (21 * k))
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return inv, a[first]
    values, inv = np.unique(a, return_inverse=True)
    return inv, values


def _atom_types(s):
    """``atom_types_of(s)``, evaluated once per distinct (residue name, atom name) pair."""
    rinv, rnames = _codes(s.resnames)
    ainv, anames = _codes(s.atom_names)
    n_a = len(anames)
    code = rinv[s.atom_res] * n_a + ainv
    seen = np.zeros(len(rnames) * n_a, dtype=bool)
    seen[code] = True
    pairs = np.flatnonzero(seen)
    lut = np.zeros(len(seen), dtype=np.int64)
    lut[pairs] = atom_types_of(SimpleNamespace(resnames=rnames, atom_res=pairs // n_a,
                                               atom_names=anames[pairs % n_a], n_atoms=len(pairs)))
    return lut[code]


def _neighbour_pairs(tree_points, centres, radius):
    """All (centre, point) index pairs with distance < radius, sorted by (centre, point)."""
    lists = tree_points.query_ball_point(centres, radius, return_sorted=True)
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((j for x in lists for j in x), dtype=np.int64, count=int(lens.sum()))
    rows = np.repeat(np.arange(len(lists), dtype=np.int64), lens)
    return rows, cols


def _reference_arrays(coords, types, nodes, aa, segment, origins, frames, grid, lmax, sigma,
                      r_max, r_n, d_t, dt):
    """Neighbourhood and graph arrays with NumPy/SciPy (the reference of :func:`_fused_arrays`).

    ``types`` is a function returning the atom types of all atoms.
    """
    n_nodes = len(nodes)
    # ---- neighbourhood atoms: (node, atom) pairs within r_max, in the node frame
    rows, cols = _neighbour_pairs(cKDTree(coords), origins, r_max)
    delta = coords[cols] - origins[rows]
    keep = np.einsum("mk,mk->m", delta, delta) < r_max * r_max
    rows, cols, delta = rows[keep], cols[keep], delta[keep]
    local = np.matmul(delta[:, None, :], frames[rows])[:, 0]        # F_i^T (r - o_i)
    slot, width = _pad(rows, n_nodes)
    # Eq. 2 basis for all (node, atom) pairs in one call, written straight in dtype
    atom_basis = np.zeros((n_nodes, width, grid.n_radial, (lmax + 1) ** 2), dtype=dt)
    atom_basis[rows, slot] = point_basis(local, grid, lmax, sigma, dtype=dt)
    atom_type = np.zeros((n_nodes, width), dtype=np.int64)
    atom_type[rows, slot] = types()[cols]
    atom_mask = np.zeros((n_nodes, width), dtype=bool)
    atom_mask[rows, slot] = True
    atom_dist = np.zeros((n_nodes, width))
    atom_dist[rows, slot] = np.sqrt(np.einsum("mk,mk->m", delta, delta))

    # ---- residue graph: node pairs i != j with CA-CA < r_n
    ei, ej = _neighbour_pairs(cKDTree(origins), origins, r_n)
    dca = origins[ej] - origins[ei]
    keep = (ei != ej) & (np.einsum("mk,mk->m", dca, dca) < r_n * r_n)
    ei, ej, dca = ei[keep], ej[keep], dca[keep]
    eslot, ewidth = _pad(ei, n_nodes)
    ri, rj = nodes[ei], nodes[ej]
    sep = np.minimum(np.abs(ri - rj), d_t) - 1
    topo = np.where(segment[ri] == segment[rj], sep, d_t - 1)
    nbr_idx = np.repeat(np.arange(n_nodes)[:, None], ewidth, axis=1)
    nbr_idx[ei, eslot] = ej
    nbr_mask = np.zeros((n_nodes, ewidth), dtype=bool)
    nbr_mask[ei, eslot] = True
    edge_aa_pair = np.zeros((n_nodes, ewidth), dtype=np.int64)
    edge_aa_pair[ei, eslot] = 20 * aa[ei] + aa[ej]
    edge_topo = np.zeros((n_nodes, ewidth), dtype=np.int64)
    edge_topo[ei, eslot] = topo
    edge_rot = np.broadcast_to(np.eye(3), (n_nodes, ewidth, 3, 3)).copy()
    edge_rot[ei, eslot] = np.einsum("eki,ekj->eij", frames[ei], frames[ej])
    edge_trans = np.zeros((n_nodes, ewidth, 3))
    edge_trans[ei, eslot] = np.einsum("eki,ek->ei", frames[ei], dca)
    return (atom_basis, atom_type, atom_mask, atom_dist, nbr_idx, nbr_mask, edge_aa_pair,
            edge_topo, edge_rot, edge_trans)


if _numba_kernels.AVAILABLE:
    @_numba_kernels._jit                     # same options (and cache) as the basis kernels
    def _graph_fill(origins, frames, lists, counts, aa, nodes, segment, d_t, nbr_idx, nbr_mask,
                    edge_aa_pair, edge_topo, edge_rot, edge_trans):
        """Edge arrays of :func:`_reference_arrays` from the neighbour lists (same formulas)."""
        n_nodes, width = nbr_idx.shape
        for i in range(n_nodes):
            n = counts[i]
            for k in range(n):
                j = lists[i, k]
                nbr_idx[i, k] = j
                nbr_mask[i, k] = True
                edge_aa_pair[i, k] = 20 * aa[i] + aa[j]
                ri = nodes[i]
                rj = nodes[j]
                sep = min(abs(ri - rj), d_t) - 1
                edge_topo[i, k] = sep if segment[ri] == segment[rj] else d_t - 1
                d0 = origins[j, 0] - origins[i, 0]
                d1 = origins[j, 1] - origins[i, 1]
                d2 = origins[j, 2] - origins[i, 2]
                for a in range(3):
                    for b in range(3):
                        edge_rot[i, k, a, b] = (frames[i, 0, a] * frames[j, 0, b]
                                                + frames[i, 1, a] * frames[j, 1, b]
                                                + frames[i, 2, a] * frames[j, 2, b])
                    edge_trans[i, k, a] = (frames[i, 0, a] * d0 + frames[i, 1, a] * d1
                                           + frames[i, 2, a] * d2)
            for k in range(n, width):
                nbr_idx[i, k] = i
                nbr_mask[i, k] = False
                edge_aa_pair[i, k] = 0
                edge_topo[i, k] = 0
                for a in range(3):
                    for b in range(3):
                        edge_rot[i, k, a, b] = 1.0 if a == b else 0.0
                    edge_trans[i, k, a] = 0.0


def _fused_graph(types, nodes, aa, segment, origins, frames, r_n, d_t):
    """Atom types (with 0 appended for padding slots) and the graph arrays, Numba path."""
    K = _numba_kernels
    types = np.append(types(), 0)                      # padding slots get type 0
    n_nodes = len(nodes)
    elists, ecounts = K.neighbour_lists(origins, origins, r_n, exclude_self=True, n_threads=1)
    ewidth = max(int(ecounts.max()), 1)
    nbr_idx = np.empty((n_nodes, ewidth), dtype=np.int64)
    nbr_mask = np.empty((n_nodes, ewidth), dtype=bool)
    edge_aa_pair = np.empty((n_nodes, ewidth), dtype=np.int64)
    edge_topo = np.empty((n_nodes, ewidth), dtype=np.int64)
    edge_rot = np.empty((n_nodes, ewidth, 3, 3))
    edge_trans = np.empty((n_nodes, ewidth, 3))
    origins, frames = K._contiguous(np.float64, origins, frames)
    aa, nodes, segment = K._contiguous(np.int64, aa, nodes, segment)
    _graph_fill(origins, frames, elists, ecounts, aa, nodes, segment, int(d_t), nbr_idx, nbr_mask,
                edge_aa_pair, edge_topo, edge_rot, edge_trans)
    return types, (nbr_idx, nbr_mask, edge_aa_pair, edge_topo, edge_rot, edge_trans)


def _fused_arrays(coords, types, nodes, aa, segment, origins, frames, grid, lmax, sigma,
                  r_max, r_n, d_t, dt, n_threads=None):
    """Same arrays as :func:`_reference_arrays` with the Numba kernels of
    :mod:`fourier6d._numba_kernels` (cell-list neighbour search, local frame,
    Eq. 2 basis and padding fused; both CPU cores via nogil threads).

    Same pairs, same order (atoms / neighbours ascending per node), same
    formulas; equal to the reference to rounding (tests/test_features.py).
    """
    K = _numba_kernels
    n_threads = K.default_threads() if n_threads is None else max(1, int(n_threads))
    if len(nodes) < SMALL_PROTEIN:
        n_threads = 1                   # thread hand-offs would cost more than they save
    basis_args = (grid.points(np, np.float64), gaussian_radial_factor(grid, float(sigma)), lmax,
                  dt)
    if n_threads == 1:
        lists, counts = K.neighbour_lists(coords, origins, r_max, n_threads=1, cap=256)
        atom_basis, atom_index, atom_mask = K.neighbourhood_basis(
            coords, origins, frames, lists, counts, *basis_args, n_threads=1,
            pad_index=len(coords))
        graph = _fused_graph(types, nodes, aa, segment, origins, frames, r_n, d_t)
    else:
        # one pool thread: atom neighbour lists, then basis ranges (with n_threads - 2 more pool
        # threads); this thread meanwhile does the atom types and the graph, then takes basis
        # ranges too: n_threads threads busy throughout, none waiting on another
        import threading
        ready = threading.Event()
        box = []

        def front():
            try:
                lists, counts = K.neighbour_lists(coords, origins, r_max, n_threads=1, cap=256)
                box.append(K.neighbourhood_basis(
                    coords, origins, frames, lists, counts, *basis_args, n_threads=n_threads,
                    pad_index=len(coords), block=False, workers=n_threads - 2))
            finally:
                ready.set()
            box[0][3]()

        future = K._pool(n_threads).submit(front)
        try:
            graph = _fused_graph(types, nodes, aa, segment, origins, frames, r_n, d_t)
        finally:
            ready.wait()
            if box:
                box[0][3]()                     # take basis ranges too, then wait for all
            future.result()
        atom_basis, atom_index, atom_mask, _ = box[0]
    types, (nbr_idx, nbr_mask, edge_aa_pair, edge_topo, edge_rot, edge_trans) = graph
    atom_type = types[atom_index]
    padded = np.concatenate([coords, np.zeros((1, 3))])         # pad_index = len(coords)
    delta = padded[atom_index] - origins[:, None, :]
    atom_dist = np.where(atom_mask, np.sqrt(np.einsum("nkc,nkc->nk", delta, delta)), 0.0)
    return (atom_basis, atom_type, atom_mask, atom_dist, nbr_idx, nbr_mask, edge_aa_pair,
            edge_topo, edge_rot, edge_trans)


def _fade_atoms(atom_basis, atom_mask, atom_dist, r_max, atom_fade):
    """Scale (in place) the basis of neighbourhood atoms in the fade shell by their envelope."""
    if atom_fade <= 0:
        return
    ii, kk = np.nonzero(atom_mask & (atom_dist > r_max - atom_fade))
    if len(ii):
        w = cutoff_envelope(atom_dist[ii, kk], r_max, atom_fade)
        atom_basis[ii, kk] *= w.astype(atom_basis.dtype)[:, None, None]


#: Side-chain heavy atoms of each amino acid (beyond N, CA, C, O), in the order of ``AMINO_ACIDS``.
_N_SIDE_CHAIN = np.array([len(RESIDUE_ATOMS[a]) - 4 for a in AMINO_ACIDS])
_BACKBONE_OR_OXT = ("N", "CA", "C", "O", "OXT")


def incomplete_residues(structure):
    """Indices of the residues of ``structure`` that lack side-chain heavy atoms of their amino
    acid (:data:`estimators.atom_types.RESIDUE_ATOMS`), e.g. truncated side chains or a
    backbone-only model (missing N, CA or C: residues without a frame, warned about apart)."""
    s = structure
    side = ~np.isin(s.atom_names, _BACKBONE_OR_OXT)
    counts = np.bincount(s.atom_res, weights=side, minlength=s.n_residues)
    return np.flatnonzero(counts < _N_SIDE_CHAIN[s.aa_index])


def _warn_incomplete(s):
    """A StructureWarning naming the residues that lack side-chain atoms: the networks learned
    from complete models, so such residues (and their neighbours) score lower than their
    geometry alone would (a backbone-only copy of the bundled model: 0.68 -> 0.31)."""
    missing = incomplete_residues(s)
    if len(missing) == 0:
        return
    labels = []
    for r in missing[:10]:
        have = set(s.atom_names[s.atom_res == r])
        lack = [a for a in RESIDUE_ATOMS[s.resnames[r]][4:] if a not in have]
        labels.append(f"{s.residue_label(r)} ({' '.join(lack)})")
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    warnings.warn(f"{s.name}: {len(missing)} of {s.n_residues} residue(s) lack side-chain atoms: "
                  f"{', '.join(labels)}{more}; the networks were trained on complete models, "
                  "so these residues and their neighbours score lower than complete ones",
                  StructureWarning, stacklevel=3)


def featurize(structure, lmax=4, n_radial=5, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
              dtype=np.float32, *, atom_fade=1.0, edge_fade=2.0, frame="ca_trace",
              n_threads=None):
    """Network input of one protein (paper "Workflow", "Technical details"; Eqs. 1-2).

    Parameters
    ----------
    structure : Structure or path or prody.AtomGroup
        Read with :func:`estimators.structures.read_structure` if not a Structure.
    lmax : int
        Maximum spherical-harmonic degree L (4).
    n_radial : int
        Radial points of ``RadialGrid.from_sigma(sigma, n_radial)`` (5).
    sigma : float
        Gaussian width of each atom, Angstrom (2).
    r_max : float
        Neighbourhood radius around each CA, Angstrom (8); atoms with distance < r_max.
    r_n : float
        Graph edge threshold on CA-CA distance, Angstrom (12); pairs with distance < r_n.
    d_t : int
        Number of topological-distance classes (10).
    dtype : float32 or float64
        dtype of ``atom_basis`` (geometry stays float64).
    atom_fade : float
        Width (Angstrom) of the smooth cut-off of the neighbourhood: an atom at distance d from
        CA contributes ``cutoff_envelope(d, r_max, atom_fade)`` times its Eq. 2 term, so it fades
        in from r_max to r_max - atom_fade (1).  0 = the paper's hard cut-off.
    frame : {"ca_trace", "backbone"}
        Residue frames: "backbone" is the paper's (Gram-Schmidt from CA->N and CA->C,
        :func:`residue_frames`); "ca_trace" (default) builds them the same way from the
        neighbouring CAs, which is 2.5 times less sensitive to coordinate errors
        (:func:`trace_frames`).
    edge_fade : float
        Width (Angstrom) of the smooth cut-off of graph edges: ``edge_weight`` =
        ``cutoff_envelope(|CA_i - CA_j|, r_n, edge_fade)`` (2).  0 = hard cut-off (weight 1).
    n_threads : int, optional
        Threads of the Numba kernels (default: ``NUMBA_NUM_THREADS``, i.e. all
        CPUs).  The result does not depend on it.

    Returns
    -------
    ProteinFeatures

    Raises
    ------
    StructureError
        No residue of the structure has N, CA and C.
    """
    dt = _check_params(lmax, n_radial, sigma, r_max, r_n, d_t, dtype)
    for nm, v, cap in (("atom_fade", atom_fade, r_max), ("edge_fade", edge_fade, r_n)):
        if not np.isfinite(v) or not 0 <= v <= cap:
            raise ValueError(f"{nm} must be a number in [0, {cap}] (Angstrom), got {v}")
    if frame not in FRAME_KINDS:
        raise ValueError(f"frame must be one of {FRAME_KINDS}, got {frame!r}")
    s = read_structure(structure)
    grid = RadialGrid.from_sigma(float(sigma), int(n_radial))
    n, ca, c, has_frame = s.backbone()
    nodes = np.flatnonzero(has_frame)
    if len(nodes) == 0:
        present = np.isfinite(n).all(1) & np.isfinite(ca).all(1) & np.isfinite(c).all(1)
        if present.any():
            raise StructureError(f"{s.name}: no residue has a usable backbone frame: N, CA and C "
                                 f"are present in {int(present.sum())} residue(s) but degenerate "
                                 "(coincident or collinear atoms); nothing to featurize")
        raise StructureError(f"{s.name}: no residue has N, CA and C atoms: nothing to featurize")
    if len(nodes) < s.n_residues:
        missing = np.flatnonzero(~has_frame)
        labels = ", ".join(s.residue_label(r) for r in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        warnings.warn(f"{s.name}: {len(missing)} residue(s) without a usable N/CA/C frame are "
                      f"not network nodes (no prediction): {labels}{more}", StructureWarning,
                      stacklevel=2)
    _warn_incomplete(s)
    origins = ca[nodes]
    frames = _frames(s, nodes, n, ca, c, frame)

    aa = s.aa_index[nodes]
    segment = np.cumsum(s.chain_break_before()) - 1                 # chain segment per residue
    args = (s.coords, lambda: _atom_types(s), nodes, aa, segment, origins, frames, grid, lmax,
            sigma, r_max, r_n, d_t, dt)
    if _numba_kernels.AVAILABLE:
        arrays = _fused_arrays(*args, n_threads=n_threads)
    else:
        arrays = _reference_arrays(*args)
    (atom_basis, atom_type, atom_mask, atom_dist, nbr_idx, nbr_mask, edge_aa_pair, edge_topo,
     edge_rot, edge_trans) = arrays
    _fade_atoms(atom_basis, atom_mask, atom_dist, float(r_max), float(atom_fade))
    # |CA_j - CA_i| from the origins (not the rotated edge_trans): the same number for both
    # directions of an edge, so the graph's weights are exactly symmetric (message passing is
    # then its own adjoint, fourier6d.zmessage.reverse_edges)
    delta = origins[nbr_idx] - origins[:, None]
    edge_len = np.sqrt(np.einsum("nkc,nkc->nk", delta, delta))
    edge_weight = np.where(nbr_mask, cutoff_envelope(edge_len, float(r_n), float(edge_fade)), 0.0)

    params = dict(lmax=int(lmax), n_radial=int(n_radial), sigma=float(sigma), r_max=float(r_max),
                  r_n=float(r_n), d_t=int(d_t), atom_fade=float(atom_fade),
                  edge_fade=float(edge_fade), frame=frame, rho_max=float(grid.rho_max),
                  drho=float(grid.drho), dtype=dt.name, n_atom_types=N_ATOM_TYPES)
    return ProteinFeatures(name=s.name, n_residues_total=s.n_residues, residue_index=nodes,
                           aa=aa, origins=origins, frames=frames, atom_basis=atom_basis,
                           atom_type=atom_type, atom_mask=atom_mask, nbr_idx=nbr_idx,
                           nbr_mask=nbr_mask, edge_aa_pair=edge_aa_pair, edge_topo=edge_topo,
                           edge_rot=edge_rot, edge_trans=edge_trans, edge_weight=edge_weight,
                           params=params)
