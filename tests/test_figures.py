"""The documentation figures (docs/figures/make_figures.py) in quick mode, and the checked-in PNGs.

Quick mode: L = 2, 4, two rotations, coarse grids (about 15 s).  The Fig. 2 numbers checked here are
those quoted (from the full run) in docs/figures.rst: the 6D convolution's maximum within hundredths of
an Angstrom of the copy's centre of mass at L = 4, and a negligible translation error within sigma L / 2.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[1]
FIGDIR = REPO / "docs" / "figures"
NAMES = ("fig2_maps", "fig2_localisation", "fig2_translation", "learned_filters")
MAX_BYTES = 300 * 1024


@pytest.fixture(scope="module")
def mf():
    spec = importlib.util.spec_from_file_location("make_figures", FIGDIR / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(mf, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    return out, mf.make_figures(out, quick=True, verbose=False)


def test_quick_run_writes_every_png(quick):
    out, results = quick
    assert set(results) == set(NAMES)
    for name in NAMES:
        path = out / f"{name}.png"
        assert results[name][0] == path
        assert path.is_file()
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert 5_000 < path.stat().st_size < MAX_BYTES, name
    numbers = json.loads((out / "figure_numbers.json").read_text())
    assert numbers["quick"] is True and set(NAMES) <= set(numbers)


def test_fig2_convolution_maximum_is_at_the_centre_of_mass(quick):
    n = quick[1]["fig2_maps"][1]
    assert n["lmax"] == 4
    assert n["centred_peak_error_A"] < 0.1           # measured 0.013 A
    assert n["centred_peak_value"] > 0
    # from the frame shifted by 3 sqrt(3) A the L = 4 expansion is truncated: the peak is lower and
    # further from the centre of mass, but still close (measured 0.18 A, peak 94 vs 203)
    assert n["shifted_peak_error_A"] < 0.5
    assert n["shifted_peak_value"] < n["centred_peak_value"]


def test_fig2_localisation_errors(quick, mf):
    n = quick[1]["fig2_localisation"][1]
    assert n["lmax"] == [2, 4]
    six, conv = (np.array(n["max_error_A"][v]) for v in mf.VARIANTS[:2])
    assert np.all(np.isfinite(six)) and six[1] < 0.1          # measured 0.015 A at L = 4
    assert six[1] <= six[0]                                   # no worse at L = 4 than at L = 2
    assert six[1] < conv[1]                                   # 6D beats the 3D convolution at L = 4
    for v in mf.VARIANTS:
        assert max(n["max_error_A"][v]) < 0.2


def test_fig2_translation_errors(quick):
    n = quick[1]["fig2_translation"][1]
    rec = np.array(n["recovery"])
    op = np.array(n["operator"])
    for L, e in n["recovery_at_sigma_L_over_2"].items():
        assert e < 1e-2, (L, e)                               # negligible within sigma L / 2
    assert np.all(np.diff(rec, axis=1) > 0)                   # grows with the displacement
    assert np.all(rec[1] < rec[0])                            # falls with L (L = 4, 8)
    assert op[0].max() < 2e-3 and op[1].max() < 2e-7          # Eq. 5 itself: truncation-limited


def test_learned_filters(quick):
    n = quick[1]["learned_filters"][1]
    assert len(n["filters"]) == 4
    assert (n["lmax"], n["n_radial"]) == (4, 5)
    for f in n["filters"]:
        assert np.isfinite(f["max_abs"]) and f["max_abs"] > 0
        assert f["min"] < 0 < f["max"]
    norms = [f["parseval_norm2"] for f in n["filters"]]
    assert norms == sorted(norms, reverse=True)


def test_command_line(mf, tmp_path):
    assert mf.main(["--quick", "--out", str(tmp_path), "--only", "fig2_translation"]) == 0
    assert (tmp_path / "fig2_translation.png").is_file()
    assert not (tmp_path / "fig2_maps.png").exists()


def test_checked_in_figures_are_small_and_shown_in_the_docs():
    page = (REPO / "docs" / "figures.rst").read_text(encoding="utf-8")
    for name in NAMES:
        path = FIGDIR / f"{name}.png"
        assert path.is_file(), path
        assert path.stat().st_size < MAX_BYTES, name
        assert f"figures/{name}.png" in page, name
    for name in ("qa_casp13_global", "qa_casp13_profile"):
        assert f"../benchmarks/figures/{name}.png" in page
        assert (REPO / "benchmarks" / "figures" / f"{name}.png").is_file()
    numbers = json.loads((FIGDIR / "figure_numbers.json").read_text())
    assert numbers["quick"] is False                          # the checked-in figures are full runs
    # the caption's numbers are those of the checked-in run
    assert f"{numbers['fig2_maps']['centred_peak_error_A']:.3f}" in page
    six = numbers["fig2_localisation"]["max_error_A"]["6D convolution (Eq. 4)"]
    assert f"{six[numbers['fig2_localisation']['lmax'].index(4)]:.3f}" in page
    assert "   figures" in (REPO / "docs" / "index.rst").read_text(encoding="utf-8")
