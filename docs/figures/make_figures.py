"""Make the figures of the documentation (``docs/figures.rst``): the paper's Fig. 2 and learned filters.

Usage::

    python docs/figures/make_figures.py [--quick] [--out DIR] [--only NAME ...]

or ``bash scripts/make_figures.sh``.  Writes PNGs (matplotlib, Agg backend) and ``figure_numbers.json``
(the measured numbers quoted in the captions) into ``--out`` (default: this folder, ``docs/figures``).
``--quick`` uses coarser grids, fewer rotations and fewer expansion orders (a few seconds; used by
``tests/test_figures.py``); the checked-in PNGs are made without it.

Figures (names for ``--only``):

``fig2_maps``
    Paper Fig. 2A-D, G-H: the six-Gaussian pattern f (sigma = 0.4 A), and the 6D convolution (Eq. 4,
    :func:`fourier6d.conv6d`) of a rotated + translated copy h with f, evaluated in real space
    (:func:`fourier6d.inverse_on_grid`) in the frame of the expansion and in a frame shifted by
    3 sqrt(3) A; L = 4, rho_max = 0.6 pi, drho = 0.2 pi (A^-1).
``fig2_localisation``
    Paper Fig. 2E: distance of the map's maximum from the copy's centre of mass vs L, for the 6D
    convolution and for the classical 3D convolution / correlation computed in the same spherical
    Fourier representation.
``fig2_translation``
    Paper Fig. 2F: relative error of the translation operator (Eq. 5, :func:`fourier6d.translate_z`)
    vs displacement and L.
``learned_filters``
    Paper Appendix N (Fig. 3A): real-space projections of learned 6D convolution filters of the
    shipped model (``estimators/data/pretrained.npz``, a 6DCNN-2).

The CASP13 plots shown in the docs (``benchmarks/figures/qa_casp13_*.png``) are made by
``benchmarks/qa_casp13.py`` and are not regenerated here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np                                                       # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fourier6d import (RadialGrid, random_rotations, expand_points, conv6d, inverse_transform,  # noqa: E402
                       inverse_on_grid, translate_z, parseval_norm2)
from fourier6d.harmonics import degrees                                  # noqa: E402

# ----------------------------------------------------------------------------------- the experiment
#: Fig. 2 parameters: sigma = 0.4 A, rho_max = 0.6 pi A^-1, drho = 0.2 pi A^-1 (rho = 0 .. 0.6 pi).
SIGMA = 0.4
GRID = RadialGrid(4, 0.2 * np.pi)
#: Six Gaussians within 0.84 A of their centre of mass (the paper's pattern is not published; the same
#: pattern as in tests/test_conv6d.py and tests/test_translation.py).
PATTERN = np.array([[0.8, 0, 0], [0, 0.8, 0], [0, 0, 0.8], [-0.5, -0.5, 0],
                    [0.4, -0.3, -0.6], [-0.3, 0.5, -0.4]])
PATTERN = PATTERN - PATTERN.mean(0)
#: Centre of mass of the rotated + translated copy h.
COPY_CENTRE = np.array([0.6, -0.4, 0.5])
#: Shift of the second coordinate system (Fig. 2G-H), |s| = 3 sqrt(3) A.
FRAME_SHIFT = np.array([3.0, 3.0, 3.0])
#: Expansion order of the truncated reference in the translation experiment.
L_REF = 30

VARIANTS = ("6D convolution (Eq. 4)", "3D convolution", "3D correlation")


def expand(points, lmax):
    """Coefficients (P, Q, 1) of unit Gaussians (sigma = SIGMA) at ``points`` on GRID."""
    return expand_points(points, np.ones((len(points), 1)), GRID, lmax, SIGMA)


def pattern_filters(lmax):
    """Filters (P, Q, 1, 1) of the pattern f for the three variants of :data:`VARIANTS`.

    Eq. 4 is, on every shell, the degree-L projection of the pointwise product F(rho, Omega) V(rho,
    Omega) with V_l = 8 pi^2 / (2l + 1) W_l (see :mod:`fourier6d.conv6d`).  Dividing the filter by
    that factor turns conv6d into the product F_h F_f: the classical 3D convolution h * f.  With the
    extra factor (-1)^l (the coefficients of f(-r)) it is the 3D correlation (template matching).
    """
    W = expand(PATTERN, lmax)[:, :, :, None]
    lq = degrees(lmax)
    plain = W * ((2 * lq + 1) / (8 * np.pi ** 2))[None, :, None, None]
    return {VARIANTS[0]: W, VARIANTS[1]: plain,
            VARIANTS[2]: plain * ((-1.0) ** lq)[None, :, None, None]}


def map_maximum(coeffs, guess, half=1.5, step=0.25):
    """Position of the maximum of the real-space map of ``coeffs`` near ``guess``.

    Grid search (``step``) in a cube of half-width ``half`` around ``guess``, then Nelder-Mead on the
    continuous map (:func:`fourier6d.inverse_transform`), so the result is not tied to a grid.
    """
    from scipy.optimize import minimize
    n = int(round(2 * half / step)) + 1
    lo = np.asarray(guess, float) - half
    v = inverse_on_grid(coeffs, GRID, lo, step, (n, n, n))[..., 0]
    x0 = lo + np.array(np.unravel_index(np.argmax(v), v.shape)) * step

    def neg(x):
        return -float(inverse_transform(coeffs, x[None], GRID)[0, 0])

    res = minimize(neg, x0, method="Nelder-Mead",
                   options={"xatol": 1e-5, "fatol": 1e-12, "maxiter": 2000})
    return res.x


def localisation_errors(lmaxs, n_rotations, seed=1):
    """Distance (A) of the maximum from the copy's centre of mass, per variant and L.

    Returns ``{variant: array (len(lmaxs), n_rotations)}``; the same rotations for every L.
    """
    rots = [random_rotations(rng=np.random.default_rng([seed, k])) for k in range(n_rotations)]
    out = {v: np.zeros((len(lmaxs), n_rotations)) for v in VARIANTS}
    for i, lmax in enumerate(lmaxs):
        filters = pattern_filters(lmax)
        for k, R in enumerate(rots):
            H = expand(PATTERN @ R.T + COPY_CENTRE, lmax)
            for v in VARIANTS:
                pos = map_maximum(conv6d(H, filters[v]), COPY_CENTRE)
                out[v][i, k] = np.linalg.norm(pos - COPY_CENTRE)
    return out


def translation_errors(lmaxs, displacements):
    """Relative errors of the z-translation operator (Eq. 5), Parseval norm, shape (len(L), len(d)).

    ``operator``: |T G - G_shift[l <= L]| / |G_shift[l <= L]|, the error of Eq. 5 itself;
    ``recovery``: |T G - f_shift| / |f_shift| with f_shift expanded to L_REF = 30 (adds the truncation
    of the translated pattern at L; the quantity of the paper's Fig. 2F).
    """
    op = np.zeros((len(lmaxs), len(displacements)))
    rec = np.zeros_like(op)

    def norm2(g):          # Parseval: sum_p w_p sum_q g^2 (any coefficient subset; the factor cancels)
        return float((GRID.weights()[:, None, None] * g ** 2).sum())

    for i, lmax in enumerate(lmaxs):
        G = expand(PATTERN, lmax)
        q = (lmax + 1) ** 2
        for j, d in enumerate(displacements):
            full = expand(PATTERN + [0.0, 0.0, d], L_REF)
            moved = translate_z(G, float(d), GRID)
            e2 = norm2(moved - full[:, :q])
            op[i, j] = np.sqrt(e2 / norm2(full[:, :q]))
            rec[i, j] = np.sqrt((e2 + norm2(full[:, q:])) / norm2(full))
    return {"operator": op, "recovery": rec}


# --------------------------------------------------------------------------------------- plotting
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path, dpi):
    """Save as PNG, then reduce to a 256-colour palette (keeps the checked-in files small)."""
    plt = _plt()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    try:
        from PIL import Image
    except ImportError:                       # pragma: no cover - Pillow comes with matplotlib
        return path
    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0)
    pal.save(path, optimize=True)
    return path


def _gaussian_density(xyz, points, sigma=SIGMA):
    d2 = ((xyz[..., None, :] - points) ** 2).sum(-1)
    return np.exp(-d2 / (2 * sigma ** 2)).sum(-1)


def _plane(origin, u, v, half, step):
    """Points of a square in the plane through ``origin`` spanned by unit axes u, v: (n, n, 3)."""
    t = np.arange(-half, half + step / 2, step)
    a, b = np.meshgrid(t, t, indexing="ij")
    return origin + a[..., None] * u + b[..., None] * v, t


_EX, _EY, _EZ = np.eye(3)


def _show(ax, img, t, origin2d, title, cmap="magma", sym=False, labels=("x", "y")):
    ext = [origin2d[0] + t[0], origin2d[0] + t[-1], origin2d[1] + t[0], origin2d[1] + t[-1]]
    vmax = np.abs(img).max() if sym else None
    im = ax.imshow(img.T, origin="lower", extent=ext, cmap=cmap,
                   vmin=-vmax if sym else None, vmax=vmax, interpolation="bilinear")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"{labels[0]} (Å)", fontsize=8)
    ax.set_ylabel(f"{labels[1]} (Å)", fontsize=8)
    ax.tick_params(labelsize=7)
    return im


def figure_maps(out, quick=False, seed=5):
    """Fig. 2A-D, G-H.  Returns the numbers (peak distances, A) and writes ``fig2_maps.png``."""
    plt = _plt()
    lmax = 4
    step = 0.15 if quick else 0.04
    R = random_rotations(rng=np.random.default_rng(seed))
    copy = PATTERN @ R.T + COPY_CENTRE
    W = pattern_filters(lmax)[VARIANTS[0]]
    maps = {"centred": (conv6d(expand(copy, lmax), W), np.zeros(3))}
    maps["shifted"] = (conv6d(expand(copy - FRAME_SHIFT, lmax), W), FRAME_SHIFT)
    numbers = {"lmax": lmax}
    for name, (C, origin) in maps.items():
        pos = map_maximum(C, COPY_CENTRE - origin) + origin
        numbers[f"{name}_peak_error_A"] = float(np.linalg.norm(pos - COPY_CENTRE))
        numbers[f"{name}_peak_value"] = float(
            inverse_transform(C, (pos - origin)[None], GRID)[0, 0])
        numbers[f"{name}_peak_position"] = pos.tolist()
    if not quick:   # the shifted frame at higher L: the map converges to the centred one
        for L in (8, 12):
            C = conv6d(expand(copy - FRAME_SHIFT, L), pattern_filters(L)[VARIANTS[0]])
            pos = map_maximum(C, COPY_CENTRE - FRAME_SHIFT) + FRAME_SHIFT
            numbers[f"shifted_L{L}_peak_error_A"] = float(np.linalg.norm(pos - COPY_CENTRE))

    fig, axes = plt.subplots(3, 2, figsize=(7.6, 10.2))
    # A-B: the pattern itself (exact Gaussians), projected along z and along y
    half = 2.0
    t = np.arange(-half, half + step / 2, step)
    X, Y, Z = np.meshgrid(t, t, t, indexing="ij")
    dens = _gaussian_density(np.stack([X, Y, Z], -1), PATTERN)
    com = PATTERN.mean(0)
    for ax, img, (i, j), lab in ((axes[0, 0], dens.sum(2) * step, (0, 1), "A. pattern f, xy"),
                                 (axes[0, 1], dens.sum(1) * step, (0, 2), "B. pattern f, xz")):
        _show(ax, img, t, (0, 0), f"{lab} (projection)", cmap="viridis", labels=("xyz"[i], "xyz"[j]))
        ax.plot(PATTERN[:, i], PATTERN[:, j], "w+", ms=6)
        ax.plot(com[i], com[j], "*", color="hotpink", ms=14, mec="k", mew=0.5)
    # C-D, G-H: slices of the 6D convolution maps through the copy's centre of mass
    half = 3.0
    for row, name, tag in ((1, "centred", "C-D"), (2, "shifted", "G-H")):
        C, origin = maps[name]
        pos = np.array(numbers[f"{name}_peak_position"])
        for col, (u, v, i, j) in enumerate(((_EX, _EY, 0, 1), (_EX, _EZ, 0, 2))):
            pts, tt = _plane(COPY_CENTRE - origin, u, v, half, step)
            img = inverse_transform(C, pts.reshape(-1, 3), GRID)[:, 0].reshape(pts.shape[:2])
            frame = "expansion frame" if name == "centred" else "frame shifted by 3√3 Å"
            plane = "xy" if col == 0 else "xz"
            _show(ax := axes[row, col], img, tt, (COPY_CENTRE[i], COPY_CENTRE[j]),
                  f"{tag[0] if col == 0 else tag[2]}. 6D conv, {plane}, {frame}",
                  labels=("xyz"[i], "xyz"[j]))
            ax.plot(COPY_CENTRE[i], COPY_CENTRE[j], "*", color="hotpink", ms=14, mec="k", mew=0.5)
            ax.plot(pos[i], pos[j], "c+", ms=10, mew=1.5)
    fig.suptitle("6D convolution of a rotated + translated copy with the pattern "
                 f"(σ = {SIGMA} Å, L = {lmax}, ρmax = 0.6π Å⁻¹)\n"
                 "pink star: centre of mass of the copy; cyan +: maximum of the map", fontsize=9)
    fig.tight_layout()
    path = Path(out) / "fig2_maps.png"
    _save(fig, path, dpi=80 if quick else 90)
    return path, numbers


def figure_localisation(out, quick=False):
    """Fig. 2E.  Returns (path, numbers)."""
    plt = _plt()
    lmaxs = [2, 4] if quick else [1, 2, 3, 4, 5, 6, 8]
    n_rot = 2 if quick else 16
    err = localisation_errors(lmaxs, n_rot)
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    for v, mk in zip(VARIANTS, "osd"):
        ax.semilogy(lmaxs, err[v].max(1), mk + "-", label=f"{v}, max")
        ax.semilogy(lmaxs, err[v].mean(1), mk + ":", color=ax.lines[-1].get_color(), alpha=0.7,
                    label=f"{v}, mean")
    ax.set_xlabel("expansion order L")
    ax.set_ylabel("|maximum − centre of mass| (Å)")
    ax.set_title(f"E. localisation error, {n_rot} random rotations "
                 f"(σ = {SIGMA} Å, ρmax = 0.6π Å⁻¹)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = Path(out) / "fig2_localisation.png"
    _save(fig, path, dpi=90)
    numbers = {"lmax": lmaxs, "n_rotations": n_rot,
               "max_error_A": {v: err[v].max(1).tolist() for v in VARIANTS},
               "mean_error_A": {v: err[v].mean(1).tolist() for v in VARIANTS}}
    return path, numbers


def figure_translation(out, quick=False):
    """Fig. 2F.  Returns (path, numbers)."""
    plt = _plt()
    lmaxs = [4, 8] if quick else [4, 8, 12]
    ds = np.linspace(0.2, 6.0, 8 if quick else 30)
    err = translation_errors(lmaxs, ds)
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    for lmax in lmaxs:
        i = lmaxs.index(lmax)
        ax.semilogy(ds, err["recovery"][i], "-", label=f"L = {lmax}, recovery")
        c = ax.lines[-1].get_color()
        ax.semilogy(ds, np.maximum(err["operator"][i], 1e-17), "--", color=c, alpha=0.7,
                    label=f"L = {lmax}, operator (Eq. 5)")
        ax.axvline(SIGMA * lmax / 2, color=c, lw=0.8, ls=":")
    ax.set_xlabel("displacement d along z (Å)")
    ax.set_ylabel("relative error")
    ax.set_title("F. translation operator; dotted lines: d = σL/2", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path = Path(out) / "fig2_translation.png"
    _save(fig, path, dpi=90)
    numbers = {"lmax": lmaxs, "d_A": ds.tolist(),
               "recovery": err["recovery"].tolist(), "operator": err["operator"].tolist()}
    # the error at d = sigma L / 2 (the paper's "negligible within sigma L / 2")
    numbers["recovery_at_sigma_L_over_2"] = {
        str(L): float(translation_errors([L], [SIGMA * L / 2])["recovery"][0, 0]) for L in lmaxs}
    return path, numbers


def _frame_axes(spec):
    """The residue frame's x and y axes in words (:data:`estimators.architectures.FRAME_KINDS`)."""
    if spec.get("frame", "backbone") == "ca_trace":
        return "x: towards CA(i-1), y: towards CA(i+1) in the plane of the three CAs"
    return "x: CA→N, y: towards C in the N-CA-C plane"


def figure_learned_filters(out, quick=False, n_filters=4, model=None):
    """Appendix N: real-space projections of the 6D conv filters of the shipped model (its first
    network when it is an ensemble).

    The filters ``conv0_w`` (n_radial, Q, C_in, C_out) are mapped to real space with
    :func:`fourier6d.inverse_transform` on the model's radial grid; the ``n_filters`` (input, output)
    channel pairs with the largest Parseval norm are shown as signed maximum-intensity projections
    (the value of largest magnitude along the projection axis) inside the ball |r| <= R_max (the
    neighbourhood whose atoms form a residue's input).
    """
    plt = _plt()
    from estimators import load_pretrained
    from estimators.networks import radial_grid
    est = load_pretrained() if model is None else model
    est = getattr(est, "estimators_", [est])[0]          # a seed ensemble: its first network
    spec = est.spec_
    grid = radial_grid(spec)
    W = np.asarray(est.params_["conv0_w"], dtype=np.float64)          # (P, Q, Cin, Cout)
    P, Q, cin, cout = W.shape
    flat = W.reshape(P, Q, cin * cout)
    norms = parseval_norm2(flat, grid)
    order = np.argsort(norms)[::-1][:n_filters]
    half = float(spec["r_max"])
    step = 1.0 if quick else 0.25
    n = int(round(2 * half / step)) + 1
    vals = inverse_on_grid(flat[:, :, order], grid, -half, step, (n, n, n))   # (n, n, n, k)
    t = -half + np.arange(n) * step
    outside = (t[:, None, None] ** 2 + t[None, :, None] ** 2 + t[None, None, :] ** 2) > half ** 2
    vals[outside] = 0.0                     # only the ball |r| <= R_max holds input atoms

    def signed_mip(a, axis):
        idx = np.expand_dims(np.abs(a).argmax(axis), axis)
        return np.take_along_axis(a, idx, axis).squeeze(axis)

    fig, axes = plt.subplots(len(order), 3, figsize=(8.4, 2.6 * len(order)))
    axes = np.atleast_2d(axes)
    numbers = {"filters": [], "grid_half_width_A": half, "voxel_A": step,
               "lmax": int(spec["lmax"]), "n_radial": int(P), "sigma_A": float(spec["sigma"])}
    for r, k in enumerate(order):
        a = vals[..., r]
        ci, co = divmod(int(k), cout)
        vmax = float(np.abs(a).max())
        for c, (axis, lab) in enumerate(((2, ("x", "y")), (1, ("x", "z")), (0, ("y", "z")))):
            ax = axes[r, c]
            img = signed_mip(a, axis)
            ax.imshow(img.T, origin="lower", extent=[t[0], t[-1], t[0], t[-1]], cmap="RdBu_r",
                      vmin=-vmax, vmax=vmax, interpolation="bilinear")
            ax.set_title(f"in {ci} → out {co}, {lab[0]}{lab[1]} (along {'xyz'[axis]})", fontsize=8)
            ax.set_xlabel(f"{lab[0]} (Å)", fontsize=7)
            ax.set_ylabel(f"{lab[1]} (Å)", fontsize=7)
            ax.tick_params(labelsize=6)
        numbers["filters"].append({"in": ci, "out": co, "parseval_norm2": float(norms[k]),
                                   "max_abs": vmax, "max": float(a.max()), "min": float(a.min())})
    fig.suptitle(f"Learned 6D convolution filters of the shipped {spec.get('name', 'model').upper()} "
                 f"(conv0_w, L = {spec['lmax']}, "
                 f"{P} shells, ρmax = π/{spec['sigma']:g} Å⁻¹)\nsigned maximum-intensity projections "
                 f"inside |r| ≤ R_max in the residue frame\n({_frame_axes(spec)}); "
                 "red > 0, blue < 0",
                 fontsize=8)
    fig.tight_layout()
    path = Path(out) / "learned_filters.png"
    _save(fig, path, dpi=80 if quick else 90)
    return path, numbers


FIGURES = {"fig2_maps": figure_maps, "fig2_localisation": figure_localisation,
           "fig2_translation": figure_translation, "learned_filters": figure_learned_filters}


def make_figures(out=HERE, quick=False, only=None, verbose=True):
    """Make the figures into ``out``; returns ``{name: (path, numbers)}`` and writes the numbers JSON."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, fn in FIGURES.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        path, numbers = fn(out, quick=quick)
        numbers["seconds"] = round(time.perf_counter() - t0, 2)
        numbers["quick"] = bool(quick)
        results[name] = (path, numbers)
        if verbose:
            print(f"{path}  ({path.stat().st_size / 1024:.0f} kB, {numbers['seconds']} s)")
    numbers_path = out / "figure_numbers.json"
    old = json.loads(numbers_path.read_text()) if numbers_path.is_file() else {}
    old.update({name: nums for name, (_, nums) in results.items()})
    old["quick"] = any(v.get("quick", False) for k, v in old.items() if k in FIGURES)
    numbers_path.write_text(json.dumps(old, indent=1) + "\n")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE), help="output folder (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="coarse, fast run (lower resolution)")
    ap.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="make only these figures")
    args = ap.parse_args(argv)
    results = make_figures(args.out, quick=args.quick, only=args.only)
    if "fig2_localisation" in results:
        n = results["fig2_localisation"][1]
        print("localisation error, max over rotations (A):")
        print("  L  " + "  ".join(f"{v[:14]:>14}" for v in VARIANTS))
        for i, L in enumerate(n["lmax"]):
            print(f"  {L}  " + "  ".join(f"{n['max_error_A'][v][i]:14.4f}" for v in VARIANTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
