"""Realism check of decoys: can a simple classifier tell them from real server models?

Each model is described by per-model geometry statistics (:func:`realism_features`): secondary
structure content (helix and strand fractions from runs of phi/psi,
:func:`estimators.decoys.geometry.secondary_structure`), CA radius of gyration over the value of a
compact globular chain of its length (2.2 N^0.38 A), relative contact order and contacts per residue
(CA-CA < 8 A, sequence separation >= 3), heavy-atom clashes per 100 residues
(:func:`estimators.decoys.geometry.count_clashes`), the Ramachandran outlier fraction
(:func:`estimators.decoys.geometry.ramachandran_allowed`) and burial of hydrophobic residues (mean
number of CB atoms within 10 A of the CB of A, C, F, I, L, M, V, W residues, minus that of the other
residues, and the fraction of hydrophobic residues with >= 20 such neighbours).

:func:`realism_auc` gives the cross-validated ROC AUC of a gradient-boosting classifier (scikit-learn)
telling decoys of one kind from real models, after matching both sets in global-lDDT bins (the same
number of each per bin, so that the classifier cannot use the quality itself): 0.5 = not told apart,
1 = always told apart.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from .geometry import backbone_dihedrals, count_clashes, ramachandran_allowed, secondary_structure

__all__ = ["FEATURES", "realism_features", "matched_sample", "realism_auc"]

#: Names of the features of :func:`realism_features`, in order.
FEATURES = ("helix_fraction", "strand_fraction", "rg_ratio", "relative_contact_order",
            "contacts_per_residue", "clashes_per_100", "rama_outlier_fraction",
            "hydrophobic_burial", "buried_hydrophobic_fraction")

_HYDROPHOBIC = {"ALA", "CYS", "PHE", "ILE", "LEU", "MET", "VAL", "TRP"}


def realism_features(structure) -> np.ndarray:
    """Per-model geometry statistics (:data:`FEATURES`) of a Structure (its residues with a CA)."""
    n, ca, c, _ = structure.backbone()
    has_ca = ~np.isnan(ca).any(axis=1)
    R = int(has_ca.sum())
    if R < 5:
        raise ValueError(f"{structure.name}: {R} residues with CA; need >= 5 for realism features")
    phi, psi = backbone_dihedrals(structure)
    ss = secondary_structure(np.nan_to_num(phi, nan=180.0), np.nan_to_num(psi, nan=180.0))
    xyz = ca[has_ca]
    rg = math.sqrt(((xyz - xyz.mean(0)) ** 2).sum(1).mean())
    index = np.flatnonzero(has_ca)
    pairs = cKDTree(xyz).query_pairs(8.0, output_type="ndarray")
    sep = np.abs(index[pairs[:, 0]] - index[pairs[:, 1]]) if pairs.size else np.zeros(0)
    long = sep >= 3
    contacts = int(long.sum())
    rco = float(sep[long].mean() / R) if contacts else 0.0
    clashes = count_clashes(structure.coords, structure.atom_res, structure.atom_names,
                            structure.chain_ids)
    known = ~(np.isnan(phi) | np.isnan(psi))
    glycine = np.asarray(structure.resnames).astype(str) == "GLY"
    allowed = ramachandran_allowed(phi[known], psi[known], glycine[known])
    # burial: CB (CA for glycine) neighbour counts within 10 A
    cb_index = structure.atom_index("CB")
    cb = ca.copy()
    ok = cb_index >= 0
    cb[ok] = structure.coords[cb_index[ok]]
    cb = cb[has_ca]
    counts = np.array([len(x) - 1 for x in cKDTree(cb).query_ball_point(cb, 10.0)])
    hydrophobic = np.isin(np.asarray(structure.resnames).astype(str)[has_ca], list(_HYDROPHOBIC))
    burial = (counts[hydrophobic].mean() if hydrophobic.any() else 0.0) - \
        (counts[~hydrophobic].mean() if (~hydrophobic).any() else 0.0)
    buried = float((counts[hydrophobic] >= 20).mean()) if hydrophobic.any() else 0.0
    return np.array([float((ss == "H").mean()), float((ss == "E").mean()),
                     rg / (2.2 * R ** 0.38), rco, 2.0 * contacts / R, 100.0 * clashes / R,
                     float(1.0 - allowed.mean()) if allowed.size else 0.0, float(burial), buried])


def matched_sample(decoy_lddt, real_lddt, rng, bins=np.linspace(0.0, 1.0, 11)):
    """Indices (decoys, real models) with the same number of each in every lDDT bin."""
    decoy_lddt = np.asarray(decoy_lddt, dtype=float)
    real_lddt = np.asarray(real_lddt, dtype=float)
    d_bin = np.digitize(decoy_lddt, bins[1:-1])
    r_bin = np.digitize(real_lddt, bins[1:-1])
    keep_d, keep_r = [], []
    for b in range(len(bins) - 1):
        d = np.flatnonzero(d_bin == b)
        r = np.flatnonzero(r_bin == b)
        k = min(d.size, r.size)
        if k:
            keep_d += rng.choice(d, k, replace=False).tolist()
            keep_r += rng.choice(r, k, replace=False).tolist()
    return np.array(keep_d, dtype=np.int64), np.array(keep_r, dtype=np.int64)


def realism_auc(decoy_features, decoy_lddt, decoy_groups, real_features, real_lddt, real_groups,
                seed=0, n_splits=4, min_per_class=10):
    """Cross-validated ROC AUC of a classifier telling decoys from real models in matched bins.

    Parameters
    ----------
    decoy_features, real_features : array (N, F)
    decoy_lddt, real_lddt : array (N,)
        Global lDDT (for the bin matching).
    decoy_groups, real_groups : array (N,)
        Groups kept within one fold (natives, targets).
    seed : int
    n_splits : int
        Folds of a stratified group k-fold.
    min_per_class : int
        Fewer matched models of either class: NaN.

    Returns
    -------
    auc : float
        ROC AUC of the out-of-fold predicted probabilities (gradient boosting, 100 trees of depth
        3); NaN when too few matched models.
    n : int
        Matched models of each class.
    """
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(seed)
    d, r = matched_sample(decoy_lddt, real_lddt, rng)
    if d.size < min_per_class:
        return math.nan, int(d.size)
    x = np.vstack([np.asarray(decoy_features)[d], np.asarray(real_features)[r]])
    y = np.r_[np.ones(d.size), np.zeros(r.size)]
    groups = np.r_[np.asarray(decoy_groups).astype(str)[d],
                   np.char.add("real:", np.asarray(real_groups).astype(str)[r])]
    splits = min(n_splits, len(set(groups[y == 1])), len(set(groups[y == 0])))
    if splits < 2:
        return math.nan, int(d.size)
    proba = np.full(y.size, np.nan)
    folds = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed)
    for train, test in folds.split(x, y, groups):
        if len(set(y[train])) < 2:
            continue
        model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed)
        model.fit(x[train], y[train])
        proba[test] = model.predict_proba(x[test])[:, 1]
    ok = ~np.isnan(proba)
    if len(set(y[ok])) < 2:
        return math.nan, int(d.size)
    return float(roc_auc_score(y[ok], proba[ok])), int(d.size)
