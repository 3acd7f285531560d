"""fourier6d evaluate: models matched by identity (never by bare name), counts reported, metrics
equal to an independent computation, training overlap of the scoring model flagged."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from estimators.cli import main
from estimators.evaluation import (EvaluationError, evaluate,
                                   format_evaluation, training_groups_of)


def _write_scores(folder, rows, residue_rows=(), model_file=None):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "global_score", "n_scored_residues", "n_residues", "n_warnings",
                    "structure_file"])
        for model, score in rows:
            w.writerow([model, f"{score:.4f}", 1, 1, 0, ""])
    with open(folder / "residue_scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "residue_index", "chain", "resnum", "icode", "resname",
                    "predicted_lddt"])
        for model, resnum, value in residue_rows:
            w.writerow([model, resnum, "", resnum, "", "GLY", f"{value:.4f}"])
    if model_file is not None:
        (folder / "run.json").write_text(json.dumps({"status": "complete",
                                                     "model_file": str(model_file)}))
    return folder / "scores.csv"


def _casp_folder(root, targets, names, rng, length=6):
    """A CASP13-style labels folder: the same model names in every target."""
    truth = {}
    for t in targets:
        entries = {}
        for n in names:
            local = rng.uniform(0.2, 0.95, length)
            local[0] = np.nan
            entries[n] = {"lddt": float(np.round(np.nanmean(local), 4)),
                          "lddt_local": [None if np.isnan(v) else float(round(v, 4)) for v in local]}
            truth[(t, n)] = entries[n]
        (root / t / "models").mkdir(parents=True)
        (root / t / "labels.json").write_text(json.dumps(entries))
    return truth


def test_names_shared_across_targets_are_never_mixed_up(tmp_path):
    rng = np.random.default_rng(0)
    labels = tmp_path / "casp"
    names = [f"SERVER{i}_TS1" for i in range(8)]
    truth = _casp_folder(labels, ["TA", "TB", "TC"], names, rng)
    # scores of target TA only, under another root (as when a copy of TA was scored)
    rows = [(f"elsewhere/TA/models/{n}", truth[("TA", n)]["lddt"] + 0.01 * i)
            for i, n in enumerate(names)]
    rows.append(("elsewhere/TA/models/not_labelled", 0.5))
    rows.append(("SERVER1_TS1", 0.5))                     # bare name: never matched
    scores = _write_scores(tmp_path / "run", rows)
    res = evaluate(scores, labels, model_file=None)
    assert res["n_scored"] == 10 and res["n_matched"] == 8
    assert res["unmatched"] == ["elsewhere/TA/models/not_labelled", "SERVER1_TS1"]
    assert list(res["per_target"]) == ["TA"]
    assert res["n_labels_not_scored"] == {"TA": 0, "TB": 8, "TC": 8}
    true = np.array([truth[("TA", n)]["lddt"] for n in names])
    pred = np.array([s for _, s in rows[:8]])
    assert res["per_target"]["TA"]["pearson"] == pytest.approx(stats.pearsonr(pred, true)[0],
                                                               abs=1e-4)
    text = format_evaluation(res)
    assert "matched 8 of 10 scored models" in text and "2 scored model(s) without a label" in text
    assert "training targets are unknown" in text


def test_metrics_equal_an_independent_computation(tmp_path):
    rng = np.random.default_rng(1)
    labels = tmp_path / "casp"
    names = [f"S{i}_TS1" for i in range(12)]
    truth = _casp_folder(labels, ["T1", "T2"], names, rng)
    rows, residue_rows, pred_local = [], [], {}
    for t in ("T1", "T2"):
        for n in names:
            model = f"{labels}/{t}/models/{n}"
            rows.append((model, truth[(t, n)]["lddt"] + rng.normal(0, 0.05)))
            values = np.round(rng.uniform(0, 1, 6), 4)
            pred_local[model] = values
            residue_rows += [(model, r + 1, v) for r, v in enumerate(values)]
    scores = _write_scores(tmp_path / "run", rows, residue_rows)
    res = evaluate(scores, labels)
    assert res["n_matched"] == 24 and not res["unmatched"]
    pred = np.array([round(s, 4) for _, s in rows])
    true = np.array([truth[(m.split("/")[-3], m.split("/")[-1])]["lddt"] for m, _ in rows])
    tg = np.array([m.split("/")[-3] for m, _ in rows])
    assert res["pooled"]["global_pearson"] == pytest.approx(stats.pearsonr(pred, true)[0])
    assert res["pooled"]["global_spearman"] == pytest.approx(stats.spearmanr(pred, true)[0])
    per_t = {t: stats.spearmanr(pred[tg == t], true[tg == t])[0] for t in ("T1", "T2")}
    for t in ("T1", "T2"):
        assert res["per_target"][t]["spearman"] == pytest.approx(per_t[t])
        assert res["per_target"][t]["kendall"] == pytest.approx(
            stats.kendalltau(pred[tg == t], true[tg == t])[0])
    assert res["pooled"]["per_target_spearman"] == pytest.approx(np.mean(list(per_t.values())))
    # local: per model Spearman over residues with a known truth (residue 1 has none), averaged
    local = []
    for m, _ in rows:
        t, n = m.split("/")[-3], m.split("/")[-1]
        tl = np.array([np.nan if v is None else v for v in truth[(t, n)]["lddt_local"]])
        ok = np.isfinite(tl)
        local.append(stats.spearmanr(pred_local[m][ok], tl[ok])[0])
    assert res["pooled"]["local_spearman"] == pytest.approx(np.mean(local))


def test_csv_labels_by_path(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for n in ("a.pdb", "b.pdb", "c.pdb"):
        (models / n).write_text("ATOM\n")
    (tmp_path / "link.pdb").symlink_to(models / "c.pdb")
    labels = tmp_path / "labels.csv"
    labels.write_text("model,lddt,target\nmodels/a.pdb,0.5,X\nmodels/b.pdb,0.7,X\n"
                      "models/c.pdb,0.9,Y\n")
    residues = tmp_path / "res.csv"
    residues.write_text("model,resnum,lddt\nmodels/a.pdb,1,0.2\nmodels/a.pdb,2,0.8\n"
                        "models/a.pdb,3,0.5\n")
    rows = [(str(models / "a.pdb"), 0.4), (str(models / "b.pdb"), 0.8),
            (str(tmp_path / "link.pdb"), 0.6), ("b.pdb", 0.1)]
    scores = _write_scores(tmp_path / "run", rows,
                           [(str(models / "a.pdb"), r, v) for r, v in ((1, 0.1), (2, 0.9), (3, 0.4))])
    res = evaluate(scores, labels, residue_labels=residues)
    assert res["n_matched"] == 3 and res["unmatched"] == ["b.pdb"]       # the symlink matched c
    assert set(res["per_target"]) == {"X", "Y"}
    assert res["pooled"]["local_spearman"] == pytest.approx(1.0)
    # without a target column: one target 'all'
    plain = tmp_path / "plain.csv"
    plain.write_text("model,lddt\nmodels/a.pdb,0.5\nmodels/b.pdb,0.7\n")
    assert list(evaluate(scores, plain)["per_target"]) == ["all"]


def test_bad_labels_and_no_match_are_one_line_errors(tmp_path, capsys):
    scores = _write_scores(tmp_path / "run", [("x/T/models/m", 0.5)])
    with pytest.raises(EvaluationError, match="no <target>/labels.json"):
        evaluate(scores, tmp_path)
    labels = tmp_path / "l.csv"
    labels.write_text("model,lddt\nother.pdb,1.5\n")
    with pytest.raises(EvaluationError, match=r"l.csv: line 2: lDDT 1.5 is not in \[0, 1\]"):
        evaluate(scores, labels)
    labels.write_text("model,lddt\nother.pdb,0.5\n")
    assert main(["evaluate", str(scores), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no model of" in err[0] and "never by bare file name" in err[0]


def test_training_overlap_warning(tmp_path):
    from estimators.pretrained import pretrained_path
    groups, what = training_groups_of("pretrained")
    # the shipped model records what it was trained on: the four CASP13 targets and decoys
    assert {"T0953s1", "T0967", "T0974s1", "T1006"} <= set(groups) and "shipped" in what
    assert any(g.startswith("decoys:") for g in groups)
    copy = tmp_path / "copy.npz"
    shutil.copy(pretrained_path(), copy)
    assert training_groups_of(copy)[0] == groups
    # a model file that records its training groups
    from estimators import load_model
    est = load_model(copy)
    est = getattr(est, "estimators_", [est])[0]          # one network of the shipped model
    est.training_groups_ = ["T2"]
    own = est.save(tmp_path / "own.npz")
    assert training_groups_of(own) == (["T2"], f"model file {own}")
    rng = np.random.default_rng(2)
    labels = tmp_path / "casp"
    truth = _casp_folder(labels, ["T1", "T2"], ["A_TS1", "B_TS1", "C_TS1"], rng)
    rows = [(f"{labels}/{t}/models/{n}", truth[(t, n)]["lddt"]) for t, n in truth]
    scores = _write_scores(tmp_path / "run", rows, model_file=own)
    res = evaluate(scores, labels)
    assert res["training_overlap"] == ["T2"]
    assert "was trained on T2" in format_evaluation(res)
    res = evaluate(scores, labels, model_file="pretrained")
    assert res["training_overlap"] == []          # T1/T2 are not the shipped model's targets


def test_cli_json(tmp_path, capsys):
    rng = np.random.default_rng(3)
    labels = tmp_path / "casp"
    truth = _casp_folder(labels, ["T1", "T2"], ["A_TS1", "B_TS1", "C_TS1"], rng)
    rows = [(f"{labels}/{t}/models/{n}", truth[(t, n)]["lddt"]) for t, n in truth]
    scores = _write_scores(tmp_path / "run", rows, model_file="pretrained")
    assert main(["evaluate", str(scores), "--labels", str(labels), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_matched"] == 6 and set(out["per_target"]) == {"T1", "T2"}
    assert out["per_target"]["T1"]["n_models"] == 3 and out["per_target"]["T1"]["pearson"] == 1.0


def test_all_casp13_models_matched_and_metrics_by_hand(shared_dir, tmp_path):
    # a four-target run: every one of the 392 models matched to its own target's label
    casp = shared_dir / "data" / "casp13"
    rows, true, tg = [], [], []
    rng = np.random.default_rng(4)
    for file in sorted(casp.glob("*/labels.json")):
        for name, entry in sorted(json.loads(file.read_text()).items()):
            if entry.get("lddt") is None:
                continue
            model = str(file.parent / "models" / name)
            rows.append((model, float(np.round(entry["lddt"] + rng.normal(0, 0.1), 4))))
            true.append(entry["lddt"])
            tg.append(file.parent.name)
    names = [Path(m).name for m, _ in rows]
    assert len(rows) == 392 and len(set(names)) < 392         # names repeat across targets
    scores = _write_scores(tmp_path / "run", rows)
    res = evaluate(scores, casp)
    assert res["n_matched"] == 392 and not res["unmatched"]
    pred, true, tg = np.array([s for _, s in rows]), np.array(true), np.array(tg)
    assert res["pooled"]["global_pearson"] == pytest.approx(stats.pearsonr(pred, true)[0])
    per_target = [stats.spearmanr(pred[tg == t], true[tg == t])[0] for t in sorted(set(tg))]
    assert res["pooled"]["per_target_spearman"] == pytest.approx(np.mean(per_target))
    assert [res["per_target"][t]["n_models"] for t in sorted(set(tg))] == \
        [int((tg == t).sum()) for t in sorted(set(tg))]
