"""Tests of fourier6d.density (expansion of a function sampled on a 3D grid).

Reference: a map made by sampling a sum of Gaussians (Eq. 1) must have the
coefficients that expand_points gives for the same Gaussians (Eq. 2), up to
the aliasing error of the grid, ~exp(-sigma^2 (2 pi / h - rho_max)^2 / 2).
"""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fourier6d.density import expand_density
from fourier6d.expansion import expand_points
from fourier6d.radial import RadialGrid

SIGMA = 1.0
LMAX = 4
GRID = RadialGrid.from_sigma(SIGMA, 5)
R_CUT = 9.0
BOX = 11.0


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(5, 3))
    pts *= 1.0 / np.linalg.norm(pts, axis=1).max()
    feats = rng.normal(size=(5, 2))
    centres = np.array([[0.3, -0.2, 0.1], [1.0, 0.5, -0.4], [-0.6, 0.2, 0.9]])
    frames = Rotation.random(3, random_state=1).as_matrix()
    return pts, feats, centres, frames


def _sampled_map(pts, feats, h, sigma=SIGMA):
    ax = np.arange(-BOX, BOX + 1e-9, h)
    X = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1)
    return sum(feats[n] * np.exp(-((X - pts[n]) ** 2).sum(-1) / (2 * sigma ** 2))[..., None]
               for n in range(len(pts)))


# measured relative errors (max over coefficients): 2.0e-12, 3.3e-9, 8.1e-6
@pytest.mark.parametrize("h", [0.5, 0.7, 0.85])
def test_sampled_gaussians_match_expand_points(scene, h, xp):
    pts, feats, centres, frames = scene
    vals = _sampled_map(pts, feats, h)
    G = _host(expand_density(xp.asarray(vals), (-BOX,) * 3, h, xp.asarray(centres), GRID, LMAX,
                             R_CUT, frames=xp.asarray(frames)))
    ref = np.stack([expand_points((pts - c) @ F, feats, GRID, LMAX, SIGMA)
                    for c, F in zip(centres, frames)])
    err = np.abs(G - ref).max() / np.abs(ref).max()
    aliasing = math.exp(-SIGMA ** 2 * (2 * math.pi / h - GRID.rho_max) ** 2 / 2)
    assert err < aliasing + 1e-10, (h, err, aliasing)


def test_no_frame_smoothing_scalar_map_and_chunks(scene):
    pts, feats, centres, _ = scene
    h = 0.6
    vals = _sampled_map(pts, feats[:, :1], h)[..., 0]                   # scalar map
    s = 0.7
    G = expand_density(vals, (-BOX,) * 3, h, centres[None], GRID, LMAX, R_CUT, smoothing=s,
                       chunk_elements=1)                                 # one centre per block
    assert G.shape == (1, 3, GRID.n_radial, (LMAX + 1) ** 2, 1)
    # Gaussian (sigma) convolved with a normalized Gaussian (s): width sqrt(sigma^2 + s^2),
    # amplitude (sigma / sigma')^3
    s2 = math.sqrt(SIGMA ** 2 + s ** 2)
    ref = np.stack([expand_points(pts - c, feats[:, :1] * (SIGMA / s2) ** 3, GRID, LMAX, s2)
                    for c in centres])
    assert np.abs(G[0] - ref).max() < 1e-9 * np.abs(ref).max()


def test_cutoff_and_map_border():
    # A single voxel of value 1 at distance d from the centre: included iff d <= r_cut.
    vals = np.zeros((9, 9, 9))
    vals[6, 4, 4] = 1.0                                 # at x = 2 (origin 0, voxel 1, centre (4,4,4))
    c = np.array([[4.0, 4.0, 4.0]])
    G_in = expand_density(vals, (0, 0, 0), 1.0, c, GRID, 2, 2.0)
    G_out = expand_density(vals, (0, 0, 0), 1.0, c, GRID, 2, 1.99)
    assert np.abs(G_out).max() == 0.0
    assert abs(G_in[0, 0, 0, 0] - 4 * math.pi / math.sqrt(4 * math.pi)) < 1e-12   # 4 pi j_0(0) Y_00
    # centre near the border: voxels outside the map are zero, no index error
    G_edge = expand_density(vals, (0, 0, 0), 1.0, np.array([[0.1, 8.9, 0.0]]), GRID, 2, 5.0)
    assert np.isfinite(G_edge).all() and np.abs(G_edge).max() == 0.0


def test_bad_input():
    vals = np.zeros((4, 4, 4))
    with pytest.raises(ValueError):
        expand_density(vals, (0, 0, 0), 0.0, np.zeros((1, 3)), GRID, 2, 2.0)
    with pytest.raises(ValueError):
        expand_density(vals, (0, 0, 0), 1.0, np.zeros((1, 2)), GRID, 2, 2.0)
    with pytest.raises(ValueError):
        expand_density(vals, (0, 0, 0), 1.0, np.zeros((1, 3)), GRID, 2, -1.0)
    with pytest.raises(ValueError):
        expand_density(vals, (0, 0, 0), 1.0, np.zeros((2, 3)), GRID, 2, 2.0, frames=np.eye(3))
    with pytest.raises(ValueError):
        expand_density(np.zeros((4, 4)), (0, 0, 0), 1.0, np.zeros((1, 3)), GRID, 2, 2.0)
    with pytest.raises(TypeError):
        expand_density(vals.astype(complex), (0, 0, 0), 1.0, np.zeros((1, 3)), GRID, 2, 2.0)
    with pytest.raises(TypeError):
        expand_density(vals, (0, 0, 0), 1.0, np.zeros((1, 3)), 5, 2, 2.0)
