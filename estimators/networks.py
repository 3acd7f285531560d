"""The paper's networks (Baseline, 6DCNN-1, 6DCNN-2) built from fourier6d operators.

Forward pass for a :class:`~estimators.batching.Batch` (paper "Baseline
Architecture", "6DCNN Networks")::

    F   = embedding of atom types, expanded in each residue frame   (Eq. 2, t_n = E[type])
    for each 6D block b:                                            (6DCNN-1: 1 block, 6DCNN-2: 2)
        if b > 0: F_i <- F_i + sum_j w_ij T_{j->i} F_j              (message passing, Eqs. 5-6;
                                                                     w_ij smooth cut-off weight)
        F = a * N(N(conv6d(F, W_b) + bias_b) + B_b)                 (Eqs. 4, 7, 9)
    h   = LReLU(switch(F, W_s) * scale + b_s)                       (Eq. 11)
    for each graph layer k:  h = act(A_r h W_k + h W_k^s + b_k)     (Eq. 12; LReLU 0.05, tanh last)
    o   = sigma_t * h + mu_t                                        (per-residue lDDT)

Everything is written with :mod:`autograd.numpy` and the fourier6d primitives,
so gradients come from the operators' explicit VJPs, and the arrays may be
NumPy or CuPy (see :func:`batch_to_device`).
"""
from __future__ import annotations

import math

import autograd.numpy as anp
import numpy as np

from fourier6d.radial import RadialGrid
from fourier6d.harmonics import n_coef
from fourier6d._backend import get_array_module
from fourier6d.normalization import normalize
from fourier6d.activation import activation
from fourier6d.switch import switch_to_vector
from fourier6d.gather import take_rows
from fourier6d.embedding import embed_atoms
from fourier6d.conv6d import conv6d

from .architectures import get_architecture

__all__ = ["init_params", "forward", "forward_chunked", "count_params", "radial_grid", "batch_to_device",
           "N_AA_PAIRS"]

N_AA_PAIRS = 400


def radial_grid(spec):
    """The RadialGrid of an architecture (rho_max = pi / sigma, n_radial points from 0)."""
    return RadialGrid.from_sigma(spec["sigma"], spec["n_radial"])


def init_params(spec, random_state=0, dtype=np.float64):
    """Initial parameters (dict of host arrays) of an architecture, deterministic in the seed."""
    spec = get_architecture(spec)
    rng = np.random.default_rng(random_state)
    P, Q = spec["n_radial"], n_coef(spec["lmax"])
    params = {}

    def normal(shape, fan_in):
        return (rng.standard_normal(shape) / math.sqrt(max(fan_in, 1))).astype(dtype)

    c = spec["embed"]
    params["embed"] = normal((spec["n_atom_types"], c), 1)
    for b, c_out in enumerate(spec["blocks"]):
        params[f"conv{b}_w"] = normal((P, Q, c, c_out), Q * c)
        params[f"conv{b}_b"] = np.zeros((P, Q, c_out), dtype)
        params[f"act{b}_b"] = normal((P, Q, c_out), P * Q)
        c = c_out
    params["switch_w"] = normal((P, Q, c, spec["switch"]), P * Q * c)
    params["switch_b"] = np.zeros(spec["switch"], dtype)
    n_edge = N_AA_PAIRS + spec["d_t"]
    params["edge_embed"] = normal((n_edge, spec["edge_embed"]), 1)
    d = spec["switch"]
    for k, d_out in enumerate(spec["graph"]):
        params[f"graph{k}_w"] = normal((spec["edge_embed"], d, d_out), d * spec["edge_embed"])
        params[f"graph{k}_ws"] = normal((d, d_out), d)
        params[f"graph{k}_b"] = np.zeros(d_out, dtype)
        d = d_out
    params["sigma_t"] = np.asarray(0.5, dtype)
    params["mu_t"] = np.asarray(0.5, dtype)
    # fixed (non-trained) scale of the switch output, set by data-dependent init
    params["switch_scale"] = np.asarray(1.0, dtype)
    return params


TRAINABLE_EXCLUDE = ("switch_scale",)


def count_params(params):
    """Number of trainable scalars."""
    return int(sum(np.size(v) for k, v in params.items() if k not in TRAINABLE_EXCLUDE))


def batch_to_device(batch, xp, dtype):
    """Arrays of a Batch on the device of ``xp`` (dict), geometry in ``dtype``."""
    out = {
        # per model (Batch.atom_basis), embedded model by model (embed_batch)
        "atom_basis": [xp.asarray(a, dtype=dtype) for a in batch.atom_basis],
        "atom_type": [xp.asarray(t) for t in batch.atom_type],
        "n_nodes": batch.n_nodes,
        "nbr_idx": xp.asarray(batch.nbr_idx),
        "nbr_mask": xp.asarray(batch.nbr_mask),
        # node frames and origins for message passing (geometry, kept in float64)
        "node_frames": xp.asarray(batch.node_frames, dtype=np.float64),
        "node_origins": xp.asarray(batch.node_origins, dtype=np.float64),
        "node_model": xp.asarray(batch.node_model),
        "n_models": batch.n_models,
    }
    # edge-type rows into the edge embedding: aa pair one-hot + topological class one-hot
    out["edge_pair"] = xp.asarray(batch.edge_aa_pair)
    out["edge_topo"] = xp.asarray(batch.edge_topo) + N_AA_PAIRS
    # smooth cut-off weights (0 on padding): they scale messages and graph-convolution terms, and
    # the symmetric normalisation uses weighted degrees, so no edge enters at full weight
    weight = xp.asarray(batch.edge_weight, dtype=dtype) * xp.asarray(batch.nbr_mask, dtype=dtype)
    out["edge_weight"] = weight
    deg = xp.maximum(weight.sum(axis=1), 1.0)
    out["edge_norm"] = weight / xp.sqrt(deg[:, None] * deg[xp.asarray(batch.nbr_idx)])
    return out


def _lrelu(x, leak):
    """Leaky ReLU as ``x * slope`` with a constant slope array of x's dtype (autograd's VJP of
    ``where`` builds float64 zeros, which would turn the whole backward pass into float64)."""
    raw = getattr(x, "_value", x)
    xp = get_array_module(raw)
    return x * xp.where(raw > 0, 1.0, leak).astype(raw.dtype)


def embed_batch(dev, W):
    """The atom embedding of every residue of a batch (N, P, Q, C): each model's atoms
    embedded on their own (no padding to the batch's widest neighbourhood), in node order."""
    parts = [embed_atoms(b, t, W) for b, t in zip(dev["atom_basis"], dev["atom_type"])]
    return parts[0] if len(parts) == 1 else anp.concatenate(parts, axis=0)


def continuous_part(params, spec, dev, grid):
    """Embedding and 6D blocks: returns coefficients (N, P, Q, C)."""
    F = embed_batch(dev, params["embed"])
    for b in range(len(spec["blocks"])):
        if b > 0:
            from fourier6d.message_passing import node_message_passing
            F = F + node_message_passing(F, dev["nbr_idx"], dev["nbr_mask"], dev["node_frames"],
                                         dev["node_origins"], grid,
                                         edge_weight=dev["edge_weight"])
        F = block_6d(params, b, F, grid)
    return F


def block_6d(params, b, F, grid):
    """6D block ``b``: convolution (Eq. 4), normalization (Eq. 7), activation (Eq. 9)."""
    F = conv6d(F, params[f"conv{b}_w"], params[f"conv{b}_b"])
    F = normalize(F, grid)
    return activation(F, params[f"act{b}_b"], grid)


def switch_features(params, spec, dev, grid):
    """Discrete per-residue vectors after Eq. 11, before the scale/bias (N, switch)."""
    return switch_to_vector(continuous_part(params, spec, dev, grid), params["switch_w"], grid)


def forward(params, spec, dev, grid):
    """Per-node predicted lDDT, shape (N,)."""
    return graph_head(params, spec, dev, switch_features(params, spec, dev, grid))


def graph_head(params, spec, dev, switched):
    """Graph convolutions (Eq. 12) on the switched vectors (N, switch): per-node lDDT (N,)."""
    leak = spec["leak"]
    h = _lrelu(switched * params["switch_scale"] + params["switch_b"], leak)
    emb = params["edge_embed"]
    A = (take_rows(emb, dev["edge_pair"]) + take_rows(emb, dev["edge_topo"])) \
        * dev["edge_norm"][..., None]                                  # (N, Kn, E)
    n_layers = len(spec["graph"])
    for k in range(n_layers):
        hn = take_rows(h, dev["nbr_idx"])                          # (N, Kn, d)
        # (N, E, d); matmul, as autograd's VJP of einsum returns float64 for float32 inputs
        z = anp.matmul(anp.swapaxes(A, 1, 2), hn)
        w = params[f"graph{k}_w"]                                  # (E, d, d_out)
        msg = anp.reshape(z, (z.shape[0], -1)) @ anp.reshape(w, (-1, w.shape[-1]))
        h = msg + h @ params[f"graph{k}_ws"] + params[f"graph{k}_b"]
        h = anp.tanh(h) if k == n_layers - 1 else _lrelu(h, leak)
    return params["sigma_t"] * h[:, 0] + params["mu_t"]


def forward_chunked(params, spec, dev, grid, max_nodes):
    """:func:`~estimators.networks.forward` with the 6D layers run ``max_nodes`` residues at a time.

    For prediction (no gradients).  Every layer before the graph convolutions
    is per residue except message passing, whose receivers are chunked while
    its sources are the previous block's output for all residues; so the result
    equals ``forward`` (up to float rounding) while the per-edge operators of
    message passing, ``(nodes, graph slots, n_radial, Q, Q)`` and the largest
    arrays of the network, exist for one chunk at a time.  The graph
    convolutions (arrays of a few numbers per edge) run on all residues at once.
    Networks without message passing (fewer than two 6D blocks) have no large
    per-edge arrays and are not chunked: small chunks only cost time there
    (6DCNN-1, 64 CASP13 models: 14.8 models/s in chunks of 128 vs 64 whole).
    """
    n = dev["n_nodes"]
    if max_nodes is None or n <= int(max_nodes) or len(spec["blocks"]) < 2:
        return forward(params, spec, dev, grid)
    from fourier6d.message_passing import node_wigner, translate_messages
    from fourier6d.rotation import rotate
    xp = get_array_module(dev["atom_basis"][0])
    chunks = [slice(s, min(s + int(max_nodes), n)) for s in range(0, n, int(max_nodes))]
    # --- as continuous_part, chunk by chunk (the embedding model by model: small outputs)
    F = embed_batch(dev, params["embed"])
    D = node_wigner(dev["node_frames"], spec["lmax"], F.dtype)
    origins = dev["node_origins"]
    for b in range(len(spec["blocks"])):
        out = []
        # message passing as node_message_passing: every source rotated to global axes
        # once, each chunk's sums translated there and rotated back to its receivers' frames
        H = rotate(F, D) if b > 0 else None
        for c in chunks:
            x = F[c]
            if b > 0:
                m = translate_messages(H, dev["nbr_idx"][c], dev["nbr_mask"][c], origins[c],
                                       grid, edge_weight=dev["edge_weight"][c],
                                       src_origins=origins)
                x = x + rotate(m, xp.swapaxes(D[c], -1, -2))
            out.append(block_6d(params, b, x, grid))
        F = xp.concatenate(out)
    switched = xp.concatenate([switch_to_vector(F[c], params["switch_w"], grid) for c in chunks])
    # --- the graph convolutions on all residues
    return graph_head(params, spec, dev, switched)
