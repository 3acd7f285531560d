"""Network architectures as plain data (JSON-serialisable dicts).

An architecture spec holds everything needed to rebuild a network: the
featurization hyper-parameters (paper "Hyperparameters": sigma = 2 A,
R_n = 12 A, d_t = 10, L = 4, R_max = 8 A) and the layer widths.

Keys::

    name : str
    lmax, n_radial, sigma, r_max, r_n, d_t : featurization (see estimators.features)
    atom_fade, edge_fade : float  widths (A) of the smooth cut-offs at r_max and r_n
                                  (estimators.features.cutoff_envelope; 0 = the paper's hard
                                  cut-offs); a spec dict without them gets the defaults 1 and 2,
                                  a model file written without them is read with 0
                                  (:func:`legacy_spec`)
    frame : str                   residue frames, "ca_trace" (default) or "backbone" (the paper's
                                  N/CA/C frames; FRAME_KINDS); a model file
                                  written without it is read with "backbone"
    n_atom_types : int            number of atom types (168)
    embed : int                   channels after the atom-type embedding
    blocks : list[int]            output channels of each 6D block (6D conv -> Eq. 7 -> Eq. 9);
                                  consecutive blocks are linked by message passing
    switch : int                  channels of the discrete vector after Eq. 11
    edge_embed : int              d'_e, reduced edge-feature dimension (Eq. 12)
    graph : list[int]             widths of the graph convolution layers (last must be 1)
    leak : float                  LReLU leak (0.05)

Parameter counts (``estimators.networks.count_params``) next to the paper's:
Baseline 23,485 (paper 21,026), 6DCNN-1 55,360 (paper 187,326), 6DCNN-2 77,110
(paper 283,426).  Baseline: atom-type embedding 168 x 15 = 2,520, switch (Eq. 11;
one weight per shell, l, m, channel and output) 5 * 25 * 15 * 10 = 18,750, edge-type
embedding (400 amino-acid pairs + 10 distance classes) x 4 = 1,640, graph layers 563,
plus a few scalars: within 12 % of the paper's 21,026 (the paper does not give the
exact edge-embedding and bias layout).  A 6D block adds one real weight per (shell,
l, m, C_in, C_out), 5 * 25 * 15 * 15 = 28,125 at the defaults, plus convolution and
activation biases per (shell, l, m, channel), 2 * 1,875: the filter as the paper's
Eq. 4 defines it, in the real basis.  The paper does not say how its much larger
counts arise (about 166k per 6D block); the authors' own released checkpoint has
about 88k parameters for three 6D blocks at L = 5 (shared/6DCNN-FACTS.md), i.e. the
same scale as ours, so we follow the equations rather than the reported totals.
"""
from __future__ import annotations

import copy
import json

__all__ = ["ARCHITECTURES", "FRAME_KINDS", "get_architecture", "validate_architecture",
           "legacy_spec"]

_COMMON = dict(lmax=4, n_radial=5, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
               atom_fade=1.0, edge_fade=2.0, frame="ca_trace",
               n_atom_types=168, embed=15, switch=10, edge_embed=4,
               graph=[7, 5, 1], leak=0.05)

ARCHITECTURES = {
    "baseline": dict(_COMMON, name="baseline", blocks=[]),
    "6dcnn-1": dict(_COMMON, name="6dcnn-1", blocks=[15]),
    "6dcnn-2": dict(_COMMON, name="6dcnn-2", blocks=[15, 12]),
}

_INT_KEYS = ("lmax", "n_radial", "d_t", "n_atom_types", "embed", "switch", "edge_embed")
_FADE_KEYS = ("atom_fade", "edge_fade")
_FLOAT_KEYS = ("sigma", "r_max", "r_n", "leak") + _FADE_KEYS
#: Residue frames of estimators.features.featurize: "backbone" = Gram-Schmidt from CA->N and
#: CA->C (the paper's); "ca_trace" = the same construction from CA(i)->CA(i-1) and
#: CA(i)->CA(i+1) (estimators.features.trace_frames).  Defined here, with the other plain data.
FRAME_KINDS = ("backbone", "ca_trace")


def validate_architecture(spec):
    """Check a spec dict and return a normalised deep copy (clear errors)."""
    if not isinstance(spec, dict):
        raise TypeError(f"architecture must be a name or a dict, got {type(spec).__name__}")
    missing = [k for k in _INT_KEYS + _FLOAT_KEYS + ("blocks", "graph")
               if k not in spec and k not in _FADE_KEYS]
    if missing:
        raise ValueError(f"architecture spec is missing keys: {missing}")
    out = copy.deepcopy(spec)
    out.setdefault("name", "custom")
    for k in _FADE_KEYS + ("frame",):
        out.setdefault(k, _COMMON[k])
    if out["frame"] not in FRAME_KINDS:
        raise ValueError(f"architecture['frame'] must be one of {FRAME_KINDS}, "
                         f"got {out['frame']!r}")
    for k in _INT_KEYS:
        if int(out[k]) != out[k] or int(out[k]) < (0 if k == "lmax" else 1):
            raise ValueError(f"architecture[{k!r}] must be a positive integer, got {out[k]!r}")
        out[k] = int(out[k])
    for k in _FLOAT_KEYS:
        out[k] = float(out[k])
        if not out[k] >= 0:
            raise ValueError(f"architecture[{k!r}] must be >= 0, got {out[k]!r}")
    out["blocks"] = [int(c) for c in out["blocks"]]
    out["graph"] = [int(c) for c in out["graph"]]
    if not out["graph"] or out["graph"][-1] != 1:
        raise ValueError("architecture['graph'] must end with a width-1 output layer")
    if any(c < 1 for c in out["blocks"] + out["graph"]):
        raise ValueError("layer widths must be >= 1")
    json.dumps(out)  # must be plain data
    return out


def legacy_spec(spec):
    """A spec read from a model file: fade widths absent there mean the hard cut-offs (0), and
    an absent frame the paper's N/CA/C frames, that such models were trained with."""
    spec = dict(spec)
    for k in _FADE_KEYS:
        spec.setdefault(k, 0.0)
    spec.setdefault("frame", "backbone")
    return spec


def get_architecture(arch):
    """Return a validated copy of a named architecture or of a given spec dict."""
    if isinstance(arch, str):
        key = arch.lower()
        if key not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)} "
                             "or pass a spec dict")
        return validate_architecture(ARCHITECTURES[key])
    return validate_architecture(arch)
