"""Collate several ProteinFeatures into one block-diagonal batch graph.

All residues of all models of a minibatch become the nodes of one graph
(neighbour indices are offset per model), so every layer runs as a few large
array operations over the whole minibatch instead of a Python loop over models.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import feature_params

__all__ = ["Batch", "collate"]


@dataclass
class Batch:
    """A minibatch of proteins as one graph (host NumPy arrays).

    Attributes
    ----------
    atom_basis : list of (n_b, K_b, P, Q) arrays
        Per model b, the point_basis of its residues' neighbourhood atoms (0 = padding), as
        featurized (no copy when the dtype matches): the largest arrays of a batch, embedded
        model by model, so they are never padded to the batch's widest neighbourhood nor
        copied into one array.
    atom_type : list of (n_b, K_b) int arrays
    nbr_idx, nbr_mask : (N, Kn)  graph neighbours (global node indices)
    edge_aa_pair, edge_topo : (N, Kn) int
    edge_weight : (N, Kn)        smooth cut-off weight of each edge (0 = padding)
    node_frames : (N, 3, 3)      each node's frame F_i (columns = local axes), float64
    node_origins : (N, 3)        each node's origin o_i (CA), float64; message passing
                                 uses R_ij = F_i^T F_j and t_ij = F_i^T (o_j - o_i)
    node_model : (N,) int        which model (0..B-1) each node belongs to
    n_models : int
    node_slices : list of slice  nodes of each model
    """

    atom_basis: list
    atom_type: list
    nbr_idx: np.ndarray
    nbr_mask: np.ndarray
    edge_aa_pair: np.ndarray
    edge_topo: np.ndarray
    edge_weight: np.ndarray
    node_frames: np.ndarray
    node_origins: np.ndarray
    node_model: np.ndarray
    n_models: int
    node_slices: list

    @property
    def n_nodes(self):
        return int(self.node_model.shape[0])


def _pad_axis1(a, width, fill=0):
    if a.shape[1] == width:
        return a
    pad = [(0, 0)] * a.ndim
    pad[1] = (0, width - a.shape[1])
    return np.pad(a, pad, constant_values=fill)


def collate(features, dtype=None):
    """Concatenate a list of ProteinFeatures into a :class:`Batch`.

    Parameters
    ----------
    features : list of ProteinFeatures
        All computed with the same featurization parameters.
    dtype : dtype, optional
        Floating dtype of the geometric arrays (default: that of the features).
    """
    if not features:
        raise ValueError("cannot collate an empty list of features")
    p0 = feature_params(features[0])
    for f in features[1:]:
        pk = feature_params(f)
        if pk != p0:
            raise ValueError(f"features of {f.name!r} were computed with {pk}, "
                             f"but {features[0].name!r} with {p0}")
    k_nbrs = max(f.nbr_idx.shape[1] for f in features)
    dtype = np.dtype(dtype or features[0].atom_basis.dtype)
    nidx, nmask, pair, topo, weight, owner, slices = ([] for _ in range(7))
    # the atom arrays (the large ones) stay per model, as featurized
    basis = [f.atom_basis.astype(dtype, copy=False) for f in features]
    types = [f.atom_type for f in features]
    offset = 0
    for b, f in enumerate(features):
        n = f.atom_basis.shape[0]
        idx = _pad_axis1(f.nbr_idx, k_nbrs)
        msk = _pad_axis1(f.nbr_mask, k_nbrs, False)
        idx = np.where(msk, idx, np.arange(n)[:, None])
        nidx.append(idx + offset)
        nmask.append(msk)
        pair.append(_pad_axis1(f.edge_aa_pair, k_nbrs))
        topo.append(_pad_axis1(f.edge_topo, k_nbrs))
        weight.append(_pad_axis1(f.edge_weight.astype(dtype, copy=False), k_nbrs))
        owner.append(np.full(n, b, dtype=np.int64))
        slices.append(slice(offset, offset + n))
        offset += n
    return Batch(atom_basis=basis, atom_type=types,
                 nbr_idx=np.concatenate(nidx), nbr_mask=np.concatenate(nmask),
                 edge_aa_pair=np.concatenate(pair), edge_topo=np.concatenate(topo),
                 edge_weight=np.concatenate(weight),
                 node_frames=np.concatenate([np.asarray(f.frames, dtype=np.float64)
                                             for f in features]),
                 node_origins=np.concatenate([np.asarray(f.origins, dtype=np.float64)
                                              for f in features]),
                 node_model=np.concatenate(owner), n_models=len(features), node_slices=slices)
