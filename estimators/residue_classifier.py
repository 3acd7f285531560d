"""Amino-acid recognition from density maps with 6D layers (SixDResidueClassifier).

Task (density-map poster, Li, de Oliveira, van den Bedem): given a density
map and the position of a residue's backbone (what backbone tracing gives),
tell its amino-acid type (20 classes) from the density around it.

Input representation.  For each residue, the map inside a ball of radius
``r_max`` around its C-alpha is expanded in spherical Fourier coefficients
(:func:`fourier6d.density.expand_density`, the voxel quadrature of Eq. 2's
transform) in the residue's backbone frame (:func:`estimators.features.
residue_frames`, Gram-Schmidt on CA->N, CA->C).  The coefficients are
therefore invariant to a rigid motion of the structure *and* the map, by
construction, as in the QA network; what changes when a structure is rotated
before its map is simulated is only the map grid's sampling of the density.
Nothing but the density reaches the classifier: the centre (CA) and the frame
(N, CA, C) are backbone positions, the same atoms for every amino acid.

Network (one 6DCNN block, as 6DCNN-1 of the paper without message passing)::

    x   = s_p * G                               per-shell input scale s_p (fitted)
    h0  = Switch(x; W_in)                       Eq. 11 on the input (the paper's baseline path)
    y   = Activation(Normalize(Conv6D(x; W_c)); B)      Eqs. 4, 7, 8-9
    h1  = Switch(y; W_out)                      Eq. 11
    h   = ([h0, h1] - mu) / sd                  standardisation fixed at initialisation
    p   = softmax(W_2 LReLU(W_1 h + b_1) + b_2)

trained by minimising the (optionally class-weighted) cross-entropy plus
``alpha`` times the squared weights, with Adam
(:class:`estimators.training.Adam`) and autograd.
"""
from __future__ import annotations

import math
import time

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from fourier6d import (RadialGrid, expand_density, normalize, activation, switch_to_vector,
                       parseval_weights)
from fourier6d.conv6d import conv6d

from .features import residue_frames
from .training import Adam

__all__ = ["SixDResidueClassifier", "density_radial_grid", "residue_density_coefficients",
           "residue_centres_frames", "power_spectrum"]


def density_radial_grid(n_radial, rho_max=math.pi):
    """Radial grid rho_p = p * rho_max / (n_radial - 1), p = 0..n_radial-1."""
    if int(n_radial) < 2:
        raise ValueError(f"n_radial must be >= 2 (rho_0 = 0 plus at least one shell), got {n_radial}")
    if not (rho_max > 0 and math.isfinite(rho_max)):
        raise ValueError(f"rho_max must be a positive number, got {rho_max}")
    return RadialGrid(int(n_radial), float(rho_max) / (int(n_radial) - 1))


def residue_centres_frames(structure):
    """C-alpha positions and backbone frames of the residues that have a frame.

    Returns
    -------
    residues : numpy.ndarray of int, shape (R',)
        Indices of residues with N, CA, C present and non-degenerate.
    centres : numpy.ndarray, shape (R', 3)
    frames : numpy.ndarray, shape (R', 3, 3)
        Columns = local x, y, z axes (global = centre + F @ local).
    """
    n, ca, c, has_frame = structure.backbone()
    residues = np.flatnonzero(has_frame)
    return residues, ca[residues], residue_frames(n[residues], ca[residues], c[residues])


def residue_density_coefficients(density_map, centres, frames, *, lmax=6, n_radial=8, r_max=6.0,
                                 rho_max=math.pi, smoothing=None, dtype=np.float64):
    """Spherical Fourier coefficients of a map around residues, in their frames.

    Parameters
    ----------
    density_map : DensityMap or (values, origin, voxel_size)
    centres : array, shape (R, 3)
        Expansion centres (C-alpha positions).
    frames : array, shape (R, 3, 3) or None
        Residue frames (columns = local axes); None keeps the map axes.
    lmax, n_radial, rho_max : expansion size; rho_p = p rho_max / (n_radial - 1).
    r_max : float
        Radius of the ball of voxels around each centre.
    smoothing : float, optional
        Gaussian smoothing of the map (std, Angstrom) applied in Fourier space.

    Returns
    -------
    numpy.ndarray, shape (R, n_radial, (lmax+1)**2, 1)
    """
    values, origin, voxel = density_map
    grid = density_radial_grid(n_radial, rho_max)
    values = np.asarray(values, dtype=dtype)
    centres = np.asarray(centres, dtype=dtype)
    frames = None if frames is None else np.asarray(frames, dtype=dtype)
    return expand_density(values, origin, voxel, centres, grid, int(lmax), float(r_max),
                          frames=frames, smoothing=smoothing)


def power_spectrum(coeffs):
    """Rotation-invariant power spectrum sum_m G_lm(rho)^2 per (rho, l, channel).

    ``coeffs`` (..., n_radial, (lmax+1)**2, C) -> (..., n_radial, lmax+1, C).
    Invariant because each degree-l block rotates by an orthogonal D^l (Eq. 6).
    """
    coeffs = np.asarray(coeffs)
    q = coeffs.shape[-2]
    lmax = int(round(math.sqrt(q))) - 1
    if (lmax + 1) ** 2 != q:
        raise ValueError(f"coefficient axis has length {q}, not (lmax + 1)**2")
    out = [np.sum(coeffs[..., l * l:(l + 1) ** 2, :] ** 2, axis=-2) for l in range(lmax + 1)]
    return np.stack(out, axis=-2)


def _lrelu(x, leak=0.05):
    return anp.where(x > 0, x, leak * x)


def _log_softmax(z):
    zmax = anp.max(z, axis=1, keepdims=True)
    shifted = z - zmax
    return shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))


_DECAYED = ("w_in", "conv", "w_out", "w1", "w2")


class SixDResidueClassifier(ClassifierMixin, BaseEstimator):
    """Recognise the amino-acid type of residues from density coefficients with 6D layers.

    Parameters
    ----------
    rho_max : float, default=pi
        Largest reciprocal radius of the coefficients' radial grid (must match
        :func:`residue_density_coefficients`); n_radial and lmax are read from X.
    n_channels : int, default=8
        Output channels of the 6D convolution (Eq. 4).
    n_switch : int, default=32
        Features produced by each of the two switch layers (Eq. 11).
    n_hidden : int, default=64
        Width of the hidden layer of the MLP head.
    epochs : int, default=40
    batch_size : int, default=128
    learning_rate : float, default=3e-3
    alpha : float, default=1e-4
        L2 penalty on the weights (filters and dense layers).
    clip_norm : float, default=5.0
        Global gradient-norm clipping of Adam.
    class_weight : None or 'balanced', default=None
    validation_fraction : float, default=0.0
        Held-out fraction (of ``groups`` when given to fit, else of samples)
        for early stopping on the validation cross-entropy.
    patience : int, default=8
    dtype : {'float64', 'float32'}, default='float64'
    random_state : int, default=0
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray
    params_ : dict of ndarray          trained weights
    input_scale_ : ndarray (n_radial,)  per-shell input scale
    feature_mean_, feature_std_ : ndarray   standardisation of the switch outputs
    history_ : list of dict
    n_params_ : int
    """

    def __init__(self, rho_max=math.pi, n_channels=8, n_switch=32, n_hidden=64, epochs=40,
                 batch_size=128, learning_rate=3e-3, alpha=1e-4, clip_norm=5.0, class_weight=None,
                 validation_fraction=0.0, patience=8, dtype="float64", random_state=0, verbose=0):
        self.rho_max = rho_max
        self.n_channels = n_channels
        self.n_switch = n_switch
        self.n_hidden = n_hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.alpha = alpha
        self.clip_norm = clip_norm
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _dtype(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return np.dtype(self.dtype)

    def _check_X(self, X, fitted=False):
        X = np.asarray(X)
        if X.dtype.kind not in "fiu":
            raise TypeError(f"X must be a real array of coefficients, got dtype {X.dtype}")
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim != 4:
            raise ValueError("X must have shape (n_samples, n_radial, n_coef[, n_channels]), "
                             f"got {X.shape}")
        q = X.shape[2]
        if int(round(math.sqrt(q))) ** 2 != q:
            raise ValueError(f"X has n_coef = {q}, not (lmax + 1)**2")
        if X.shape[1] < 2:
            raise ValueError(f"X needs n_radial >= 2, got {X.shape[1]}")
        X = X.astype(self._dtype(), copy=False)
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf")
        if fitted and X.shape[1:] != self.input_shape_:
            raise ValueError(f"X has per-sample shape {X.shape[1:]}, the classifier was fitted on "
                             f"{self.input_shape_}")
        return X

    def _check_params(self):
        for name in ("n_channels", "n_switch", "n_hidden", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        for name in ("learning_rate",):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")

    # ------------------------------------------------------------------ network
    def _init_params(self, shape, n_classes, dtype, rng):
        P, Q, C = shape
        K, S, H = int(self.n_channels), int(self.n_switch), int(self.n_hidden)
        grid = self.grid_
        pw = parseval_weights(grid)
        unit = 1.0 / math.sqrt(pw.sum() * Q)     # entry size of a unit-norm coefficient function
        r = lambda *s: rng.standard_normal(s)
        params = {
            "w_in": r(P, Q, C, S) / unit / math.sqrt(P * Q * C),
            "conv": r(P, Q, C, K) / math.sqrt(Q * C),
            "act_bias": r(P, Q, K) * unit,
            "w_out": r(P, Q, K, S) / unit / math.sqrt(P * Q * K),
            "w1": r(2 * S, H) * math.sqrt(2.0 / (2 * S)),
            "b1": np.zeros(H),
            "w2": r(H, n_classes) * math.sqrt(1.0 / H),
            "b2": np.zeros(n_classes),
        }
        return {k: v.astype(dtype) for k, v in params.items()}

    def _switch_features(self, params, X):
        grid = self.grid_
        x = X * self.input_scale_.astype(X.dtype)[:, None, None]
        h0 = switch_to_vector(x, params["w_in"], grid)
        y = conv6d(x, params["conv"])
        y = normalize(y, grid)
        y = activation(y, params["act_bias"], grid)
        h1 = switch_to_vector(y, params["w_out"], grid)
        return anp.concatenate([h0, h1], axis=1)

    def _logits(self, params, X):
        h = self._switch_features(params, X)
        h = (h - self.feature_mean_.astype(X.dtype)) / self.feature_std_.astype(X.dtype)
        z = _lrelu(anp.dot(h, params["w1"]) + params["b1"])
        return anp.dot(z, params["w2"]) + params["b2"]

    def _loss(self, X, codes, sample_w):
        alpha = float(self.alpha)

        def loss(params):
            logp = _log_softmax(self._logits(params, X))
            picked = logp[np.arange(len(codes)), codes]
            ce = -anp.sum(picked * sample_w) / np.sum(sample_w)
            if alpha:
                ce = ce + alpha * sum(anp.sum(params[k] ** 2) for k in _DECAYED)
            return ce
        return loss

    def _cross_entropy(self, params, X, codes):
        logp = np.concatenate([_log_softmax(self._logits(params, X[s:s + 1024]))
                               for s in range(0, len(X), 1024)])
        return float(-np.mean(logp[np.arange(len(codes)), codes]))

    # ------------------------------------------------------------------ API
    def fit(self, X, y, groups=None):
        """Train on coefficient arrays X (n, n_radial, n_coef[, C]) and labels y.

        ``groups`` (e.g. protein ids) makes the early-stopping split keep whole
        groups out of training.
        """
        self._check_params()
        dtype = self._dtype()
        X = self._check_X(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("fit needs at least two classes in y")
        rng = np.random.default_rng(self.random_state)
        self.input_shape_ = X.shape[1:]
        self.grid_ = density_radial_grid(X.shape[1], self.rho_max)
        # per-shell scale: unit root-mean-square coefficient on every shell (rotation invariant)
        rms = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=(0, 2, 3)))
        self.input_scale_ = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0)

        train, val = np.arange(len(X)), None
        if self.validation_fraction > 0:
            if groups is not None:
                groups = np.asarray(groups)
                if groups.shape != (len(X),):
                    raise ValueError(f"groups must have shape ({len(X)},), got {groups.shape}")
                uniq = rng.permutation(np.unique(groups))
                n_val = max(1, int(round(self.validation_fraction * len(uniq))))
                is_val = np.isin(groups, uniq[:n_val])
            else:
                is_val = np.zeros(len(X), dtype=bool)
                is_val[rng.permutation(len(X))[:max(1, int(round(self.validation_fraction * len(X))))]] = True
            train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
            if len(train) == 0:
                raise ValueError("validation split left no training samples")

        if self.class_weight == "balanced":
            present = np.unique(codes[train])
            cw = np.ones(len(self.classes_))
            cw[present] = compute_class_weight("balanced", classes=present, y=codes[train])
        else:
            cw = np.ones(len(self.classes_))
        sample_w_all = cw[codes].astype(dtype)

        params = self._init_params(X.shape[1:], len(self.classes_), dtype, rng)
        # data-dependent standardisation of the switch outputs (fixed afterwards)
        probe = X[train[rng.permutation(len(train))[:1024]]]
        h = np.asarray(self._switch_features(params, probe), dtype=np.float64)
        self.feature_mean_ = h.mean(axis=0)
        sd = h.std(axis=0)
        self.feature_std_ = np.where(sd > 0, sd, 1.0)

        opt = Adam(params, learning_rate=float(self.learning_rate), clip_norm=self.clip_norm)
        bs = int(self.batch_size)
        history, best, best_loss, since = [], params, math.inf, 0
        for epoch in range(int(self.epochs)):
            t0 = time.perf_counter()
            order = train[rng.permutation(len(train))]
            losses = []
            for s in range(0, len(order), bs):
                idx = order[s:s + bs]
                value, grads = value_and_grad(self._loss(X[idx], codes[idx], sample_w_all[idx]))(params)
                if not math.isfinite(float(value)):
                    raise FloatingPointError(f"training loss became {value} at epoch {epoch + 1}")
                params = opt.step(params, grads)
                losses.append(float(value))
            rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                   "seconds": time.perf_counter() - t0}
            if val is not None:
                rec["val_cross_entropy"] = self._cross_entropy(params, X[val], codes[val])
                if rec["val_cross_entropy"] < best_loss:
                    best, best_loss, since = params, rec["val_cross_entropy"], 0
                else:
                    since += 1
            else:
                best = params
            history.append(rec)
            if self.verbose:
                print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in rec.items()), flush=True)
            if val is not None and self.patience and since >= self.patience:
                break
        self.params_ = {k: np.asarray(v) for k, v in best.items()}
        self.history_ = history
        self.n_params_ = int(sum(v.size for v in self.params_.values()))
        return self

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this SixDResidueClassifier is not fitted yet; call fit")

    def decision_function(self, X):
        """Logits, shape (n_samples, n_classes)."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        params = {k: v.astype(X.dtype, copy=False) for k, v in self.params_.items()}
        out = [np.asarray(self._logits(params, X[s:s + 1024])) for s in range(0, len(X), 1024)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)))

    def predict_proba(self, X):
        """Class probabilities (softmax), shape (n_samples, n_classes), rows sum to 1."""
        return np.exp(_log_softmax(self.decision_function(X)))

    def predict(self, X):
        """Most probable class of each sample."""
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]
