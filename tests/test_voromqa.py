"""Tests of benchmarks/voromqa.py (the VoroMQA wrapper used by benchmarks/qa_casp13.py)."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import load_benchmark

voromqa = load_benchmark("voromqa.py", "bench_voromqa")

needs_binary = pytest.mark.skipif(not voromqa.voromqa_available(),
                                  reason="voronota-voromqa is not installed")

MODELS = [("T0967", "ACOMPMOD_TS1"), ("T1006", None)]


@pytest.fixture
def casp_models(shared_dir):
    root = Path(shared_dir) / "data" / "casp13"
    if not root.is_dir():
        pytest.skip("CASP13 data not available")
    out = []
    for target, name in MODELS:
        folder = root / target / "models"
        out.append(folder / name if name else sorted(folder.iterdir())[0])
    return out


def _pdb_residues(path):
    """(resnum, resname) of the CA atoms of a PDB file, read directly from the text columns."""
    res = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("ATOM") and line[12:16].strip() == "CA":
            res.append((int(line[22:26]), line[17:20].strip()))
    return res


# --------------------------------------------------------------------------- parsing (no program needed)
def test_parse_residue_scores_ids_with_chain_and_icode():
    text = "c<A>r<5>R<GLY> 0.25\nc<A>r<5>i<B>R<ALA> 0.5\n\nr<-3>R<LYS> 1\n"
    rows = voromqa.parse_residue_scores(text)
    assert rows == [("A", 5, "", "GLY", 0.25), ("A", 5, "B", "ALA", 0.5), ("", -3, "", "LYS", 1.0)]


@pytest.mark.parametrize("text", ["r<1>R<GLY>\n", "r<x>R<GLY> 0.1\n", "r<1>R<GLY> abc\n", "foo 0.1\n"])
def test_parse_residue_scores_rejects_garbage(text):
    with pytest.raises(voromqa.VoroMQAError):
        voromqa.parse_residue_scores(text)


def test_parse_global_line_path_with_spaces():
    assert voromqa.parse_global_line("/a b/c d.pdb 0.404669 81 650\n") == (0.404669, 81, 650)
    with pytest.raises(voromqa.VoroMQAError):
        voromqa.parse_global_line("")
    with pytest.raises(voromqa.VoroMQAError):
        voromqa.parse_global_line("model.pdb nan 81 650")


def test_missing_program_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found on PATH.*apt-get install voronota"):
        voromqa.find_voromqa("no-such-voronota-voromqa-program")
    model = tmp_path / "m.pdb"
    model.write_text("END\n")
    with pytest.raises(FileNotFoundError, match="voronota"):
        voromqa.score_models([model], executable="no-such-voronota-voromqa-program")
    assert not voromqa.voromqa_available("no-such-voronota-voromqa-program")


# --------------------------------------------------------------------------- the real program
@needs_binary
def test_scores_parse_and_align(casp_models, tmp_path):
    from estimators.structures import read_structure
    cache = tmp_path / "cache.json"
    results = voromqa.score_models(casp_models, n_jobs=2, cache=cache)
    assert [r.path for r in results] == [str(p) for p in casp_models]
    for path, res in zip(casp_models, results):
        assert res.error is None
        assert 0.0 < res.global_score < 1.0
        # the residue table is the file's residues, read independently from the PDB columns
        pdb = _pdb_residues(path)
        assert res.n_residues == len(res.residues) == len(pdb)
        assert [(n, name) for _, n, _, name, _ in res.residues] == pdb
        scores = np.array([s for *_, s in res.residues])
        assert np.all((scores >= 0) & (scores <= 1)) and np.ptp(scores) > 0
        # aligned to the Structure by residue number
        s = read_structure(path)
        aligned = voromqa.residue_scores_for_structure(res, s)
        assert aligned.shape == (s.n_residues,)
        by_number = {n: sc for _, n, _, _, sc in res.residues}
        expect = np.array([by_number.get(int(n), np.nan) for n in s.resnums])
        np.testing.assert_array_equal(aligned, expect)
        assert np.isfinite(aligned).sum() == len(pdb)


@needs_binary
def test_cache_is_used_and_keyed_by_content(casp_models, tmp_path):
    cache = tmp_path / "sub" / "cache.json"
    first = voromqa.score_models(casp_models[:1], cache=cache)
    stored = json.loads(cache.read_text())
    assert len(stored) == 1
    # `false` exists but always fails: a second call can only succeed from the cache
    again = voromqa.score_models(casp_models[:1], cache=cache, executable="false")
    assert again[0].global_score == first[0].global_score
    assert again[0].residues == first[0].residues
    # a different file content is a cache miss (and the failing program is then reported)
    changed = tmp_path / "changed.pdb"
    changed.write_text("REMARK changed\n" + casp_models[0].read_text())
    with pytest.raises(voromqa.VoroMQAError, match="exited with status"):
        voromqa.score_models([changed], cache=cache, executable="false")
    with pytest.warns(RuntimeWarning, match="exited with status"):
        res = voromqa.score_models([changed], cache=cache, executable="false", errors="warn")
    assert np.isnan(res[0].global_score) and res[0].residues == [] and res[0].error
    assert len(json.loads(cache.read_text())) == 1          # failures are not cached
    # the real program scores the changed copy like the original (a REMARK changes nothing)
    real = voromqa.score_models([changed], cache=cache)
    assert real[0].global_score == pytest.approx(first[0].global_score)
    assert len(json.loads(cache.read_text())) == 2


@needs_binary
def test_residue_name_mismatch_gives_nan(casp_models):
    from estimators.structures import read_structure
    res = voromqa.run_voromqa(casp_models[0])
    s = read_structure(casp_models[0])
    names = np.array(s.resnames, dtype=object)
    names[3] = "TRP" if names[3] != "TRP" else "ALA"
    bad = dataclasses.replace(s, resnames=names.astype(str))
    with pytest.warns(RuntimeWarning, match="1 residue"):
        aligned = voromqa.residue_scores_for_structure(res, bad)
    good = voromqa.residue_scores_for_structure(res, s)
    assert np.isnan(aligned[3]) and np.isfinite(good[3])
    np.testing.assert_array_equal(np.delete(aligned, 3), np.delete(good, 3))


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="errors"):
        voromqa.score_models([], errors="ignore")
    with pytest.raises(FileNotFoundError, match="not found"):
        voromqa.score_models([tmp_path / "absent.pdb"])
    with pytest.raises(TypeError, match="VoroMQAResult"):
        voromqa.residue_scores_for_structure({"global_score": 0.5}, None)
