"""Training loop: composite loss with a ranking term, Adam with a learning-rate schedule,
group-aware minibatches, early stopping on per-group ranking, calibration of the global score.

Loss (documented choice; the paper's Appendix L is a composite loss and the authors' code weights
per-residue and per-model terms)::

    L = mean_{labelled residues} (o_i - y_i)^2
        + global_weight * mean_models (g_m - Y_m)^2
        + rank_weight * tau * mean_{pairs (m, n) of one group, Y_m - Y_n > rank_margin}
              softplus(-(g_m - g_n) / tau)
        + within_weight * mean_{labelled residues} (r_i - rbar_m(i))^2

where g_m = mean_i o_i is the model's global score and Y_m its global lDDT (given, or the mean of
its known local labels).  The third term (a pairwise logistic "RankNet" loss among models of the
same native or target, scaled by tau so that its gradient per pair is at most 1, like the squared
errors) trains what users need most: the order of the models of one target.  Minibatches are
built from ``groups_per_batch`` groups at a time, so every minibatch holds such pairs.  The
fourth term (off by default) weighs the per-residue errors r_i = o_i - y_i with their model's mean
error rbar_m (over its labelled residues) removed: the first term is this within-model part plus a
model-wide offset, so ``within_weight`` > 0 trains the order of the residues of one model (what
the local Spearman correlation measures) more than their common level, which the global terms
already train.

Learning rate: linear warm-up over the first ``warmup_fraction`` of the steps, then cosine decay to
``min_lr_fraction`` of the peak (or constant).

Early stopping and model selection: after each epoch the validation models (held-out natives or
targets, never models of a training group) are scored, and the parameters with the best mean
per-group Spearman correlation of the global score are kept (pooled correlations reward telling
targets apart, which is not the task).  Calibration: the global score is mapped by the least-squares
line a g + b fitted on the validation models, folded into the output layer
(sigma_t <- a sigma_t, mu_t <- a mu_t + b), which applies it to the per-residue scores too.

Training sets of any size: :class:`TrainingSet` holds the models (features, or anything
:func:`estimators.features.featurize` reads, or zero-argument callables returning such) and
featurizes non-feature items per minibatch, so memory does not grow with the corpus.
"""
from __future__ import annotations

import math
import time
import warnings

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from fourier6d._backend import get_array_module, to_numpy

from .batching import collate
from .networks import forward, forward_chunked, batch_to_device, switch_features, TRAINABLE_EXCLUDE

__all__ = ["Adam", "TrainingSet", "model_targets", "train_network", "predict_nodes",
           "group_batches", "learning_rate_at", "calibrate_output", "per_group_spearman"]


class Adam:
    """Adam on a dict of arrays (array-module agnostic), with global-norm clipping.

    A step whose gradients are not all finite is skipped (parameters and moments unchanged,
    counted in ``skipped``): one bad minibatch must not turn every weight into NaN."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 clip_norm=None):
        self.lr, self.b1, self.b2, self.eps, self.clip = learning_rate, beta1, beta2, eps, clip_norm
        self.m = {k: v * 0 for k, v in params.items()}
        self.v = {k: v * 0 for k, v in params.items()}
        self.t = 0
        self.skipped = 0

    def step(self, params, grads):
        keys = [k for k in grads if k not in TRAINABLE_EXCLUDE]
        xp = get_array_module(*[grads[k] for k in keys])
        norm = float(xp.sqrt(sum(xp.sum(grads[k] ** 2) for k in keys)))
        if not math.isfinite(norm):
            self.skipped += 1
            return dict(params)
        self.t += 1
        factor = min(1.0, self.clip / (norm + 1e-12)) if self.clip else 1.0
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


class TrainingSet:
    """Models with their labels, featurized once or per minibatch.

    Parameters
    ----------
    items : sequence
        Per model: a :class:`~estimators.features.ProteinFeatures`, anything ``featurize`` reads
        (path, Structure, ProDy AtomGroup), or a zero-argument callable returning one of those
        (e.g. a decoy built from a corpus file on demand).
    local : sequence
        Per model: per-residue lDDT over the residues of the structure (NaN = unknown) or None.
    glob : sequence of float
        Per model: global lDDT, or NaN (then the mean of the known local labels).
    groups : sequence, optional
        Native or target of each model (ranking pairs and group-aware minibatches); default one
        group per model.
    featurize : callable, optional
        ``featurize(item) -> ProteinFeatures`` for items that are not features yet.
    """

    def __init__(self, items, local, glob, groups=None, featurize=None):
        self.items = list(items)
        n = len(self.items)
        self.local = list(local)
        self.glob = np.asarray(glob, dtype=np.float64)
        if len(self.local) != n or len(self.glob) != n:
            raise ValueError(f"{n} models but {len(self.local)} local and {len(self.glob)} "
                             "global labels")
        self.groups = (np.arange(n).astype(str) if groups is None
                       else np.asarray(groups).astype(str))
        if len(self.groups) != n:
            raise ValueError(f"{n} models but {len(self.groups)} groups")
        self.featurize = featurize

    def __len__(self):
        return len(self.items)

    def features(self, idx):
        """ProteinFeatures of the models ``idx`` (computed now for non-feature items)."""
        from .features import ProteinFeatures
        out = []
        for i in idx:
            item = self.items[i]
            if callable(item) and not isinstance(item, ProteinFeatures):
                item = item()
            if not isinstance(item, ProteinFeatures):
                if self.featurize is None:
                    raise TypeError(f"model {i} is not featurized and no featurize function "
                                    "was given")
                item = self.featurize(item)
            out.append(item)
        return out

    def batch(self, idx):
        """(features, per-node labels, per-model global labels) of the models ``idx``."""
        feats = self.features(idx)
        node_y, model_y = model_targets(feats, [self.local[i] for i in idx],
                                        [self.glob[i] for i in idx])
        return feats, node_y, model_y


def group_batches(groups, batch_size, groups_per_batch, rng):
    """One epoch of minibatches (lists of indices), mostly from ``groups_per_batch`` groups each.

    Every model appears exactly once.  The models of each group are shuffled and cut into runs of
    ``batch_size // groups_per_batch``; the runs of all groups are shuffled and consecutive runs
    are joined into minibatches of at most ``batch_size`` models (short runs, e.g. of small
    groups, make room for more groups).  ``groups_per_batch = 0`` gives plain shuffled
    minibatches.
    """
    groups = np.asarray(groups)
    n = len(groups)
    if groups_per_batch <= 0:
        order = rng.permutation(n)
        return [order[s:s + batch_size].tolist() for s in range(0, n, batch_size)]
    run = max(1, batch_size // groups_per_batch)
    runs = []
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        runs += [members[s:s + run].tolist() for s in range(0, len(members), run)]
    batches, current = [], []
    for k in rng.permutation(len(runs)):
        if current and len(current) + len(runs[k]) > batch_size:
            batches.append(current)
            current = []
        current = current + runs[k]
    if current:
        batches.append(current)
    return batches


def learning_rate_at(step, total, peak, schedule="cosine", warmup_fraction=0.03,
                     min_lr_fraction=0.05):
    """Learning rate of optimiser step ``step`` (0-based) of ``total``."""
    if schedule == "constant":
        return float(peak)
    if schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {schedule!r}")
    warm = max(1, int(round(warmup_fraction * total)))
    if step < warm:
        return float(peak) * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, total - warm))
    floor = float(peak) * min_lr_fraction
    return floor + 0.5 * (float(peak) - floor) * (1.0 + math.cos(math.pi * t))


def _rank_pairs(groups, model_y, margin):
    """(P, B) matrix with +1 at the better and -1 at the worse model of each ranked pair."""
    rows = []
    B = len(groups)
    for a in range(B):
        for b in range(B):
            if groups[a] == groups[b] and np.isfinite(model_y[a]) and np.isfinite(model_y[b]) \
                    and model_y[a] - model_y[b] > margin:
                r = np.zeros(B)
                r[a], r[b] = 1.0, -1.0
                rows.append(r)
    return np.asarray(rows).reshape(-1, B)


def _loss_fn(spec, grid, dev, y_node, y_mask, y_model, model_mask, avg, pairs, global_weight,
             rank_weight, rank_tau, within_weight=0.0):
    n_labelled = anp.maximum(anp.sum(y_mask), 1.0)
    if within_weight > 0:
        # per model, the mean over its labelled residues (B, N); each node's model (N, B)
        xp = get_array_module(avg)
        member = (avg > 0).astype(avg.dtype)
        counts = member @ y_mask
        labelled_mean = member * y_mask[None, :] / xp.maximum(counts, 1.0)[:, None]
        node_model = member.T

    def loss(params):
        o = forward(params, spec, dev, grid)
        local = anp.sum(((o - y_node) ** 2) * y_mask) / n_labelled
        g = avg @ o
        glob = anp.sum(((g - y_model) ** 2) * model_mask) / anp.maximum(anp.sum(model_mask), 1.0)
        total = local + global_weight * glob
        if pairs is not None:
            d = pairs @ g                                   # g_better - g_worse
            total = total + rank_weight * rank_tau * anp.mean(anp.logaddexp(0.0, -d / rank_tau))
        if within_weight > 0:
            r = (o - y_node) * y_mask
            centred = r - node_model @ (labelled_mean @ r)
            total = total + within_weight * anp.sum((centred ** 2) * y_mask) / n_labelled
        return total
    return loss


def _device_targets(batch, node_y, model_y, xp, dtype):
    y = np.concatenate(node_y)
    mask = np.isfinite(y)
    gm = np.asarray(model_y, dtype=np.float64)
    gmask = np.isfinite(gm)
    avg = np.zeros((len(gm), batch.n_nodes))
    for b, s in enumerate(batch.node_slices):
        avg[b, s] = 1.0 / max(s.stop - s.start, 1)
    to = lambda a: xp.asarray(a, dtype=dtype)
    return to(np.where(mask, y, 0)), to(mask), to(np.where(gmask, gm, 0)), to(gmask), to(avg)


def _device_dict(arrays, xp):
    """Host arrays of a checkpoint on the device of ``xp`` (dtype kept)."""
    return {k: xp.asarray(v) for k, v in arrays.items()}


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
    if isinstance(features, TrainingSet):
        features = features.features(range(min(n_models, len(features))))
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


def per_group_spearman(pred, true, groups, min_models=3):
    """Mean over groups (with >= ``min_models`` finite pairs) of the Spearman correlation of the
    global scores; NaN when no group qualifies."""
    from .metrics import spearman
    pred, true, groups = np.asarray(pred, float), np.asarray(true, float), np.asarray(groups)
    values = []
    for g in np.unique(groups):
        m = (groups == g) & np.isfinite(pred) & np.isfinite(true)
        if m.sum() >= min_models and np.ptp(pred[m]) > 0 and np.ptp(true[m]) > 0:
            values.append(spearman(pred[m], true[m]))
    return float(np.mean(values)) if values else float("nan")


def _score_set(params, spec, grid, data, xp, dtype, batch_size):
    """Per-node predictions, node labels and global labels of every model of a TrainingSet."""
    pred, node_y, model_y = [], [], []
    for start in range(0, len(data), 4 * batch_size):
        idx = list(range(start, min(start + 4 * batch_size, len(data))))
        feats, ny, my = data.batch(idx)
        pred += predict_nodes(params, spec, grid, feats, xp, dtype, batch_size)
        node_y += ny
        model_y.append(my)
    return pred, node_y, np.concatenate(model_y)


def calibrate_output(params, pred_global, true_global, xp=np):
    """Fold the least-squares line ``true ~ a pred + b`` into the output layer.

    ``o = sigma_t h + mu_t`` becomes ``a o + b``; returns (params, (a, b)).  Skipped (a=1, b=0)
    with fewer than 3 finite pairs or a constant prediction; ``a`` is kept in [0.2, 5].
    """
    p, t = np.asarray(pred_global, float), np.asarray(true_global, float)
    ok = np.isfinite(p) & np.isfinite(t)
    if ok.sum() < 3 or np.std(p[ok]) == 0:
        return params, (1.0, 0.0)
    a, b = np.polyfit(p[ok], t[ok], 1)
    a = float(np.clip(a, 0.2, 5.0))
    b = float(np.mean(t[ok]) - a * np.mean(p[ok]))
    out = dict(params)
    dt = np.asarray(to_numpy(params["sigma_t"])).dtype
    out["sigma_t"] = xp.asarray(a * float(to_numpy(params["sigma_t"])), dtype=dt)
    out["mu_t"] = xp.asarray(a * float(to_numpy(params["mu_t"])) + b, dtype=dt)
    return out, (a, b)


def train_network(params, spec, grid, train, *, xp, dtype, epochs, batch_size, learning_rate,
                  clip_norm, global_weight, random_state, val=None, patience=None,
                  rank_weight=0.0, rank_tau=0.05, rank_margin=0.02, within_weight=0.0,
                  groups_per_batch=0,
                  lr_schedule="constant", warmup_fraction=0.03, min_lr_fraction=0.05,
                  calibrate=False, verbose=0, log=print, progress=None, checkpoint_dir=None):
    """Train a copy of ``params``; returns (best_params, history list of dicts).

    ``train`` and ``val`` are :class:`TrainingSet` (``val`` may be None).  With ``val`` the
    parameters of the epoch with the best validation ranking (mean per-group Spearman of the
    global score; the validation loss when no group has 3 models) are returned, training stops
    after ``patience`` epochs without improvement, and with ``calibrate`` the global score is
    calibrated on ``val`` (:func:`calibrate_output`).  See the module docstring for the loss.

    With ``checkpoint_dir`` the state of the run is saved there after each epoch
    (:mod:`estimators.checkpoint`, one file per run, named by its fingerprint), and a run whose
    file exists starts from it: an interrupted fit, started again with the same inputs and
    settings, ends with the same weights and history as an uninterrupted one.
    """
    settings = dict(epochs=int(epochs), batch_size=int(batch_size),
                    learning_rate=float(learning_rate), clip_norm=clip_norm,
                    global_weight=float(global_weight), random_state=random_state,
                    patience=patience, rank_weight=float(rank_weight), rank_tau=float(rank_tau),
                    rank_margin=float(rank_margin), within_weight=float(within_weight),
                    groups_per_batch=int(groups_per_batch), lr_schedule=lr_schedule,
                    warmup_fraction=float(warmup_fraction),
                    min_lr_fraction=float(min_lr_fraction), calibrate=bool(calibrate),
                    dtype=str(np.dtype(dtype)))
    rng = np.random.default_rng(random_state)
    opt = Adam(params, learning_rate=learning_rate, clip_norm=clip_norm)
    steps_per_epoch = len(group_batches(train.groups, batch_size, groups_per_batch,
                                        np.random.default_rng(0)))
    total_steps = max(1, steps_per_epoch * int(epochs))
    history = []
    best, best_key, since_best, best_val = params, None, 0, None
    step = skipped_before = 0
    start, stopped = 0, False
    ckpt = None
    if checkpoint_dir is not None:
        from .checkpoint import (checkpoint_path, load_checkpoint, save_checkpoint,
                                 training_fingerprint)
        fingerprint = training_fingerprint(params, settings, train, val)
        ckpt = checkpoint_path(checkpoint_dir, fingerprint)
        saved = load_checkpoint(ckpt, fingerprint)
        if saved is not None:
            arrays, meta = saved
            params, best = _device_dict(arrays["params"], xp), _device_dict(arrays["best"], xp)
            opt.m, opt.v = _device_dict(arrays["m"], xp), _device_dict(arrays["v"], xp)
            opt.t, opt.skipped, opt.lr = meta["adam_t"], meta["adam_skipped"], meta["lr"]
            rng.bit_generator.state = meta["rng"]
            step, skipped_before = meta["step"], meta["adam_skipped"]
            history, best_key, since_best = meta["history"], meta["best_key"], meta["since_best"]
            if "best_val_pred" in arrays["extra"]:
                best_val = arrays["extra"]["best_val_pred"], arrays["extra"]["best_val_true"]
            start, stopped = len(history), meta["stopped"]
            if progress is not None:
                progress.update(len(train) * start)
            if verbose:
                log(f"resumed from {ckpt} after epoch {start}")
    for epoch in range(start, epochs):
        if stopped:
            break
        t0 = time.perf_counter()
        losses = []
        for idx in group_batches(train.groups, batch_size, groups_per_batch, rng):
            feats, node_y, model_y = train.batch(idx)
            batch = collate(feats, dtype=dtype)
            dev = batch_to_device(batch, xp, dtype)
            targets = _device_targets(batch, node_y, model_y, xp, dtype)
            pairs = None
            if rank_weight > 0:
                P = _rank_pairs(train.groups[idx], model_y, rank_margin)
                pairs = xp.asarray(P, dtype=dtype) if len(P) else None
            loss = _loss_fn(spec, grid, dev, *targets, pairs, global_weight, rank_weight,
                            rank_tau, within_weight)
            value, grads = value_and_grad(loss)(params)
            value = float(value)
            if not math.isfinite(value):
                raise FloatingPointError(f"training loss became {value} at epoch {epoch + 1}")
            opt.lr = learning_rate_at(step, total_steps, learning_rate, lr_schedule,
                                      warmup_fraction, min_lr_fraction)
            params = opt.step(params, grads)
            step += 1
            losses.append(value)
            if progress is not None:
                progress.update(len(idx))
        rec = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": float(opt.lr),
               "seconds": time.perf_counter() - t0}
        if opt.skipped > skipped_before:
            rec["skipped_steps"] = opt.skipped - skipped_before
            warnings.warn(f"epoch {epoch + 1}: {rec['skipped_steps']} step(s) skipped for "
                          "non-finite gradients", RuntimeWarning, stacklevel=2)
        skipped_before = opt.skipped
        if val is not None:
            pred, vy, vg = _score_set(params, spec, grid, val, xp, dtype, batch_size)
            y = np.concatenate(vy)
            p = np.concatenate(pred)
            ok = np.isfinite(y)
            pg = np.array([np.mean(q) if len(q) else np.nan for q in pred])
            rec["val_local_mse"] = float(np.mean((p[ok] - y[ok]) ** 2)) if ok.any() else float("nan")
            okg = np.isfinite(vg)
            rec["val_global_mse"] = float(np.mean((pg[okg] - vg[okg]) ** 2)) if okg.any() else float("nan")
            rec["val_loss"] = rec["val_local_mse"] + global_weight * rec["val_global_mse"]
            rec["val_pearson"] = _pearson(pg, vg)
            rec["val_group_spearman"] = per_group_spearman(pg, vg, val.groups)
            key = (-rec["val_group_spearman"] if math.isfinite(rec["val_group_spearman"])
                   else rec["val_loss"])
            if best_key is None or key < best_key:
                best, best_key, since_best = params, key, 0
                best_val = pg, vg
            else:
                since_best += 1
        else:
            best = params
        history.append(rec)
        if verbose:
            msg = f"epoch {rec['epoch']:3d}  loss {rec['loss']:.5f}  ({rec['seconds']:.1f} s)"
            if val is not None:
                msg += (f"  val_loss {rec['val_loss']:.5f}  val_pearson {rec['val_pearson']:.3f}"
                        f"  val_group_spearman {rec['val_group_spearman']:.3f}")
            log(msg)
        stopped = bool(val is not None and patience and since_best >= patience)
        if ckpt is not None:
            extra = {} if best_val is None else {"best_val_pred": best_val[0],
                                                 "best_val_true": best_val[1]}
            save_checkpoint(ckpt, fingerprint,
                            {"params": params, "m": opt.m, "v": opt.v, "best": best,
                             "extra": extra},
                            {"adam_t": opt.t, "adam_skipped": opt.skipped, "lr": opt.lr,
                             "rng": rng.bit_generator.state, "step": step,
                             "history": history, "best_key": best_key,
                             "since_best": since_best, "stopped": stopped})
    if val is not None and calibrate and history:
        best, (a, b) = calibrate_output(best, *best_val, xp=xp)
        history[-1]["calibration_scale"], history[-1]["calibration_shift"] = a, b
    return best, history
