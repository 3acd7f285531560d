"""Simulated density maps and MRC/CCP4 I/O (estimators.density_maps)."""
import math

import numpy as np
import pytest
from scipy.special import erf

from estimators.density_maps import (DensityMap, SIGMA_FACTOR, atomic_numbers, read_map,
                                     resolution_to_sigma, simulate_density, structure_density,
                                     write_map)
from estimators.structures import read_structure

mrcfile = pytest.importorskip("mrcfile")


def _atoms(rng, n=12, box=6.0):
    coords = rng.uniform(-box, box, (n, 3))
    weights = rng.choice([6.0, 7.0, 8.0, 16.0], n)
    return coords, weights


def _grid_points(m):
    axes = [m.origin[a] + np.arange(m.shape[a]) * m.voxel_size[a] for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1)


def test_sigma_from_resolution_molmap_rule():
    d = 1.5
    sigma = resolution_to_sigma(d)
    assert sigma == pytest.approx(d / (math.pi * math.sqrt(2.0)))
    assert SIGMA_FACTOR == pytest.approx(0.2250790790392765)
    # the atom's Fourier transform exp(-sigma^2 k^2 / 2) falls to 1/e at k = 2 pi / d
    assert math.exp(-0.5 * (sigma * 2 * math.pi / d) ** 2) == pytest.approx(math.exp(-1.0))
    with pytest.raises(ValueError, match="resolution"):
        resolution_to_sigma(-1.0)


@pytest.mark.parametrize("voxel", [0.5, 0.3])
def test_average_map_integrates_to_sum_of_weights(rng, voxel):
    coords, weights = _atoms(rng)
    m = simulate_density(coords, weights, resolution=1.5, voxel_size=voxel, sampling="average",
                         dtype=np.float64)
    # exact up to the 5-sigma tails: 1 - erf(5/sqrt 2)^3 ~ 1.7e-6
    assert m.integral() == pytest.approx(weights.sum(), rel=2e-6)
    assert (m.values >= 0).all()


def test_sampled_map_integrates_to_sum_of_weights(rng):
    coords, weights = _atoms(rng)
    sigma = resolution_to_sigma(1.5)
    m = simulate_density(coords, weights, resolution=1.5, voxel_size=sigma / 1.2,
                         sampling="sample", cutoff=8.0, dtype=np.float64)
    # aliasing bound 2 exp(-2 pi^2 1.2^2) per atom and axis ~ 1e-12; tails exp(-32)
    assert m.integral() == pytest.approx(weights.sum(), rel=1e-9)


def test_sampled_map_equals_direct_sum_of_gaussians(rng):
    coords, weights = _atoms(rng, n=5, box=3.0)
    sigma = resolution_to_sigma(2.0)
    m = simulate_density(coords, weights, resolution=2.0, voxel_size=0.4, sampling="sample",
                         cutoff=30.0, dtype=np.float64)
    pts = _grid_points(m)
    d2 = ((pts[..., None, :] - coords) ** 2).sum(-1)
    direct = (weights * np.exp(-d2 / (2 * sigma ** 2))).sum(-1) / (2 * math.pi * sigma ** 2) ** 1.5
    np.testing.assert_allclose(m.values, direct, rtol=1e-12, atol=1e-14 * direct.max())


def test_averaged_map_equals_cell_mean_by_midpoint_rule(rng):
    coords, weights = _atoms(rng, n=4, box=2.0)
    sigma = resolution_to_sigma(1.5)
    voxel = 0.5
    m = simulate_density(coords, weights, resolution=1.5, voxel_size=voxel, sampling="average",
                         cutoff=30.0, dtype=np.float64)
    pts = _grid_points(m)
    sub = (np.arange(16) + 0.5) / 16 - 0.5                   # 16 midpoints per axis
    acc = np.zeros(m.shape)
    g1 = lambda d: np.exp(-d ** 2 / (2 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)
    for a, w in zip(coords, weights):
        per_axis = [g1(pts[..., k, None] + sub * voxel - a[k]).mean(-1) for k in range(3)]
        acc += w * per_axis[0] * per_axis[1] * per_axis[2]
    np.testing.assert_allclose(m.values, acc, atol=2e-3 * acc.max())


def test_grid_defaults_follow_molmap(rng):
    coords, weights = _atoms(rng)
    m = simulate_density(coords, weights, resolution=1.5)
    np.testing.assert_allclose(m.voxel_size, 0.5)
    np.testing.assert_allclose(m.origin, coords.min(0) - 4.5)
    assert m.values.dtype == np.float32
    top = m.origin + (np.array(m.shape) - 1) * 0.5
    assert (top >= coords.max(0) + 4.5 - 0.5).all()


def test_quarter_turn_permutes_map_exactly(rng):
    """A 90-degree rotation about z on a compatible grid just permutes the voxels."""
    coords, weights = _atoms(rng)
    m = simulate_density(coords, weights, 1.5, 0.5, origin=(-10, -10, -10), shape=(41, 41, 41),
                         dtype=np.float64)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    mr = simulate_density(coords @ rz.T, weights, 1.5, 0.5, origin=(-10, -10, -10),
                          shape=(41, 41, 41), dtype=np.float64)
    # new(x, y, z) = old(y, -x, z): new[i, j] = old[j, 40 - i]
    np.testing.assert_allclose(mr.values, np.rot90(m.values, k=1, axes=(0, 1)), atol=1e-12)


def test_density_outside_explicit_grid_is_dropped():
    m = simulate_density([[0.0, 0.0, 0.0]], [6.0], 1.5, 0.5, origin=(0, -5, -5), shape=(11, 21, 21),
                         dtype=np.float64)
    sigma = resolution_to_sigma(1.5)
    # kept: cells whose centre is within 5 sigma + h/2 = 1.94 A, i.e. out to the edge at 1.75 A;
    # along x only those from the grid's first cell, whose lower edge is x = -0.25
    s2 = sigma * math.sqrt(2)
    kept_x = 0.5 * (erf(1.75 / s2) + erf(0.25 / s2))
    tails = erf(1.75 / s2) ** 2
    assert m.integral() == pytest.approx(6.0 * kept_x * tails, rel=1e-9)


def test_structure_density_weights_by_atomic_number(shared_dir):
    s = read_structure(shared_dir / "data" / "natives" / "1a32.pdb")
    z = atomic_numbers(s)
    first = [n[0] for n in s.atom_names]
    assert set(np.unique(z)) <= {6.0, 7.0, 8.0, 16.0}
    assert all(z[i] == {"C": 6, "N": 7, "O": 8, "S": 16}[e] for i, e in enumerate(first))
    m = structure_density(s, resolution=1.5)
    assert m.integral() == pytest.approx(z.sum(), rel=2e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="coords"):
        simulate_density(np.zeros((3, 2)), np.ones(3), 1.5)
    with pytest.raises(ValueError, match="weights"):
        simulate_density(np.zeros((3, 3)), np.ones(2), 1.5)
    with pytest.raises(ValueError, match="sampling"):
        simulate_density(np.zeros((1, 3)), np.ones(1), 1.5, sampling="nearest")
    with pytest.raises(ValueError, match="both"):
        simulate_density(np.zeros((1, 3)), np.ones(1), 1.5, origin=(0, 0, 0))
    with pytest.raises(ValueError, match="finite"):
        simulate_density(np.full((1, 3), np.nan), np.ones(1), 1.5)


def test_mrc_round_trip(tmp_path, rng):
    values = rng.standard_normal((7, 5, 4)).astype(np.float32)
    origin = np.array([-3.25, 10.5, 0.75])
    voxel = np.array([0.5, 0.25, 0.75])
    path = write_map(tmp_path / "m.mrc", DensityMap(values, origin, voxel))
    v, o, h = read_map(path)
    np.testing.assert_array_equal(v, values)
    np.testing.assert_allclose(o, origin, rtol=1e-6)
    np.testing.assert_allclose(h, voxel, rtol=1e-6)
    # also accepts a (values, origin, voxel) triple
    write_map(tmp_path / "t.map", (values, origin, 0.5))
    np.testing.assert_allclose(read_map(tmp_path / "t.map")[2], 0.5)


def test_read_map_with_permuted_axes_and_start_indices(tmp_path, rng):
    """A CCP4-style file: sections along y, rows along x, columns along z, origin via nstart."""
    values = rng.standard_normal((6, 5, 4)).astype(np.float32)        # (x, y, z)
    data = np.ascontiguousarray(values.transpose(1, 0, 2))             # [section=y, row=x, col=z]
    path = tmp_path / "perm.ccp4"
    with mrcfile.new(str(path)) as mrc:
        mrc.set_data(data)
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 1, 2
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = 7, -2, 3   # col, row, sec
        mrc.header.cella.x, mrc.header.cella.y, mrc.header.cella.z = 6 * 0.5, 5 * 0.5, 4 * 0.5
        mrc.header.mx, mrc.header.my, mrc.header.mz = 6, 5, 4
    v, o, h = read_map(path)
    np.testing.assert_array_equal(v, values)
    np.testing.assert_allclose(h, 0.5)
    # x <- rows (start -2), y <- sections (start 3), z <- columns (start 7)
    np.testing.assert_allclose(o, np.array([-2, 3, 7]) * 0.5)


def test_read_map_bad_file(tmp_path):
    bad = tmp_path / "bad.mrc"
    bad.write_bytes(b"not a map" * 10)
    with pytest.raises(ValueError, match="MRC"):
        read_map(bad)
