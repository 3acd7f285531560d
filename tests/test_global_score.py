"""Global scores with the target's length: the residues a model lacks count as 0 (CASP's global
lDDT); the FASTA reader; the estimator's and the command line's use of them."""
import csv
import json
import math

import numpy as np
import pytest

from estimators.global_score import (check_target_length, coverage, global_score,
                                     global_scores, sequence_length)
from estimators.pretrained import load_pretrained, pretrained_path

from conftest import REPO, SHARED

EXAMPLE = REPO / "examples" / "T1006_ACOMPMOD_TS1.pdb"


def test_global_score_closed_form():
    local = np.array([0.2, np.nan, 0.6, 0.7])                 # one residue not scored
    assert global_score(local) == pytest.approx(0.5)
    # the unscored residue is part of the model: mean 0.5 times coverage 4 / 10
    assert global_score(local, 10) == pytest.approx(0.5 * 0.4)
    assert global_score(local, 4) == pytest.approx(0.5)
    assert math.isnan(global_score(np.full(3, np.nan), 10)) and math.isnan(global_score([]))
    with pytest.raises(ValueError, match="model_x has 4 residues, more than the target's 3"):
        global_score(local, 3, name="model_x")
    assert coverage(30, 120) == 0.25
    for bad in (0, -3, 2.5, "ten", None, float("nan")):
        with pytest.raises(ValueError, match="target_length must be a whole number"):
            check_target_length(bad)
    assert check_target_length(12.0) == 12


def test_global_scores_per_model_lengths():
    preds = [np.array([0.5, 0.5]), None, np.array([0.8])]
    np.testing.assert_allclose(global_scores(preds, [4, 9, 2]), [0.25, np.nan, 0.4])
    np.testing.assert_allclose(global_scores(preds, 4), [0.25, np.nan, 0.2])
    np.testing.assert_allclose(global_scores(preds), [0.5, np.nan, 0.8])
    with pytest.raises(ValueError, match="3 models but 2 target lengths"):
        global_scores(preds, [4, 4])
    with pytest.raises(ValueError, match="a.pdb has 2 residues, more than the target's 1"):
        global_scores(preds[:1], 1, models=["a.pdb"])


def test_sequence_length_of_fasta_files(tmp_path):
    f = tmp_path / "t.fasta"
    f.write_text(">T1\nMKVL\nAAG*\n")
    assert sequence_length(f) == 7
    f.write_text("MKVLAAG\n")                                   # no header line
    assert sequence_length(f) == 7
    for text, match in ((">a\nMK\n>b\nLL\n", "expected one sequence"),
                        (">a\n\n", "expected one sequence"),
                        (">a\nMK1V\n", "not residue letters: 1")):
        f.write_text(text)
        with pytest.raises(ValueError, match=match):
            sequence_length(f)
    with pytest.raises(ValueError, match="cannot read"):
        sequence_length(tmp_path / "missing.fasta")
    casp = SHARED / "data" / "casp13"
    if casp.is_dir():
        # the CASP13 labels run over positions 1..L of the target sequence
        for target in ("T0953s1", "T0967", "T0974s1", "T1006"):
            labels = json.loads((casp / target / "labels.json").read_text())
            first = next(iter(labels.values()))
            assert sequence_length(casp / target / f"{target}.fasta") == len(first["lddt_local"])


@pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")
def test_estimator_and_command_line_use_the_target_length(tmp_path):
    from estimators.cli import main
    est = load_pretrained()
    (full,) = est.predict_global([str(EXAMPLE)])
    (half,) = est.predict_global([str(EXAMPLE)], target_length=158)      # 79 residues of 158
    assert half == pytest.approx(full / 2, rel=1e-12)
    network = est.estimators_[0]                      # one network of the shipped ensemble
    one, one_half = network.predict_global(str(EXAMPLE)), network.predict_global(
        [str(EXAMPLE)], target_length=[158])
    assert one_half[0] == pytest.approx(one[0] / 2, rel=1e-12)
    with pytest.raises(ValueError, match="target_length must be"):
        est.predict_global([str(EXAMPLE)], target_length=0)
    out = tmp_path / "out"
    fasta = tmp_path / "target.fasta"
    fasta.write_text(">T\n" + "A" * 158 + "\n")
    assert main(["score", str(EXAMPLE), "-o", str(out), "--no-progress", "--no-bfactor",
                 "--sequence", str(fasta), "--format", "casp", "--target", "T1006"]) == 0
    (row,) = list(csv.DictReader(open(out / "scores.csv")))
    assert row["coverage"] == "0.5000"
    assert float(row["global_score"]) == pytest.approx(full / 2, abs=1e-4)
    assert json.loads((out / "run.json").read_text())["target_length"] == 158
    casp_line = [l for l in (out / "casp_qa.txt").read_text().splitlines()
                 if l.startswith(EXAMPLE.name)][0]
    assert float(casp_line.split()[1]) == pytest.approx(full / 2, abs=1e-4)
    # without a target length: the mean, an empty coverage cell
    assert main(["score", str(EXAMPLE), "-o", str(tmp_path / "plain"), "--no-progress",
                 "--no-bfactor"]) == 0
    (row,) = list(csv.DictReader(open(tmp_path / "plain" / "scores.csv")))
    assert row["coverage"] == "" and float(row["global_score"]) == pytest.approx(full, abs=1e-4)
    # a model longer than the target: scored, its global score the mean, a warning
    assert main(["score", str(EXAMPLE), "-o", str(tmp_path / "long"), "--no-progress",
                 "--no-bfactor", "--target-length", "50"]) == 0
    (row,) = list(csv.DictReader(open(tmp_path / "long" / "scores.csv")))
    assert row["coverage"] == "1.0000" and row["n_warnings"] == "1"
    (warn,) = list(csv.DictReader(open(tmp_path / "long" / "warnings.csv")))
    assert "more than the target's 50" in warn["message"]
    assert main(["score", str(EXAMPLE), "-o", str(tmp_path / "x"), "--target-length", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["score", str(EXAMPLE), "--target-length", "9", "--sequence", str(fasta)])
