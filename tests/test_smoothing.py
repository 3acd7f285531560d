"""Per-residue scores smoothed along the chain (estimators/smoothing.py)."""
import math

import numpy as np
import pytest

from estimators.smoothing import chain_runs, check_width, smooth_along_chain


def _chain(n, breaks=(), step=3.8):
    """CA atoms on a straight line 3.8 A apart, with a 10 A gap after each index in ``breaks``."""
    x = np.arange(n, dtype=np.float64) * step
    for b in breaks:
        x[b + 1:] += 10.0
    return np.c_[x, np.zeros(n), np.zeros(n)]


def _direct(values, ca, sigma, max_step=4.2):
    """Independent reference: a double loop over residues and their same-run neighbours."""
    n = len(values)
    ok = np.isfinite(values) & np.isfinite(ca).all(axis=1)
    run_of = np.full(n, -1)
    run = 0
    for i in range(n):
        if not ok[i]:
            continue
        if i > 0 and ok[i - 1] and np.linalg.norm(ca[i] - ca[i - 1]) <= max_step:
            run_of[i] = run_of[i - 1]
        else:
            run += 1
            run_of[i] = run
    half = math.ceil(3 * sigma)
    out = np.array(values, dtype=np.float64)
    for i in range(n):
        if run_of[i] < 0:
            continue
        num = den = 0.0
        for j in range(max(0, i - half), min(n, i + half + 1)):
            if run_of[j] == run_of[i]:
                w = math.exp(-(i - j) ** 2 / (2 * sigma ** 2))
                num += w * values[j]
                den += w
        out[i] = num / den
    return out


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 4.0])
def test_matches_a_direct_double_loop(rng, sigma):
    n = 60
    values = rng.random(n)
    ca = _chain(n, breaks=(14, 40))
    values[[5, 33]] = np.nan                       # unscored residues end a run
    ca[50] = np.nan                                # a residue without CA
    got = smooth_along_chain(values, ca, sigma)
    want = _direct(values, ca, sigma)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
    assert np.isnan(got[5]) and np.isnan(got[33])
    assert got[50] == values[50]                   # no CA: left as it is


def test_properties(rng):
    n = 40
    ca = _chain(n, breaks=(19,))
    values = rng.random(n)
    np.testing.assert_array_equal(smooth_along_chain(values, ca, 0.0), values)
    np.testing.assert_allclose(smooth_along_chain(np.full(n, 0.7), ca, 3.0), 0.7, atol=1e-15)
    out = smooth_along_chain(values, ca, 2.0)
    for lo, hi in ((0, 20), (20, 40)):
        assert values[lo:hi].min() <= out[lo:hi].min() and out[lo:hi].max() <= values[lo:hi].max()
    # the two runs do not see each other
    other = values.copy()
    other[20:] = rng.random(20)
    np.testing.assert_array_equal(smooth_along_chain(other, ca, 2.0)[:20], out[:20])
    # smoothing lowers the variance of noise
    noise = rng.standard_normal(400)
    assert smooth_along_chain(noise, _chain(400), 2.0).var() < 0.3 * noise.var()
    # a rigid motion of the chain changes nothing
    R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    np.testing.assert_array_equal(smooth_along_chain(values, ca @ R.T + 5.0, 2.0), out)


def test_chain_runs_and_errors():
    ca = _chain(10, breaks=(3,))
    values = np.ones(10)
    values[7] = np.nan
    assert chain_runs(values, ca) == [(0, 4), (4, 7), (8, 10)]
    assert chain_runs(np.zeros(0), np.zeros((0, 3))) == []
    assert chain_runs([0.5], [[0.0, 0.0, 0.0]]) == [(0, 1)]
    cis = _chain(5, step=2.9)                       # cis peptide steps stay joined
    assert chain_runs(np.ones(5), cis) == [(0, 5)]
    with pytest.raises(ValueError, match="sigma"):
        smooth_along_chain(values, ca, -1.0)
    with pytest.raises(ValueError, match="sigma"):
        smooth_along_chain(values, ca, float("nan"))
    assert check_width("2.5") == 2.5 and check_width(0) == 0.0
    for bad in (None, "x", -0.1, float("inf")):
        with pytest.raises(ValueError, match="local_smoothing must be"):
            check_width(bad, "local_smoothing")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        smooth_along_chain(values, ca[:5], 1.0)
