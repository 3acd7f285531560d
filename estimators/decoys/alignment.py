"""Structural alignment of two proteins with TM-align, and the alignment errors of template-based
modelling.

:func:`tm_align` runs the ``TMalign`` program (Debian package ``tm-align``; Zhang & Skolnick,
Nucleic Acids Res. 2005) on the CA traces of two structures and returns, for each residue of the
first, the aligned residue of the second (-1 where unaligned) and the TM-score normalised by the
first. :func:`perturb_alignment` adds the errors real template-based models make: segments shifted
by 1-4 residues along the template and gaps moved.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..lddt import _ONE_LETTER

__all__ = ["tm_align", "tm_align_available", "perturb_alignment", "write_ca_pdb",
           "frame_residues"]


def tm_align_available() -> bool:
    """True when the ``TMalign`` executable is on the PATH."""
    return shutil.which("TMalign") is not None


def frame_residues(structure) -> np.ndarray:
    """Indices of the residues of ``structure`` with an N-CA-C frame (the residues aligned)."""
    return np.flatnonzero(structure.backbone()[3])


def write_ca_pdb(structure, path) -> np.ndarray:
    """Write the CA trace of the residues with a frame (numbered 1..n, chain A) to ``path``;
    returns their residue indices (the order TM-align sees them in)."""
    residues = frame_residues(structure)
    ca = structure.backbone()[1]
    lines = []
    for k, r in enumerate(residues):
        x, y, z = ca[r]
        lines.append(f"ATOM  {k + 1:5d}  CA  {structure.resnames[r]:3s} A{k + 1:4d}    "
                     f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           C")
    with open(path, "w", encoding="ascii") as handle:
        handle.write("\n".join(lines + ["TER", "END"]) + "\n")
    return residues


def _parse(text, n_a, n_b, name_a, name_b):
    lines = text.splitlines()
    tm = None
    for line in lines:
        if line.startswith("TM-score=") and "Chain_1" in line:
            tm = float(line.split()[1])
    marker = next((k for k, line in enumerate(lines) if line.startswith('(":" denotes')), None)
    if tm is None or marker is None or marker + 3 >= len(lines):
        raise RuntimeError(f"TMalign {name_a} {name_b}: unexpected output")
    row_a, row_b = lines[marker + 1], lines[marker + 3]
    mapping = np.full(n_a, -1, dtype=np.int64)
    i = j = 0
    for x, y in zip(row_a, row_b):
        if x != "-" and y != "-":
            mapping[i] = j
        i += x != "-"
        j += y != "-"
    if i != n_a or j != n_b:
        raise RuntimeError(f"TMalign {name_a} {name_b}: alignment covers {i}/{n_a} and {j}/{n_b} "
                           f"residues")
    return mapping, tm


def tm_align(a, b, workdir=None, a_file=None, b_file=None):
    """Structural alignment of structure ``a`` onto structure ``b`` with TM-align.

    Parameters
    ----------
    a, b : Structure
    workdir : path, optional
        Folder for the temporary CA files (default: a new temporary folder).
    a_file, b_file : (path, residues), optional
        CA files already written by :func:`write_ca_pdb` (reused when aligning one structure to
        many).

    Returns
    -------
    mapping : ndarray of int, (a.n_residues,)
        Residue of ``b`` aligned to each residue of ``a``, -1 where unaligned.
    tm_score : float
        TM-score normalised by the length of ``a`` (residues with a frame).
    """
    if not tm_align_available():
        raise RuntimeError("TMalign not found (Debian package tm-align); threaded decoys need it")
    own = workdir is None
    folder = tempfile.mkdtemp(prefix="tmalign") if own else os.fspath(workdir)
    try:
        if a_file is None:
            a_file = (os.path.join(folder, "a.pdb"), None)
            a_file = (a_file[0], write_ca_pdb(a, a_file[0]))
        if b_file is None:
            b_file = (os.path.join(folder, "b.pdb"), None)
            b_file = (b_file[0], write_ca_pdb(b, b_file[0]))
        (path_a, res_a), (path_b, res_b) = a_file, b_file
        if len(res_a) < 5 or len(res_b) < 5:
            return np.full(a.n_residues, -1, dtype=np.int64), 0.0
        out = subprocess.run(["TMalign", path_a, path_b], capture_output=True, text=True,
                             check=False, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"TMalign {a.name} {b.name} failed: {out.stderr.strip()[:200]}")
        local, tm = _parse(out.stdout, len(res_a), len(res_b), a.name, b.name)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    mapping = np.full(a.n_residues, -1, dtype=np.int64)
    ok = local >= 0
    mapping[res_a[ok]] = res_b[local[ok]]
    return mapping, float(tm)


def perturb_alignment(mapping, rng, n_template, n_shifts=(0, 4), max_shift=4, segment=(4, 20),
                      n_gap_moves=(0, 3)):
    """Alignment errors of template-based modelling on an alignment ``mapping`` (A -> B, -1 gaps).

    * ``n_shifts`` (range, drawn) segments of ``segment`` (range) aligned residues are shifted
      along the template by ``+-1..max_shift`` positions;
    * ``n_gap_moves`` gaps (unaligned runs between aligned residues) are moved by 1-3 residues:
      the aligned residues on one side of the gap pass their template positions to as many
      residues of the gap and become unaligned (a misplaced gap);
    * finally the alignment is made monotonic (a residue whose template position does not exceed
      the previous aligned one is unaligned) and kept within ``[0, n_template)``.

    Returns a new mapping and a dict of what was done.
    """
    m = np.array(mapping, dtype=np.int64)
    n = m.size
    info = {"shifts": [], "gap_moves": 0}
    aligned = np.flatnonzero(m >= 0)
    if aligned.size == 0:
        return m, info
    for _ in range(int(rng.integers(n_shifts[0], n_shifts[1] + 1))):
        length = int(rng.integers(segment[0], segment[1] + 1))
        start = int(rng.choice(aligned))
        stop = min(n, start + length)
        shift = int(rng.integers(1, max_shift + 1)) * int(rng.choice([-1, 1]))
        sel = np.arange(start, stop)
        sel = sel[m[sel] >= 0]
        m[sel] += shift
        info["shifts"].append((start, stop, shift))
    for _ in range(int(rng.integers(n_gap_moves[0], n_gap_moves[1] + 1))):
        gaps = _inner_gaps(m)
        if not gaps:
            break
        lo, hi = gaps[int(rng.integers(len(gaps)))]           # unaligned residues lo..hi-1
        k = int(min(rng.integers(1, 4), hi - lo))
        if rng.uniform() < 0.5:          # gap moves towards the N-terminus by k residues
            left, right = np.arange(lo - k, lo), np.arange(lo, lo + k)
        else:                            # towards the C-terminus
            left, right = np.arange(hi - k, hi), np.arange(hi, hi + k)
            left, right = right, left
        if left.min() < 0 or left.max() >= n or np.any(m[left] < 0):
            continue
        m[right] = m[left]               # the template positions pass to the gap's residues
        m[left] = -1
        info["gap_moves"] += 1
    m[(m < 0) | (m >= n_template)] = -1
    last = -1
    for i in range(n):                                        # monotonic
        if m[i] >= 0:
            if m[i] <= last:
                m[i] = -1
            else:
                last = m[i]
    return m, info


def _inner_gaps(m):
    """(lo, hi) of runs of unaligned residues with aligned residues on both sides."""
    out = []
    i = 0
    n = m.size
    while i < n:
        if m[i] < 0:
            j = i
            while j < n and m[j] < 0:
                j += 1
            if i > 0 and j < n:
                out.append((i, j))
            i = j
        else:
            i += 1
    return out


def sequence_identity(a, b, mapping) -> float:
    """Fraction of aligned residue pairs with the same amino acid."""
    ok = np.flatnonzero(np.asarray(mapping) >= 0)
    if not ok.size:
        return 0.0
    ra = np.asarray(a.resnames)[ok]
    rb = np.asarray(b.resnames)[np.asarray(mapping)[ok]]
    return float(np.mean([_ONE_LETTER.get(x, "X") == _ONE_LETTER.get(y, "Y")
                          for x, y in zip(ra, rb)]))
