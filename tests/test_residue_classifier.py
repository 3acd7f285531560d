"""SixDResidueClassifier and residue density coefficients (estimators.residue_classifier)."""
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from fourier6d import random_rotations, expand_points, RadialGrid
from fourier6d.rotation import wigner_d_real, rotate
from estimators.density_maps import simulate_density, atomic_numbers, resolution_to_sigma
from estimators.features import residue_frames
from estimators.residue_classifier import (SixDResidueClassifier, density_radial_grid,
                                           power_spectrum, residue_density_coefficients,
                                           residue_centres_frames)
from estimators.structures import read_structure

LMAX, N_RADIAL = 3, 4


def _toy_data(rng, n_per_class=24, n_classes=3):
    """Coefficients of three kinds of point patterns (one, two or three Gaussians), jittered."""
    grid = density_radial_grid(N_RADIAL)
    X, y = [], []
    for c in range(n_classes):
        base = rng.uniform(-2.5, 2.5, (c + 1, 3))
        pts = base + 0.3 * rng.standard_normal((n_per_class, c + 1, 3))
        coeffs = expand_points(pts, np.ones((n_per_class, c + 1, 1)), grid, LMAX, 1.0)
        X.append(coeffs)
        y += [f"class{c}"] * n_per_class
    return np.concatenate(X), np.array(y)


def test_fit_predict_shapes_and_probabilities(rng):
    X, y = _toy_data(rng)
    clf = SixDResidueClassifier(n_channels=3, n_switch=8, n_hidden=16, epochs=25, batch_size=16,
                                learning_rate=1e-2, random_state=1)
    assert clf.fit(X, y) is clf
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert (proba >= 0).all()
    pred = clf.predict(X)
    assert pred.shape == (len(X),) and set(pred) <= set(clf.classes_)
    np.testing.assert_array_equal(clf.classes_, ["class0", "class1", "class2"])
    assert clf.score(X, y) > 0.9           # separable toy classes; chance is 1/3
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]
    assert clf.n_params_ == sum(v.size for v in clf.params_.values())
    np.testing.assert_array_equal(clf.predict(X[:5, ..., 0]), pred[:5])   # channel axis optional


def test_early_stopping_on_held_out_groups(rng):
    X, y = _toy_data(rng, n_per_class=12)
    groups = np.arange(len(X)) % 6
    clf = SixDResidueClassifier(n_channels=2, n_switch=4, n_hidden=8, epochs=4, batch_size=16,
                                validation_fraction=0.34, patience=2, class_weight="balanced")
    clf.fit(X, y, groups=groups)
    assert all("val_cross_entropy" in h for h in clf.history_)


def test_sklearn_clone_and_params():
    clf = SixDResidueClassifier(n_channels=5, epochs=3)
    params = clf.get_params()
    assert params["n_channels"] == 5 and params["epochs"] == 3 and params["rho_max"] == math.pi
    other = clone(clf)
    assert other is not clf and other.get_params() == params
    other.set_params(n_hidden=7)
    assert other.n_hidden == 7 and clf.n_hidden == 64
    assert not any(k.endswith("_") for k in vars(SixDResidueClassifier()))
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, N_RADIAL, 16)))


def test_bad_input(rng):
    X, y = _toy_data(rng, n_per_class=4)
    with pytest.raises(ValueError, match="n_coef"):
        SixDResidueClassifier(epochs=1).fit(X[:, :, :15], y)
    with pytest.raises(ValueError, match="shape"):
        SixDResidueClassifier(epochs=1).fit(X[:, 0, 0], y)
    with pytest.raises(ValueError, match="y must"):
        SixDResidueClassifier(epochs=1).fit(X, y[:-1])
    with pytest.raises(ValueError, match="two classes"):
        SixDResidueClassifier(epochs=1).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="epochs"):
        SixDResidueClassifier(epochs=0).fit(X, y)
    bad = X.copy()
    bad[0, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SixDResidueClassifier(epochs=1).fit(bad, y)
    clf = SixDResidueClassifier(n_channels=2, n_switch=4, n_hidden=4, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict(X[:, :3])


def test_power_spectrum_is_rotation_invariant(rng):
    X, _ = _toy_data(rng, n_per_class=2)
    D = wigner_d_real(LMAX, random_rotations(rng=rng))
    np.testing.assert_allclose(power_spectrum(rotate(X, D)), power_spectrum(X), rtol=1e-10,
                               atol=1e-12 * np.abs(X).max() ** 2)
    assert power_spectrum(X).shape == X.shape[:2] + (LMAX + 1, 1)


def _tripeptide(shared_dir, first=51):
    s = read_structure(shared_dir / "data" / "natives" / "1a32.pdb")
    atoms = np.isin(s.atom_res, [first, first + 1, first + 2])
    n, ca, c, ok = s.backbone()
    sel = np.arange(first, first + 3)
    assert ok[sel].all()
    # expansion centres: the first two residues (ASP52, VAL53 of 1A32, compact: all atoms
    # within 6.8 A of their C-alphas)
    return s.coords[atoms], atomic_numbers(s)[atoms], n[sel[:2]], ca[sel[:2]], c[sel[:2]]


def _pipeline(coords, z, n, ca, c, r_cut, clf):
    """Simulate a map, expand it around the CAs in backbone frames, classify."""
    m = simulate_density(coords, z, resolution=2.0, voxel_size=0.25, sampling="sample", cutoff=8.0,
                         padding=4.0, dtype=np.float64)
    X = residue_density_coefficients(m, ca, residue_frames(n, ca, c), lmax=LMAX, n_radial=N_RADIAL,
                                     r_max=r_cut)
    return X, clf.predict_proba(X)


def test_predictions_invariant_to_rigid_motion_of_the_structure(shared_dir, rng):
    """Map simulated after a rotation + translation (new grid orientation): same probabilities.

    The whole density lies inside the ball (r_cut >= farthest atom + 8 sigma) and the point-sampled
    map is spectrally accurate (sigma / h = 1.8), so the voxel quadrature is exact to rounding.
    """
    coords, z, n, ca, c = _tripeptide(shared_dir)
    sigma = resolution_to_sigma(2.0)
    r_cut = float(np.linalg.norm(coords[None] - ca[:, None], axis=-1).max() + 8 * sigma + 0.5)
    X0, y0 = _toy_data(rng, n_per_class=6)
    scale = 1e3 / np.abs(X0).max()
    clf = SixDResidueClassifier(n_channels=3, n_switch=6, n_hidden=8, epochs=2, batch_size=8)
    clf.fit(X0 * scale, y0)
    X_ref, p_ref = _pipeline(coords, z, n, ca, c, r_cut, clf)
    R, t = random_rotations(rng=rng), np.array([3.3, -7.1, 12.9])
    move = lambda x: x @ R.T + t
    X_rot, p_rot = _pipeline(move(coords), z, move(n), move(ca), move(c), r_cut, clf)
    np.testing.assert_allclose(X_rot, X_ref, rtol=0, atol=1e-9 * np.abs(X_ref).max())
    np.testing.assert_allclose(p_rot, p_ref, rtol=0, atol=1e-9)
    # not trivially constant: the two residues get different probabilities
    assert np.abs(p_ref[0] - p_ref[1]).max() > 1e-6


def test_coefficients_in_frames_match_the_atoms_expansion(shared_dir):
    """Map coefficients == Eq. 2 expansion of the same Gaussians (independent path)."""
    coords, z, n, ca, c = _tripeptide(shared_dir)
    sigma = resolution_to_sigma(2.0)
    r_cut = float(np.linalg.norm(coords[None] - ca[:, None], axis=-1).max() + 8 * sigma + 0.5)
    m = simulate_density(coords, z, resolution=2.0, voxel_size=0.25, sampling="sample", cutoff=8.0,
                         padding=4.0, dtype=np.float64)
    frames = residue_frames(n, ca, c)
    X = residue_density_coefficients(m, ca[:1], frames[:1], lmax=LMAX, n_radial=N_RADIAL, r_max=r_cut)
    local = (coords - ca[0]) @ frames[0]
    # Eq. 1 features t_n = Z_n (2 pi sigma^2)^(-3/2) give normalized Gaussians of weight Z_n
    t = (z / (2 * math.pi * sigma ** 2) ** 1.5)[:, None]
    ref = expand_points(local, t, density_radial_grid(N_RADIAL), LMAX, sigma)
    np.testing.assert_allclose(X[0], ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def test_residue_centres_frames(shared_dir):
    s = read_structure(shared_dir / "data" / "natives" / "1a32.pdb")
    residues, centres, frames = residue_centres_frames(s)
    n, ca, c, ok = s.backbone()
    np.testing.assert_array_equal(residues, np.flatnonzero(ok))
    np.testing.assert_allclose(centres, ca[ok])
    np.testing.assert_allclose(frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), frames.shape),
                               atol=1e-12)
    assert isinstance(density_radial_grid(5), RadialGrid)
    with pytest.raises(ValueError, match="n_radial"):
        density_radial_grid(1)
