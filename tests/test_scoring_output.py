"""``fourier6d score`` output: exact failure list, unique identities, B-factor files equal to the
CSV, streaming (kill test), one run per folder (concurrency test), replacement of old results."""
import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bad_inputs import EXAMPLE, atom_lines, make_corpus, residues, set_chain, set_resnum
from conftest import REPO
from estimators.bfactor import residue_segments, write_bfactor_structure, format_value
from estimators.cli import main
from estimators.pretrained import pretrained_path
from estimators.scoring_output import (OUTPUT_COLUMNS, casp_positions, expand_inputs,
                                       read_results, run_status, structure_file_names)
from estimators.structures import read_structure

needs_model = pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _pdb_residues(path):
    """(chain, resnum, icode, B text) of each residue of a PDB file, in order; a TER or a change
    of (chain, resnum, icode) starts a new residue.  Every atom of a residue must carry the same
    B."""
    out, key = [], None
    for line in Path(path).read_text().splitlines():
        if line.startswith("TER"):
            key = None
            continue
        if not line.startswith("ATOM"):
            continue
        k = (line[21].strip(), int(line[22:26]), line[26].strip())
        b = line[60:66].strip()
        if k != key:
            out.append([k, b])
            key = k
        else:
            assert out[-1][1] == b, f"{path}: atoms of one residue with different B-factors"
    return out


def _cif_residues(path):
    lines = Path(path).read_text().splitlines()
    cols = [l.split(".", 1)[1] for l in lines if l.startswith("_atom_site.")]
    out, key = [], None
    for l in lines:
        if not l.startswith("ATOM"):
            continue
        v = dict(zip(cols, l.split()))
        k = (v["label_asym_id"], v["label_seq_id"])
        if k != key:
            out.append([(v["auth_asym_id"].strip("."), int(v["auth_seq_id"]),
                         v["pdbx_PDB_ins_code"].strip("?")), v["B_iso_or_equiv"]])
            key = k
    return out


def check_outputs(out, expected_inputs=None):
    """The invariants of an output folder: returns (scores, failures, warnings) rows."""
    try:
        import prody
        prody.confProDy(verbosity="none")
    except ImportError:
        prody = None
    scores = _rows(out / "scores.csv")
    failures = _rows(out / "failures.csv")
    warns = _rows(out / "warnings.csv")
    res = _rows(out / "residue_scores.csv")
    ids = [r["model"] for r in scores]
    failed = [r["input"] for r in failures]
    assert len(ids) == len(set(ids)), "a model id repeats in scores.csv"
    assert len(failed) == len(set(failed)), "an input repeats in failures.csv"
    assert not set(ids) & set(failed), "an input is both scored and failed"
    if expected_inputs is not None:
        assert sorted(ids + failed) == sorted(expected_inputs)
    by_model = {}
    for r in res:
        by_model.setdefault(r["model"], []).append(r)
    files = [r["structure_file"] for r in scores if r["structure_file"]]
    assert len(files) == len(set(files)), "two models share a B-factor file"
    for s in scores:
        rows = by_model[s["model"]]
        assert len(rows) == int(s["n_residues"])
        assert [int(r["residue_index"]) for r in rows] == list(range(1, len(rows) + 1))
        vals = [float(r["predicted_lddt"]) for r in rows if r["predicted_lddt"]]
        assert len(vals) == int(s["n_scored_residues"])
        assert abs(np.mean(vals) - float(s["global_score"])) < 6e-5
        if s["structure_file"]:
            f = out / s["structure_file"]
            got = _cif_residues(f) if f.suffix == ".cif" else _pdb_residues(f)
            assert len(got) == len(rows), f"{f}: {len(got)} residues, CSV {len(rows)}"
            for (key, b), r in zip(got, rows):
                assert key == (r["chain"], int(r["resnum"]), r["icode"])
                assert b == (r["predicted_lddt"] or "0.0000")
            if prody is not None:                # and as an independent reader sees the file
                ag = prody.parseMMCIF(str(f)) if f.suffix == ".cif" else prody.parsePDB(str(f))
                assert [f"{x.getBetas()[0]:.4f}" for x in ag.getHierView().iterResidues()] == \
                    [r["predicted_lddt"] or "0.0000" for r in rows], f
    assert set(by_model) == set(ids), "residue rows of a model without a scores.csv row"
    return scores, failures, warns


# ------------------------------------------------------------------------ unit level

def test_structure_file_names_are_unique():
    inputs = ["a/model.pdb", "b/model.pdb", "native.pdb.gz", "native.cif", "native.cif.gz",
              "T1006TS001_1", "x.pdb", "X.PDB", "c/odd name;$.pdb", ".hidden.pdb"]
    names = structure_file_names(inputs)
    assert len({n.lower() for n in names.values()}) == len(inputs)
    assert names["T1006TS001_1"] == "T1006TS001_1_lddt.pdb"
    assert names["a/model.pdb"].startswith("model__") and names["native.cif"].startswith("native__")
    assert all("/" not in n and ";" not in n and not n.startswith(".") for n in names.values())
    assert structure_file_names(inputs) == names            # deterministic


def test_expand_inputs_reports_empty_folders_patterns_and_repeats(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "m1.pdb").write_text("x")
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "empty").mkdir()
    inputs, problems = expand_inputs([str(tmp_path / "d"), str(tmp_path / "empty"),
                                      str(tmp_path / "none*.pdb"), str(tmp_path / "d" / "m1.pdb"),
                                      "missing.pdb"])
    assert inputs == [str(tmp_path / "d" / "m1.pdb"), "missing.pdb"]
    kinds = {(Path(i).name, m.split(":")[0]) for i, _, m in problems}
    assert ("empty", "error") in kinds and ("none*.pdb", "error") in kinds
    assert ("d", "note") in kinds and ("m1.pdb", "note") in kinds
    # a pattern matching folders expands them (e.g. 'casp13/*/models')
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "m1.pdb").write_text("x")
    inputs, _ = expand_inputs([str(tmp_path / "[de]")])
    assert inputs == [str(tmp_path / "d" / "m1.pdb"), str(tmp_path / "e" / "m1.pdb")]
    assert len(set(structure_file_names(inputs).values())) == 2


def _segment_structure(tmp_path):
    res = residues(atom_lines())
    seg2 = [set_resnum(l, int(l[22:26]) - 40) for l in sum(res[40:], [])]
    p = tmp_path / "segments.pdb"
    p.write_text("\n".join([set_chain(l, " ") for l in sum(res[:40], [])] + ["TER"]
                           + [set_chain(l, " ") for l in seg2]) + "\nEND\n")
    return read_structure(str(p))


def test_bfactor_file_keeps_segments_apart(tmp_path):
    s = _segment_structure(tmp_path)
    seg = residue_segments(s)
    assert seg.max() == 1 and (seg == 0).sum() == 40
    values = np.linspace(0.05, 0.95, s.n_residues)
    values[3] = np.nan
    path = write_bfactor_structure(s, values, tmp_path / "out_lddt.pdb")
    got = _pdb_residues(path)
    assert [b for _, b in got] == [format_value(v) or "0.0000" for v in values]
    prody = pytest.importorskip("prody")         # a reader grouping by (segment, chain, number)
    prody.confProDy(verbosity="none")
    hv = prody.parsePDB(str(path)).getHierView()
    assert hv.numResidues() == s.n_residues
    assert [f"{r.getBetas()[0]:.4f}" for r in hv.iterResidues()] == \
        [format_value(v) or "0.0000" for v in values]
    back = read_structure(str(path))             # the file reads back as the same structure
    assert back.n_residues == s.n_residues
    np.testing.assert_array_equal(back.coords, np.round(s.coords, 3))
    np.testing.assert_array_equal(back.resnums, s.resnums)


def test_bfactor_file_falls_back_to_mmcif(tmp_path):
    s = read_structure(str(EXAMPLE))
    s.chain_ids = np.array(["AB"] * s.n_residues)
    values = np.linspace(0, 1, s.n_residues)
    path = write_bfactor_structure(s, values, tmp_path / "m_lddt.pdb")
    assert path.suffix == ".cif"
    got = _cif_residues(path)
    assert [k for k, _ in got] == [("AB", int(r), "") for r in s.resnums]
    assert [b for _, b in got] == [format_value(v) for v in values]


def test_casp_positions_notes_what_is_left_out(tmp_path):
    res = residues(atom_lines())
    lines = sum(res[:3], []) + [set_resnum(l, 3, "A") for l in res[3]] + \
        [set_resnum(l, -1) for l in res[4]] + [set_chain(l, "B") for l in sum(res[5:], [])]
    lines = [set_chain(l, "A") if l[21] == " " else l for l in lines]
    p = tmp_path / "m.pdb"
    p.write_text("\n".join(lines) + "\n")
    s = read_structure(str(p))
    nums, vals, note = casp_positions(s, np.arange(s.n_residues) / 100)
    assert list(nums) == [1, 2, 3]
    assert "insertion code" in note and "number <= 0" in note and "chain other than 'A'" in note


# ------------------------------------------------------------------------ the corpus

@needs_model
def test_corpus_of_bad_inputs(tmp_path):
    cases = make_corpus(tmp_path / "in")
    assert len({c.kind for c in cases}) >= 40
    out = tmp_path / "out"
    rc = main(["score", *[c.path for c in cases], "-o", str(out), "--no-progress"])
    assert rc == 0
    scores, failures, warns = check_outputs(out, [c.path for c in cases])
    scored = {r["model"] for r in scores}
    failed = {r["input"]: r for r in failures}
    warned = {r["input"] for r in warns}
    for c in cases:
        if c.expect == "scored":
            assert c.path in scored, f"{c.kind}: not scored ({failed.get(c.path)})"
        elif c.expect == "failed":
            assert c.path in failed, f"{c.kind}: not in failures.csv"
            row = failed[c.path]
            assert row["stage"] == c.stage, f"{c.kind}: stage {row['stage']}"
            assert c.path in row["reason"], f"{c.kind}: reason does not name the input"
            assert "\n" not in row["reason"]
        if c.warn:
            assert c.path in warned, f"{c.kind}: no warning recorded"
    # the real error of a nucleic-acid-only file, not its warning
    dna = failed[next(c.path for c in cases if c.kind == "nucleic acid only")]
    assert "no protein" in dna["reason"]
    degenerate = failed[next(c.path for c in cases if c.kind.startswith("all atoms at one"))]
    assert "degenerate" in degenerate["reason"]
    # x.pdb is not blamed for x.pdb.gz's error
    assert next(c.path for c in cases if c.kind == "x.pdb beside x.pdb.gz (a)") in scored
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["n_scored"] == len(scores)
    assert run["n_failed"] == len(failures)


@needs_model
def test_strict_exit_status_and_no_bfactor(tmp_path):
    bad = tmp_path / "bad.pdb"
    bad.write_text("nothing\n")
    args = ["score", str(EXAMPLE), str(bad), "--no-progress", "--no-bfactor"]
    assert main(args + ["-o", str(tmp_path / "o1")]) == 0
    assert main(args + ["-o", str(tmp_path / "o2"), "--strict"]) == 1
    assert not list((tmp_path / "o1").glob("*_lddt.*"))
    assert _rows(tmp_path / "o1" / "scores.csv")[0]["structure_file"] == ""


@needs_model
def test_rerun_replaces_previous_results(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    legacy = out / "old_model_lddt.pdb"             # B-factor file of an older version
    legacy.write_text("REMARK   1 B-FACTOR = PREDICTED PER-RESIDUE LDDT (0-1) BY FOURIER6D; "
                      "0.00 = NOT SCORED\nEND\n")
    mine = out / "notes_lddt.pdb"                   # a user's file: kept
    mine.write_text("REMARK my own file\n")
    copy = tmp_path / "first.pdb"
    copy.write_text(EXAMPLE.read_text())
    assert main(["score", str(copy), "-o", str(out), "--no-progress"]) == 0
    assert (out / "first_lddt.pdb").exists() and not legacy.exists() and mine.exists()
    assert main(["score", str(EXAMPLE), "-o", str(out), "--no-progress", "--format", "casp",
                 "--target", "T1006"]) == 0
    assert not (out / "first_lddt.pdb").exists()
    assert [r["model"] for r in _rows(out / "scores.csv")] == [str(EXAMPLE)]
    assert (out / "casp_qa.txt").exists()
    assert main(["score", str(copy), "-o", str(out), "--no-progress"]) == 0
    assert not (out / "casp_qa.txt").exists() and mine.exists()
    check_outputs(out, [str(copy)])


# ------------------------------------------------------------------------ user errors

def _cli(args, **kw):
    return subprocess.run([sys.executable, "-m", "estimators.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=300, **kw)


@needs_model
def test_user_errors_are_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [(["score", str(EXAMPLE), "-o", str(afile)], "not a folder"),
             (["score", str(EXAMPLE), "--model", str(tmp_path / "nope.npz"), "-o",
               str(tmp_path / "o")], "nope.npz"),
             (["score", str(EXAMPLE), "--model", str(afile), "-o", str(tmp_path / "o")], "afile"),
             (["score", str(tmp_path / "a" / "m.pdb"), str(tmp_path / "b" / "m.pdb"),
               "--format", "casp", "--target", "T1", "-o", str(tmp_path / "o")],
              "unique model names"),
             (["score", str(EXAMPLE), "--format", "casp", "-o", str(tmp_path / "o")], "--target")]
    try:
        import cupy  # noqa: F401
    except ImportError:
        cases.append((["score", str(EXAMPLE), "--device", "cuda", "-o", str(tmp_path / "o")],
                      "CuPy"))
    for args, needle in cases:
        r = _cli(args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        err = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], r.stderr
    assert not (tmp_path / "o" / "scores.csv").exists()  # nothing scored before the error


# ------------------------------------------------------------------------ kill / concurrency

def _fifo_batch(tmp_path, n_before=20):
    """Inputs: n_before copies of the example, then a FIFO (reading it blocks), then 3 more."""
    d = tmp_path / "in"
    d.mkdir()
    paths = []
    for i in range(n_before):
        p = d / f"m{i:03d}.pdb"
        p.write_text(EXAMPLE.read_text())
        paths.append(str(p))
    fifo = d / "zz_fifo.pdb"
    os.mkfifo(fifo)
    paths.append(str(fifo))
    for i in range(3):
        p = d / f"zz_after{i}.pdb"
        p.write_text(EXAMPLE.read_text())
        paths.append(str(p))
    return paths, fifo


def _wait_rows(path, n, proc, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists() and len(_rows(path)) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the run did not write its first rows in time")


def _start(paths, out):
    return subprocess.Popen([sys.executable, "-m", "estimators.cli", "score", *paths, "-o",
                             str(out), "--no-progress"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@needs_model
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_killed_run_keeps_every_finished_model(tmp_path):
    paths, fifo = _fifo_batch(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.csv").write_text("model,global_score\nold_run.pdb,0.5\n")   # an earlier run
    proc = _start(paths, out)
    try:
        _wait_rows(out / "scores.csv", 16, proc)     # the first chunk (16 models) is written
        time.sleep(1.0)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    scores, failures, _ = check_outputs(out)
    assert [r["model"] for r in scores] == paths[:16]      # all finished models, nothing old
    assert failures == []
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    res = read_results(out)
    assert res["status"] == "killed" and len(res["scores"]) == 16
    assert {r["model"] for r in res["residue_scores"]} == set(paths[:16])
    # the lock died with the process: a new run can use the folder and replaces everything
    assert main(["score", paths[0], "-o", str(out), "--no-progress"]) == 0
    check_outputs(out, [paths[0]])
    assert len(list(out.glob("*_lddt.pdb"))) == 1


@needs_model
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_sigterm_marks_the_run_interrupted(tmp_path):
    paths, fifo = _fifo_batch(tmp_path)
    out = tmp_path / "out"
    proc = _start(paths, out)
    try:
        _wait_rows(out / "scores.csv", 16, proc)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and run["n_scored"] == 16
    check_outputs(out)


@needs_model
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_concurrent_runs_cannot_lose_results(tmp_path):
    paths, fifo = _fifo_batch(tmp_path)
    out = tmp_path / "out"
    first = _start(paths, out)
    try:
        _wait_rows(out / "scores.csv", 16, first)
        assert run_status(out) == "running"
        second = _cli(["score", str(EXAMPLE), "-o", str(out), "--no-progress"])
        assert second.returncode == 2 and "in use by another" in second.stderr
        assert "Traceback" not in second.stderr
        # the first run goes on: feed the FIFO with a model
        with open(fifo, "w") as fh:
            fh.write(EXAMPLE.read_text())
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    check_outputs(out, paths)
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert run_status(out) == "complete" and run_status(tmp_path / "nothing") == "none"


@needs_model
def test_output_folder_inside_inputs_jobs_and_casp_notes(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    res = residues(atom_lines())
    (d / "m1.pdb").write_text(EXAMPLE.read_text())
    lines = sum(res[:3], []) + [set_resnum(l, 3, "A") for l in res[3]] + sum(res[4:], [])
    (d / "m2.pdb").write_text("\n".join(lines) + "\n")
    for _ in range(2):          # the second run must not score the first run's result files
        assert main(["score", str(d), "-o", str(d), "--no-progress",
                     "--format", "casp", "--target", "T1006"]) == 0
        scores, failures, warns = check_outputs(d, [str(d / "m1.pdb"), str(d / "m2.pdb")])
    assert [(w["input"], w["stage"]) for w in warns if w["stage"] == "casp"] == \
        [(str(d / "m2.pdb"), "casp")]
    assert any("result file" in w["message"] for w in warns)
    qa = (d / "casp_qa.txt").read_text().splitlines()
    assert [l.split()[0] for l in qa[6:-1]] == ["m1.pdb", "m2.pdb"]


@needs_model
def test_closed_stdout_does_not_stop_the_run(tmp_path):
    paths = []
    for i in range(20):
        p = tmp_path / f"m{i:02d}.pdb"
        p.write_text(EXAMPLE.read_text())
        paths.append(str(p))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "estimators.cli", "score", *paths, "-o",
                             str(out), "--no-progress"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.readline()           # like '| head -1'
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    check_outputs(out, paths)
