"""HTML report of a ``fourier6d score`` output folder: ranked models and local quality profiles.

One job: turn the result files of an output folder (``scores.csv``, ``residue_scores.csv``,
``failures.csv``, ``run.json``; :func:`estimators.scoring_output.read_results`) into

* ``index.html``: the models ranked by global score (best first), each with its score, its
  per-residue profile and a link to its structure with the predicted lDDT as B-factors; the
  inputs that failed, with their reason; the run's model file, command and date;
* ``report/<name>_profile.png``: per model, the predicted lDDT of each residue along the chain
  (one line per chain, gaps where residues are missing or were not scored), on the same axes as
  the local quality plots of QMEAN and ModFOLD: 0 to 1, bands below 0.5 (poorly modelled), 0.5-0.7
  and above 0.7 (well modelled).

Plots are drawn with matplotlib (Agg backend, no display needed).  The page needs no server and
no network: open ``index.html`` in a browser.  A small script on the page counts the profile
images that loaded and shows a note when some are missing (e.g. a folder copied without
``report/``).
"""
from __future__ import annotations

import datetime
import html
import math
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["REPORT_FILE", "REPORT_DIR", "write_report", "remove_report", "plot_profile"]

REPORT_FILE = "index.html"
REPORT_DIR = "report"
_MARK = "<!-- fourier6d score report -->"
_DIR_MARK = ".fourier6d-report"
#: lDDT bands of the profile plots: (low, high, colour), as in QMEAN/ModFOLD local quality plots.
BANDS = ((0.0, 0.5, "#f4c7c3"), (0.5, 0.7, "#fce8b2"), (0.7, 1.0, "#c6e7c9"))


def remove_report(outdir):
    """Delete the report of an earlier run in ``outdir`` (only files this module wrote)."""
    outdir = Path(outdir)
    index = outdir / REPORT_FILE
    try:
        if index.is_file() and _MARK in index.read_text(encoding="utf-8", errors="replace")[:200]:
            index.unlink()
    except OSError:
        pass
    folder = outdir / REPORT_DIR
    if (folder / _DIR_MARK).is_file():
        shutil.rmtree(folder, ignore_errors=True)


def _segments(chains, resnums, values):
    """Runs of consecutive residue numbers within a chain: list of (chain, x, y)."""
    out = []
    start = 0
    for i in range(1, len(resnums) + 1):
        if (i == len(resnums) or chains[i] != chains[i - 1] or resnums[i] != resnums[i - 1] + 1):
            out.append((chains[start], np.asarray(resnums[start:i]), np.asarray(values[start:i])))
            start = i
    return out


def plot_profile(ax, chains, resnums, values, title=None):
    """Draw one model's per-residue profile on a matplotlib ``ax``.

    Parameters
    ----------
    chains, resnums : sequences, shape (R,)
        Chain id and residue number of each residue, in file order.
    values : sequence of float, shape (R,)
        Predicted lDDT (NaN where the residue was not scored).
    """
    for low, high, colour in BANDS:
        ax.axhspan(low, high, color=colour, zorder=0, linewidth=0)
    chain_ids = list(dict.fromkeys(chains))
    colours = ["#1f4e9c", "#b5179e", "#2a9d8f", "#e76f51", "#6a4c93", "#264653"]
    for seg_chain, x, y in _segments(list(chains), list(resnums), list(values)):
        colour = colours[chain_ids.index(seg_chain) % len(colours)]
        ax.plot(x, y, color=colour, linewidth=1.3, zorder=2)
        if len(x) == 1:
            ax.plot(x, y, "o", color=colour, markersize=2.5, zorder=2)
    if len(chain_ids) > 1 or (chain_ids and chain_ids[0]):
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], color=colours[i % len(colours)], label=f"chain {c or '-'}")
                   for i, c in enumerate(chain_ids)]
        ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False,
                  ncol=min(len(handles), 4))
    finite = np.asarray(resnums)
    if len(finite):
        ax.set_xlim(finite.min() - 0.5, finite.max() + 0.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("residue number", fontsize=8)
    ax.set_ylabel("predicted lDDT", fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=8, loc="left")


def _profile_names(scores):
    """A unique PNG file name per scored model (from its structure file name, or its rank)."""
    names, used = {}, set()
    for i, row in enumerate(scores):
        stem = Path(row.get("structure_file") or "").stem or f"model_{i + 1:05d}"
        name = f"{stem}_profile.png"
        k = 2
        while name in used:
            name = f"{stem}_{k}_profile.png"
            k += 1
        used.add(name)
        names[row["model"]] = name
    return names


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def write_report(outdir, log=None):
    """Write ``index.html`` and ``report/*.png`` for the results in ``outdir``.

    Parameters
    ----------
    outdir : path
        An output folder of ``fourier6d score``.
    log : callable, optional
        Called with one line of progress text.

    Returns
    -------
    Path
        The ``index.html`` written.
    """
    try:
        import matplotlib
    except ImportError:   # pragma: no cover - a dependency
        raise RuntimeError("the report needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from .scoring_output import read_results
    outdir = Path(outdir)
    results = read_results(outdir)
    scores = sorted(results["scores"], key=lambda r: (-_number(r["global_score"])
                                                      if math.isfinite(_number(r["global_score"]))
                                                      else math.inf, r["model"]))
    residues = {}
    for row in results["residue_scores"]:
        residues.setdefault(row["model"], []).append(row)
    remove_report(outdir)
    folder = outdir / REPORT_DIR
    folder.mkdir(exist_ok=True)
    (folder / _DIR_MARK).write_text("written by fourier6d score --report\n")
    names = _profile_names(scores)
    fig, ax = plt.subplots(figsize=(5.6, 1.9), dpi=90)
    fig.subplots_adjust(left=0.1, right=0.99, bottom=0.24, top=0.95)
    for k, row in enumerate(scores):
        rows = residues.get(row["model"], [])
        ax.clear()
        plot_profile(ax, [r["chain"] for r in rows], [int(r["resnum"]) for r in rows],
                     [_number(r["predicted_lddt"]) for r in rows])
        fig.savefig(folder / names[row["model"]], dpi=90)
        if log is not None and (k + 1) % 100 == 0:
            log(f"report: {k + 1} of {len(scores)} profiles")
    plt.close(fig)
    page = _page(outdir, results, scores, names)
    index = outdir / REPORT_FILE
    tmp = outdir / f".{REPORT_FILE}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, index)
    return index


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #555; font-size: 0.9em; margin-bottom: 1em; }
table { border-collapse: collapse; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: middle; text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 10px; background: #1f4e9c; vertical-align: middle; }
td.model { min-width: 12em; max-width: 26em; overflow-wrap: anywhere; font-size: 0.9em; }
td.link { max-width: 16em; overflow-wrap: anywhere; font-size: 0.9em; }
.profile { width: 504px; height: 171px; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 4px; }
#missing { display: none; background: #fde2e1; padding: 6px; margin: 8px 0; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img.profile"), broken = 0;
  imgs.forEach(function (img) { if (!img.complete || img.naturalWidth === 0) { broken += 1; } });
  document.body.setAttribute("data-images-loaded", String(imgs.length - broken));
  document.body.setAttribute("data-images-broken", String(broken));
  if (broken) {
    var note = document.getElementById("missing");
    note.textContent = broken + " profile image(s) could not be loaded: keep the report/ folder " +
                       "next to index.html.";
    note.style.display = "block";
  }
});
"""


def _page(outdir, results, scores, names):
    esc = html.escape
    manifest = results.get("manifest") or {}
    model_file = manifest.get("model_file", "unknown")
    model_text = ("the shipped pretrained model" if model_file == "pretrained"
                  else f"model file {model_file}")
    started = manifest.get("started") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    failures = results.get("failures") or []
    target_length = manifest.get("target_length")
    score_text = ("mean predicted lDDT of the scored residues"
                  + (f" times the model's coverage of the target's {target_length} residues"
                     if target_length else ""))
    rows = []
    for rank, row in enumerate(scores, 1):
        g = _number(row["global_score"])
        bar = f'<span class="bar" style="width:{max(0.0, min(1.0, g)) * 80:.0f}px"></span>' \
            if math.isfinite(g) else ""
        link = row.get("structure_file") or ""
        link_html = (f'<a href="{esc(link, quote=True)}">{esc(link)}</a>' if link
                     else "<span title='written with --no-bfactor'>–</span>")
        png = f"{REPORT_DIR}/{names[row['model']]}"
        rows.append(
            f"<tr><td class='num'>{rank}</td><td class='model'>{esc(row['model'])}</td>"
            f"<td class='num'>{esc(row['global_score'])} {bar}</td>"
            f"<td class='num'>{esc(row.get('n_scored_residues', ''))}/"
            f"{esc(row.get('n_residues', ''))}</td>"
            f"<td class='num'>{esc(row.get('n_warnings', ''))}</td>"
            f"<td><img class='profile' src='{esc(png, quote=True)}' loading='eager' "
            f"alt='per-residue predicted lDDT of {esc(row['model'], quote=True)}'></td>"
            f"<td class='link'>{link_html}</td></tr>")
    fail_rows = "".join(f"<tr><td>{esc(f['input'])}</td><td>{esc(f['stage'])}</td>"
                        f"<td>{esc(f['reason'])}</td></tr>" for f in failures)
    fail_html = (f"<h2>Not scored ({len(failures)})</h2><table><tr><th>input</th><th>stage</th>"
                 f"<th>reason</th></tr>{fail_rows}</table>" if failures else "")
    legend = "".join(f"<span style='background:{c}'>{lo:.1f}–{hi:.1f}</span>"
                     for lo, hi, c in BANDS)
    return f"""<!DOCTYPE html>
{_MARK}
<html lang="en"><head><meta charset="utf-8">
<title>fourier6d scores: {esc(outdir.name)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>Predicted model quality</h1>
<div class="meta">{len(scores)} model(s) scored, {len(failures)} not scored; {esc(model_text)};
run of {esc(str(started))}; command: <code>{esc(manifest.get('command', ''))}</code><br>
Models ranked by global score ({esc(score_text)}, 0–1, higher is better).
Profiles: predicted lDDT per residue along each chain; bands <span class="legend">{legend}</span>.
Structure files: the model with the predicted lDDT in the B-factor column.</div>
<div id="missing"></div>
<table>
<tr><th>rank</th><th>model</th><th>global score</th><th>residues scored</th><th>warnings</th>
<th>per-residue profile</th><th>structure with lDDT as B-factors</th></tr>
{''.join(rows)}
</table>
{fail_html}
<script>{_SCRIPT}</script>
</body></html>
"""
