"""The fourier6d command line: score (CSV, B-factor PDB, CASP QA), failures, helpers."""
import csv
import shutil

import numpy as np
import pytest

from estimators.cli import main, collect_inputs, lddt_to_distance_error, write_casp_qa
from estimators.pretrained import load_pretrained, pretrained_path
from conftest import REPO

EXAMPLE = REPO / "examples" / "T1006_ACOMPMOD_TS1.pdb"


def test_distance_error_mapping():
    d = lddt_to_distance_error([1.0, 0.5, 0.2, 0.0])
    np.testing.assert_allclose(d[:3], [0.0, 5.0, 10.0])
    assert d[3] == 15.0  # capped


def test_casp_qa_file(tmp_path):
    write_casp_qa(tmp_path / "qa.txt", "T1006", [("m1", 0.75, np.array([1, 2, 4]),
                                                   np.array([0.5, np.nan, 0.2]))])
    lines = (tmp_path / "qa.txt").read_text().splitlines()
    assert lines[:6] == ["PFRMAT QA", "TARGET T1006", "AUTHOR fourier6d", "METHOD 6DCNN (fourier6d)",
                         "MODEL 1", "QMODE 2"]
    assert lines[6] == "m1 0.7500 5.00 X X 10.00"
    assert lines[-1] == "END"


def test_collect_inputs(tmp_path):
    (tmp_path / "a.pdb").write_text("x")
    (tmp_path / "b.pdb").write_text("x")
    got = collect_inputs([str(tmp_path), str(tmp_path / "*.pdb"), "missing.pdb"])
    assert got[:2] == [str(tmp_path / "a.pdb"), str(tmp_path / "b.pdb")]
    assert got[-1] == "missing.pdb"


@pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")
def test_score_writes_outputs_and_reports_failures(tmp_path, capsys):
    bad = tmp_path / "broken.pdb"
    bad.write_text("ATOM  garbage\n")
    model2 = tmp_path / "copy.pdb"
    shutil.copy(EXAMPLE, model2)
    out = tmp_path / "out"
    rc = main(["score", str(EXAMPLE), str(model2), str(bad), "-o", str(out), "--format", "casp",
               "--target", "T1006", "--no-progress"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert [r["model"] for r in rows] == [str(EXAMPLE), str(model2)]      # paths as given
    assert rows[0]["global_score"] == rows[1]["global_score"]
    g = float(rows[0]["global_score"])
    assert 0.0 <= g <= 1.0
    err = capsys.readouterr().err
    assert "broken.pdb" in err and "1 failed" in err
    failures = list(csv.DictReader(open(out / "failures.csv")))
    assert [(r["input"], r["stage"]) for r in failures] == [(str(bad), "read")]
    assert rows[0]["structure_file"] == "T1006_ACOMPMOD_TS1_lddt.pdb"
    pdb_lines = [l for l in open(out / "T1006_ACOMPMOD_TS1_lddt.pdb") if l.startswith("ATOM")]
    betas = np.array([float(l[60:66]) for l in pdb_lines])
    assert betas.min() >= 0 and betas.max() <= 1 and betas.std() > 0
    res = list(csv.DictReader(open(out / "residue_scores.csv")))
    vals = np.array([float(r["predicted_lddt"]) for r in res if r["model"] == str(model2)
                     and r["predicted_lddt"]])
    assert abs(vals.mean() - g) < 1e-3
    assert (out / "casp_qa.txt").read_text().startswith("PFRMAT QA")


@pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")
def test_score_exit_code_when_nothing_scored(tmp_path):
    bad = tmp_path / "empty.pdb"
    bad.write_text("")
    assert main(["score", str(bad), "-o", str(tmp_path / "o"), "--no-progress"]) == 1


def test_shipped_model_is_present_and_loads():
    from estimators.pretrained import load_pretrained
    est = load_pretrained()
    assert est.n_params_ > 0 and est.spec_["name"]


@pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")
def test_score_local_smoothing_option(tmp_path):
    import json
    from estimators.smoothing import smooth_along_chain
    from estimators.structures import read_structure

    def residue_scores(out, *extra):
        assert main(["score", str(EXAMPLE), "-o", str(out), "--no-progress", "--no-bfactor",
                     *extra]) == 0
        rows = list(csv.DictReader(open(out / "residue_scores.csv")))
        return np.array([float(r["predicted_lddt"]) if r["predicted_lddt"] else np.nan
                         for r in rows]), json.loads((out / "run.json").read_text())

    raw, info_raw = residue_scores(tmp_path / "raw", "--local-smoothing", "0")
    smooth, info_smooth = residue_scores(tmp_path / "smooth", "--local-smoothing", "4")
    default, info = residue_scores(tmp_path / "default")
    assert info_raw["local_smoothing"] == 0.0 and info_smooth["local_smoothing"] == 4.0
    shipped = load_pretrained()
    first = getattr(shipped, "estimators_", [shipped])[0]
    assert info["local_smoothing"] == first.local_smoothing        # the model's own setting
    assert info["local_refinement"] is first.applies_refinements()["local_refinement"]
    assert info["score_offset"] == getattr(shipped, "score_offset", 0.0)
    ca = read_structure(str(EXAMPLE)).backbone()[1]
    # the CSV holds 4 decimals; the smoothing acts on the (refined) unsmoothed scores
    np.testing.assert_allclose(smooth, smooth_along_chain(raw, ca, 4.0), atol=1e-4)
    assert np.nanstd(np.diff(smooth)) < np.nanstd(np.diff(raw))
    expected = smooth_along_chain(raw, ca, first.local_smoothing) if first.local_smoothing else raw
    np.testing.assert_allclose(default, expected, atol=1e-4)
    with pytest.raises(SystemExit):
        main(["score", str(EXAMPLE), "-o", str(tmp_path / "bad"), "--local-smoothing", "-2"])
