"""Training loop: composite loss, Adam with gradient clipping, early stopping.

Loss (documented choice; the paper's Appendix L is a composite loss and the
authors' code weights per-residue and per-model terms)::

    L = mean_{labelled residues} (o_i - y_i)^2  +  global_weight * mean_models (mean_i o_i - Y_m)^2

where Y_m is the model's global lDDT (given, or the mean of its known local
labels).  The second term directly trains the ranking quantity (the global
score is the mean of per-residue predictions).
"""
from __future__ import annotations

import math
import time

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from fourier6d._backend import get_array_module, to_numpy

from .batching import collate
from .networks import forward, forward_chunked, batch_to_device, switch_features, TRAINABLE_EXCLUDE

__all__ = ["Adam", "model_targets", "train_network", "predict_nodes"]


class Adam:
    """Adam on a dict of arrays (array-module agnostic), with global-norm clipping."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 clip_norm=None):
        self.lr, self.b1, self.b2, self.eps, self.clip = learning_rate, beta1, beta2, eps, clip_norm
        self.m = {k: v * 0 for k, v in params.items()}
        self.v = {k: v * 0 for k, v in params.items()}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        keys = [k for k in grads if k not in TRAINABLE_EXCLUDE]
        if self.clip:
            xp = get_array_module(*[grads[k] for k in keys])
            norm = float(xp.sqrt(sum(xp.sum(grads[k] ** 2) for k in keys)))
            factor = min(1.0, self.clip / (norm + 1e-12)) if math.isfinite(norm) else 0.0
        else:
            factor = 1.0
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        new = dict(params)
        for k in keys:
            g = grads[k] * factor
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            new[k] = params[k] - self.lr * (self.m[k] / c1) / ((self.v[k] / c2) ** 0.5 + self.eps)
        return new


def model_targets(features, local, global_):
    """Per-node labels and per-model global labels for a list of ProteinFeatures.

    ``local[m]`` is an array over the Structure's residues (NaN = unknown) or
    None; ``global_[m]`` a float or NaN (then the mean of known local labels).
    """
    node_y, model_y = [], []
    for f, loc, glob in zip(features, local, global_):
        if loc is None:
            y = np.full(len(f.residue_index), np.nan)
        else:
            loc = np.asarray(loc, dtype=np.float64)
            if loc.shape != (f.n_residues_total,):
                raise ValueError(f"{f.name}: per-residue lDDT has shape {loc.shape}, expected "
                                 f"({f.n_residues_total},) (one value per residue read from the file)")
            y = loc[f.residue_index]
        if glob is None or not np.isfinite(glob):
            glob = float(np.nanmean(y)) if np.isfinite(y).any() else np.nan
        node_y.append(y)
        model_y.append(glob)
    return node_y, np.asarray(model_y, dtype=np.float64)


def _loss_fn(spec, grid, dev, y_node, y_mask, y_model, model_mask, avg, global_weight):
    def loss(params):
        o = forward(params, spec, dev, grid)
        local = anp.sum(((o - y_node) ** 2) * y_mask) / anp.maximum(anp.sum(y_mask), 1.0)
        g = avg @ o
        glob = anp.sum(((g - y_model) ** 2) * model_mask) / anp.maximum(anp.sum(model_mask), 1.0)
        return local + global_weight * glob
    return loss


def _device_targets(batch, node_y, model_y, idx, xp, dtype):
    y = np.concatenate([node_y[i] for i in idx])
    mask = np.isfinite(y)
    gm = model_y[idx]
    gmask = np.isfinite(gm)
    avg = np.zeros((len(idx), batch.n_nodes))
    for b, s in enumerate(batch.node_slices):
        avg[b, s] = 1.0 / max(s.stop - s.start, 1)
    to = lambda a: xp.asarray(a, dtype=dtype)
    return to(np.where(mask, y, 0)), to(mask), to(np.where(gmask, gm, 0)), to(gmask), to(avg)


def predict_nodes(params, spec, grid, features, xp, dtype, batch_size=16, max_nodes=None):
    """Per-node predictions (host arrays), one per ProteinFeatures.

    ``max_nodes``: run the 6D layers on at most this many residues at a time
    (:func:`estimators.networks.forward_chunked`); None = whole minibatches.
    """
    out = []
    for start in range(0, len(features), batch_size):
        chunk = features[start:start + batch_size]
        batch = collate(chunk, dtype=dtype)
        dev = batch_to_device(batch, xp, dtype)
        o = to_numpy(forward_chunked(params, spec, dev, grid, max_nodes))
        out.extend(o[s] for s in batch.node_slices)
    return out


def init_switch_scale(params, spec, grid, features, xp, dtype, n_models=16):
    """Data-dependent init: scale the Eq. 11 output to unit standard deviation."""
    batch = collate(features[:n_models], dtype=dtype)
    dev = batch_to_device(batch, xp, dtype)
    h = to_numpy(switch_features(params, spec, dev, grid))
    std = float(np.std(h))
    params = dict(params)
    params["switch_scale"] = xp.asarray(1.0 / std if std > 0 and np.isfinite(std) else 1.0, dtype=dtype)
    return params


def _pearson(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def train_network(params, spec, grid, features, node_y, model_y, *, xp, dtype, epochs,
                  batch_size, learning_rate, clip_norm, global_weight, random_state,
                  val=None, patience=None, verbose=0, log=print, progress=None):
    """Train ``params`` in place of a copy; returns (best_params, history list of dicts).

    ``val`` is (features, node_y, model_y) or None.  With ``patience`` the
    parameters of the epoch with the best validation loss are returned.
    """
    rng = np.random.default_rng(random_state)
    opt = Adam(params, learning_rate=learning_rate, clip_norm=clip_norm)
    n = len(features)
    history = []
    best, best_loss, since_best = params, math.inf, 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        t0 = time.perf_counter()
        losses = []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            batch = collate([features[i] for i in idx], dtype=dtype)
            dev = batch_to_device(batch, xp, dtype)
            targets = _device_targets(batch, node_y, model_y, idx, xp, dtype)
            loss = _loss_fn(spec, grid, dev, *targets, global_weight)
            value, grads = value_and_grad(loss)(params)
            value = float(value)
            if not math.isfinite(value):
                raise FloatingPointError(f"training loss became {value} at epoch {epoch + 1}")
            params = opt.step(params, grads)
            losses.append(value)
            if progress is not None:
                progress.update(len(idx))
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
               "seconds": time.perf_counter() - t0}
        if val is not None:
            vf, vy, vg = val
            pred = predict_nodes(params, spec, grid, vf, xp, dtype, batch_size)
            y = np.concatenate(vy)
            p = np.concatenate(pred)
            ok = np.isfinite(y)
            pg = np.array([np.mean(q) for q in pred])
            rec["val_local_mse"] = float(np.mean((p[ok] - y[ok]) ** 2)) if ok.any() else float("nan")
            okg = np.isfinite(vg)
            rec["val_global_mse"] = float(np.mean((pg[okg] - vg[okg]) ** 2)) if okg.any() else float("nan")
            rec["val_loss"] = rec["val_local_mse"] + global_weight * rec["val_global_mse"]
            rec["val_pearson"] = _pearson(pg, vg)
            if rec["val_loss"] < best_loss:
                best, best_loss, since_best = params, rec["val_loss"], 0
            else:
                since_best += 1
        else:
            best = params
        history.append(rec)
        if verbose:
            msg = f"epoch {rec['epoch']:3d}  loss {rec['loss']:.5f}  ({rec['seconds']:.1f} s)"
            if val is not None:
                msg += f"  val_loss {rec['val_loss']:.5f}  val_pearson {rec['val_pearson']:.3f}"
            log(msg)
        if val is not None and patience and since_best >= patience:
            break
    return best, history
