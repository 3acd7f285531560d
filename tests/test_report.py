"""fourier6d score --report: index.html with the models ranked by global score, a per-residue
profile image per model and links to the B-factor structures; checked in a real headless browser
(Debian chromium) when one is installed."""
import csv
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from estimators.cli import main  # noqa: E402
from estimators.report import REPORT_DIR, _segments, remove_report, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "T1006_ACOMPMOD_TS1.pdb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _output_folder(folder, models):
    """An output folder as fourier6d score writes it: models = [(identity, [(chain, resnum,
    value)], structure file name)]."""
    folder.mkdir(parents=True)
    with open(folder / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "global_score", "n_scored_residues", "n_residues", "n_warnings",
                    "structure_file"])
        for model, residues, structure in models:
            values = [v for _, _, v in residues]
            w.writerow([model, f"{np.nanmean(values):.4f}", int(np.isfinite(values).sum()),
                        len(values), 0, structure])
            if structure:
                (folder / structure).write_text("ATOM\n")
    with open(folder / "residue_scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "residue_index", "chain", "resnum", "icode", "resname",
                    "predicted_lddt"])
        for model, residues, _ in models:
            for i, (chain, resnum, v) in enumerate(residues, 1):
                w.writerow([model, i, chain, resnum, "", "GLY", "" if np.isnan(v) else f"{v:.4f}"])
    with open(folder / "failures.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["input", "stage", "reason"])
        w.writerow(["broken<1>.pdb", "read", "broken<1>.pdb: no atoms found"])
    (folder / "run.json").write_text(json.dumps({"status": "complete", "model_file": "pretrained",
                                                 "command": "fourier6d score x", "started": "now"}))


def _models():
    rng = np.random.default_rng(0)
    out = []
    for k, (name, mean) in enumerate([("mid", 0.6), ("best & <b>", 0.9), ("low", 0.3)]):
        residues = [("A", r, float(np.clip(mean + rng.normal(0, 0.05), 0, 1))) for r in range(1, 40)]
        residues += [("B", r, float(np.clip(mean + rng.normal(0, 0.05), 0, 1))) for r in range(1, 20)]
        residues[5] = ("A", 6, np.nan)                               # a residue not scored
        out.append((f"models/{name}", residues, f"{name.split()[0]}_lddt.pdb"))
    out.append(("models/no_structure", [("", 1, 0.5), ("", 2, 0.6)], ""))   # --no-bfactor
    return out


def test_report_ranks_models_and_links_files(tmp_path):
    folder = tmp_path / "out"
    _output_folder(folder, _models())
    index = write_report(folder)
    page = index.read_text()
    # ranked by global score, names escaped
    order = [m for m in re.findall(r"<td class='model'>(.*?)</td>", page)]
    assert order == ["models/best &amp; &lt;b&gt;", "models/mid", "models/no_structure",
                     "models/low"]
    # one profile image per model, each a PNG that exists; links to the structure files
    images = re.findall(r"<img class='profile' src='([^']+)'", page)
    assert len(images) == 4 == len(set(images))
    for src in images:
        assert (folder / src).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    links = re.findall(r'<a href="([^"]+)">', page)
    assert sorted(links) == ["best_lddt.pdb", "low_lddt.pdb", "mid_lddt.pdb"]
    assert all((folder / link).is_file() for link in links)
    assert "broken&lt;1&gt;.pdb" in page and "Not scored (1)" in page
    assert "mean predicted lDDT of the scored residues, 0" in page
    # with a target length (fourier6d score --sequence) the page says how scores were made
    manifest = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(dict(manifest, target_length=120)))
    assert "times the model's coverage of the target's 120 residues" in \
        html.unescape(write_report(folder).read_text())
    # a new report replaces the old one; a foreign index.html is never deleted
    remove_report(folder)
    assert not index.exists() and not (folder / REPORT_DIR).exists()
    (folder / "index.html").write_text("<html>someone else's page</html>")
    remove_report(folder)
    assert (folder / "index.html").read_text().startswith("<html>someone")


def test_profile_segments_break_at_chains_and_gaps():
    segs = _segments(["A", "A", "A", "A", "B", "B"], [1, 2, 4, 5, 1, 2],
                     [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert [(c, list(x)) for c, x, _ in segs] == [("A", [1, 2]), ("A", [4, 5]), ("B", [1, 2])]


def _chromium(args, tmp_path):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}"] + args,
        capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package chromium)")
def test_report_in_a_headless_browser(tmp_path):
    folder = tmp_path / "out"
    _output_folder(folder, _models())
    index = write_report(folder)
    url = index.resolve().as_uri()
    proc = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout).group(0)
    assert 'data-images-loaded="4"' in body and 'data-images-broken="0"' in body
    assert proc.stdout.count("<tr>") == 4 + 1 + 2          # models + header, failure table
    shot = tmp_path / "shot.png"
    proc = _chromium(["--hide-scrollbars", "--window-size=1200,800", f"--screenshot={shot}", url],
                     tmp_path)
    assert proc.returncode == 0 and shot.is_file()
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (800, 1200) and pixels[..., :3].std() > 0.05   # not a blank page
    # a missing image is noticed on the page
    next((folder / REPORT_DIR).glob("*.png")).unlink()
    proc = _chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path)
    assert 'data-images-broken="1"' in proc.stdout and "could not be loaded" in proc.stdout


def test_score_report_end_to_end(tmp_path):
    out = tmp_path / "results"
    assert main(["score", str(EXAMPLE), "-o", str(out), "--report", "--no-progress"]) == 0
    page = (out / "index.html").read_text()
    assert "T1006_ACOMPMOD_TS1_lddt.pdb" in page and (out / "T1006_ACOMPMOD_TS1_lddt.pdb").is_file()
    assert len(list((out / REPORT_DIR).glob("*_profile.png"))) == 1
    # a later run without --report leaves no stale report behind
    assert main(["score", str(EXAMPLE), "-o", str(out), "--no-progress"]) == 0
    assert not (out / "index.html").exists() and not (out / REPORT_DIR).exists()
