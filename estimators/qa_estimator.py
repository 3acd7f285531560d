"""SixDQAEstimator: scikit-learn-style protein model quality assessment with 6DCNN."""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupShuffleSplit

from fourier6d._backend import to_numpy

from .architectures import get_architecture
from .features import FEATURE_KEYS, feature_params
from .model_file import read_model_file, refinement_sizes, write_model_file
from .networks import init_params, count_params, radial_grid
from .global_refinement import fit_global_refinement, global_shift
from .local_refinement import apply_refinement, fit_refinement
from .smoothing import check_width, smooth_along_chain
from .training import TrainingSet, train_network, predict_nodes, init_switch_scale
from .global_score import predict_global_scores

__all__ = ["SixDQAEstimator"]

_FEATURE_KEYS = tuple(FEATURE_KEYS)
#: :meth:`SixDQAEstimator.fit` featurizes up to this many models once (features of a 160-residue
#: model take about 10 MB); larger training sets are featurized per minibatch, so memory does not
#: grow with their size (featurizing costs a few % of a training iteration).
EAGER_FEATURES = 256
#: :meth:`SixDQAEstimator.predict` featurizes and scores this many models at a time.
PREDICT_CHUNK = 64


def _array_module(device):
    if device == "cpu":
        return np
    if device in ("cuda", "gpu"):
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise RuntimeError("device='cuda' needs CuPy: pip install 'fourier6d[gpu]'") from exc
        from fourier6d.autodiff import enable_cupy_autograd
        enable_cupy_autograd()
        return cupy
    raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")


#: Settings of a network that do not change what it computes (how it runs).
RUNTIME_PARAMS = ("n_jobs", "device", "errors", "verbose", "checkpoint_dir")


def check_runtime_params(params):
    """ValueError unless every key of ``params`` is one of :data:`RUNTIME_PARAMS`."""
    unknown = sorted(set(params) - set(RUNTIME_PARAMS))
    if unknown:
        raise ValueError(f"not runtime settings: {unknown} (allowed: {RUNTIME_PARAMS})")


class SixDQAEstimator(RegressorMixin, BaseEstimator):
    """Predict per-residue and global lDDT of protein models with a 6DCNN network.

    Parameters
    ----------
    architecture : str or dict, default='6dcnn-1'
        'baseline', '6dcnn-1', '6dcnn-2' or a spec dict (see
        :mod:`estimators.architectures`).
    lmax, n_radial, sigma, r_max, r_n, d_t, atom_fade, edge_fade, frame : optional
        Override the architecture's featurization hyper-parameters (``atom_fade``,
        ``edge_fade``: widths in Angstrom of the smooth cut-offs at r_max and r_n, see
        :func:`estimators.features.featurize`; 0 = the paper's hard cut-offs; ``frame``:
        "ca_trace" or the paper's "backbone" residue frames).
    epochs : int, default=20
    batch_size : int, default=16
        Models per minibatch (paper: 16).
    learning_rate : float, default=1e-3
    clip_norm : float, default=1.0
        Global gradient-norm clipping.
    global_weight : float, default=1.0
        Weight of the per-model (global lDDT) term of the loss.
    rank_weight : float, default=1.0
        Weight of the pairwise ranking term among models of the same group (native or target;
        :mod:`estimators.training`); 0 = the paper's squared errors only.
    within_weight : float, default=0.0
        Weight of the within-model term: the squared per-residue errors with each model's mean
        error removed (:mod:`estimators.training`), which trains the order of the residues of
        one model; 0 = off.
    groups_per_batch : int, default=2
        Minibatches are drawn from this many groups at a time, so they hold ranking pairs
        (0 = plain shuffled minibatches).
    lr_schedule : {'cosine', 'constant'}, default='cosine'
        Learning rate: linear warm-up then cosine decay to 5% of ``learning_rate``, or constant.
    local_smoothing : float, default=0.0
        Width (residues) of the Gaussian that smooths the predicted per-residue lDDT along each
        unbroken stretch of the chain in :meth:`predict`
        (:func:`estimators.smoothing.smooth_along_chain`); 0 = no smoothing.  Training is
        unchanged.  Chosen among 1, 2 and 4 by a comparison on decoys fixed before it ran
        (``scripts/eval_local_smoothing.sh``), 4 was the default until the within-model
        refinement became one: on the four leave-one-target-out folds of the CASP13 models
        (``scripts/eval_local_refinement.sh``, step 4) the refined scores ranked the residues
        better unsmoothed (mean local Spearman 0.304) than smoothed with 4 (0.302), so by the
        rule fixed before those folds ran the default became 0.
    local_refinement : {'auto', True, False}, default=False
        Fit, after the network, a linear within-model refinement of the per-residue scores from
        the model's CA trace (:mod:`estimators.local_refinement`) on the held-out models
        (``groups`` with ``validation_fraction`` > 0, or ``validation_data``), and apply it in
        :meth:`predict` before the smoothing.  It reorders the residues of each model and keeps
        the model's mean score.  ``'auto'``: fitted when the fit has held-out models and
        applied when fitted (a fit without groups or validation data has none, and gives the
        network's scores); True: required (:meth:`fit` raises without held-out models, and
        :meth:`predict` without fitted weights); False: never.  Setting it to False after
        fitting gives the network's scores (model files keep the weights).  ``'auto'`` was the
        default from 2026-12-07, when it raised the mean local Spearman of the four
        leave-one-target-out folds of one network from 0.265 to 0.304
        (``scripts/eval_local_refinement.sh``, step 4); on the mean of two networks, the form
        the shipped model takes, it did not pass the same rule (step 5), so it is off by
        default.
    global_refinement : {'auto', True, False}, default=False
        Fit, after the network, a linear correction of each model's global score from
        descriptors of its CA trace and of the network's scores
        (:mod:`estimators.global_refinement`) on the held-out models, to order the models of
        one group better; :meth:`predict` shifts all per-residue scores of a model by it
        (after the within-model refinement, before the smoothing).  ``'auto'`` and True as
        for ``local_refinement``.
    calibrate : bool, default=True
        Calibrate the global score on the validation models (least-squares line folded into
        the output layer).
    validation_fraction : float, default=0.2
        Fraction of the ``groups`` (targets) held out for early stopping when
        ``groups`` is given to :meth:`fit`.
    patience : int, default=5
        Early-stopping patience in epochs (only with validation data).
    device : {'cpu', 'cuda'}, default='cpu'
    dtype : {'float32', 'float64'}, default='float32'
    n_jobs : int, default=1
        Parallel featurization (joblib).
    max_nodes : int or None, default=128
        In :meth:`predict`, the 6D layers run on at most this many residues at
        a time (:func:`estimators.networks.forward_chunked`; same predictions up to float rounding).
        Bounds the memory of message passing (6DCNN-2: about 3 MB per residue
        with 57 graph slots) so that long proteins and large minibatches fit;
        None = all residues of a minibatch at once.  Only networks with message
        passing are chunked (the others have no per-edge 6D arrays).  Training
        is not chunked.
    errors : {'raise', 'warn'}, default='raise'
        What to do with inputs that cannot be read: in 'warn' mode they are
        skipped in fit and give ``None`` in predict.
    random_state : int, default=0
    verbose : int, default=0
    checkpoint_dir : str or path, optional
        Folder where :meth:`fit` saves the training state after each epoch
        (:mod:`estimators.checkpoint`: one file per run, named by a fingerprint of the initial
        weights, the settings and the labels, so one folder serves many fits).  A fit started
        again with the same data and settings goes on from its last saved epoch and ends with
        the weights an uninterrupted fit gives.  Not stored in model files.

    Attributes
    ----------
    params_ : dict of ndarray     fitted weights (host arrays)
    spec_ : dict                  the resolved architecture
    history_ : list of dict       per-epoch loss / validation metrics
    n_params_ : int               number of trainable parameters
    local_refinement_ : ndarray or None
        weights of the within-model refinement (fitted: ``local_refinement`` True, or 'auto'
        with held-out models), else None
    global_refinement_ : ndarray or None
        weights of the global refinement (fitted as ``local_refinement_``), else None
    """

    def __init__(self, architecture="6dcnn-1", lmax=None, n_radial=None, sigma=None, r_max=None,
                 r_n=None, d_t=None, epochs=20, batch_size=16, learning_rate=1e-3, clip_norm=1.0,
                 global_weight=1.0, validation_fraction=0.2, patience=5, device="cpu",
                 dtype="float32", n_jobs=1, errors="raise", random_state=0, verbose=0,
                 max_nodes=128, atom_fade=None, edge_fade=None, rank_weight=1.0,
                 groups_per_batch=2, lr_schedule="cosine", calibrate=True, frame=None,
                 within_weight=0.0, local_smoothing=0.0, local_refinement=False,
                 global_refinement=False, checkpoint_dir=None):
        self.architecture = architecture
        self.lmax = lmax
        self.n_radial = n_radial
        self.sigma = sigma
        self.r_max = r_max
        self.r_n = r_n
        self.d_t = d_t
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.clip_norm = clip_norm
        self.global_weight = global_weight
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.errors = errors
        self.random_state = random_state
        self.verbose = verbose
        self.max_nodes = max_nodes
        self.atom_fade = atom_fade
        self.frame = frame
        self.edge_fade = edge_fade
        self.rank_weight = rank_weight
        self.groups_per_batch = groups_per_batch
        self.lr_schedule = lr_schedule
        self.calibrate = calibrate
        self.within_weight = within_weight
        self.local_smoothing = local_smoothing
        self.local_refinement = local_refinement
        self.global_refinement = global_refinement
        self.checkpoint_dir = checkpoint_dir

    # ------------------------------------------------------------------ helpers
    def _resolve_spec(self):
        spec = get_architecture(self.architecture)
        for key in _FEATURE_KEYS:
            value = getattr(self, key)
            if value is not None:
                spec[key] = value
        return get_architecture(spec)

    def _featurizer(self, spec):
        from .featurizer import StructureFeaturizer
        return StructureFeaturizer(lmax=spec["lmax"], n_radial=spec["n_radial"], sigma=spec["sigma"],
                                   r_max=spec["r_max"], r_n=spec["r_n"], d_t=spec["d_t"],
                                   atom_fade=spec["atom_fade"], edge_fade=spec["edge_fade"],
                                   frame=spec["frame"], dtype=self.dtype, n_jobs=self.n_jobs,
                                   verbose=self.verbose, errors=self.errors)

    def _features(self, models, spec):
        """ProteinFeatures for each input (None where it failed under errors='warn')."""
        from .features import ProteinFeatures
        if isinstance(models, (str, Path)) or not hasattr(models, "__len__"):
            models = [models]
        models = list(models)
        done = [isinstance(m, ProteinFeatures) or m is None for m in models]
        if all(done):
            feats = models
        else:                   # featurize what is not yet featurized (inputs may be mixed)
            todo = [m for m, d in zip(models, done) if not d]
            new = iter(self._featurizer(spec).transform(todo))
            feats = [m if d else next(new) for m, d in zip(models, done)]
        for f in feats:
            if f is None:
                continue
            got = feature_params(f)
            want = {k: spec[k] for k in _FEATURE_KEYS}
            if any(got[k] != want[k] if isinstance(want[k], str)
                   else not np.isclose(float(got[k]), float(want[k])) for k in _FEATURE_KEYS):
                raise ValueError(f"features of {f.name!r} were computed with {got}, but the network "
                                 f"expects {want}; featurize with the same parameters")
        return feats

    def _featurize_one(self, spec):
        """featurize(item) with the network's featurization parameters (training on the fly)."""
        from functools import partial
        from .features import featurize
        return partial(featurize, dtype=np.dtype(self.dtype),
                       **{k: spec[k] for k in _FEATURE_KEYS})

    def _training_inputs(self, models, spec):
        """Features of the training models, or the models themselves (featurized per minibatch)
        when there are more than :data:`EAGER_FEATURES` of them."""
        from .features import ProteinFeatures
        if len(models) <= EAGER_FEATURES or all(isinstance(m, ProteinFeatures) for m in models):
            # zero-argument callables (e.g. decoys built on demand) are called here
            models = [m() if callable(m) and not isinstance(m, ProteinFeatures) else m
                      for m in models]
            return self._features(models, spec)
        return models

    @staticmethod
    def _split_labels(lddt, n):
        if lddt is None:
            raise ValueError("fit needs lddt labels: per-residue arrays or global values")
        if len(lddt) != n:
            raise ValueError(f"got {n} models but {len(lddt)} labels")
        local, glob = [], []
        for y in lddt:
            if y is None:
                local.append(None)
                glob.append(np.nan)
            elif isinstance(y, tuple) and len(y) == 2:       # (per-residue array, global value)
                local.append(None if y[0] is None else np.asarray(y[0], dtype=np.float64))
                glob.append(np.nan if y[1] is None else float(y[1]))
            elif np.ndim(y) == 0:
                local.append(None)
                glob.append(float(y))
            else:
                local.append(np.asarray(y, dtype=np.float64))
                glob.append(np.nan)
        return local, glob

    def _xp_dtype(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return _array_module(self.device), np.dtype(self.dtype)

    def set_runtime(self, **params):
        """Set how the network runs (``n_jobs``, ``device``, ``errors``, ``verbose``), and
        nothing that changes what it computes.  Returns self."""
        check_runtime_params(params)
        return self.set_params(**params)

    # ------------------------------------------------------------------ API
    def fit(self, models, lddt, groups=None, validation_data=None):
        """Train on models with known lDDT.

        Parameters
        ----------
        models : list of paths, ProDy AtomGroups or ProteinFeatures
        lddt : list
            For each model: an array of per-residue lDDT over the residues as
            read from the file (NaN = unknown), a global lDDT value, or a
            ``(per-residue array, global value)`` pair (e.g. a model lacking
            residues, whose global lDDT is not the mean of its residues').
        groups : array-like, optional
            Target id of each model; a ``validation_fraction`` of the targets
            is held out for early stopping (never models of a training target).
        validation_data : (models, lddt) or (models, lddt, groups), optional
            Explicit validation set for early stopping and calibration (takes precedence);
            with groups, model selection uses their mean per-group Spearman correlation.
        """
        for name, lo in (("epochs", 1), ("batch_size", 1)):
            if int(getattr(self, name)) < lo:
                raise ValueError(f"{name} must be >= {lo}")
        for name in ("global_weight", "rank_weight", "within_weight"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {getattr(self, name)!r}")
        spec = self._resolve_spec()
        xp, dtype = self._xp_dtype()
        grid = radial_grid(spec)
        train, val, groups = self._training_data(models, lddt, groups, validation_data, spec)
        params = init_params(spec, self.random_state, dtype)
        params = {k: xp.asarray(v) for k, v in params.items()}
        params = init_switch_scale(params, spec, grid, train, xp, dtype, self.batch_size)
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm
            progress = tqdm(total=len(train) * int(self.epochs), desc="training", unit="model")
        try:
            best, history = train_network(
                params, spec, grid, train, xp=xp, dtype=dtype,
                epochs=int(self.epochs), batch_size=int(self.batch_size),
                learning_rate=float(self.learning_rate), clip_norm=self.clip_norm,
                global_weight=float(self.global_weight), random_state=self.random_state,
                val=val, patience=self.patience if val is not None else None,
                rank_weight=float(self.rank_weight), within_weight=float(self.within_weight),
                groups_per_batch=int(self.groups_per_batch),
                lr_schedule=self.lr_schedule, calibrate=bool(self.calibrate),
                verbose=self.verbose, log=(progress.write if progress else print), progress=progress,
                checkpoint_dir=self.checkpoint_dir)
        finally:
            if progress is not None:
                progress.close()
        self.params_ = {k: to_numpy(v) for k, v in best.items()}
        self.spec_ = spec
        self.history_ = history
        self.n_params_ = count_params(self.params_)
        self.n_train_models_ = len(train)
        self.training_groups_ = _unique_groups(groups)
        self.local_refinement_, self.global_refinement_ = self._fit_refinements(val, xp, dtype)
        return self

    def fit_refinements(self, models, lddt, groups=None, validation_data=None):
        """Fit the refinements that are switched on (``local_refinement``,
        ``global_refinement``) on the held-out models of a fit with these inputs, keeping the
        network's weights.

        Given the inputs of :meth:`fit` and the same settings, the held-out models are those
        the fit held out (the same ``GroupShuffleSplit`` draw), so the weights are those the fit
        would have given with the refinements on: they are fitted after the network and do not
        change it.  Only the held-out models are scored (featurized and run through the
        network once); the network is not trained.  Refinements that are off become None.
        Parameters as in :meth:`fit`.  Returns self.
        """
        self._check_fitted()
        if not any(self._refinement_switches().values()):
            raise ValueError("no refinement to fit: set local_refinement and/or "
                             "global_refinement to True or 'auto' first")
        xp, dtype = self._xp_dtype()
        _, val, _ = self._training_data(models, lddt, groups, validation_data,
                                        get_architecture(self.spec_))
        self.local_refinement_, self.global_refinement_ = self._fit_refinements(
            val, xp, dtype, required=True)
        return self

    def _training_data(self, models, lddt, groups, validation_data, spec):
        """(training set, held-out set or None, groups as an array or None) of :meth:`fit`'s
        inputs: ``validation_data`` when given, else a ``validation_fraction`` of the groups
        (``GroupShuffleSplit`` with ``random_state``, so the same inputs hold out the same
        groups)."""
        models = [models] if isinstance(models, (str, Path)) else list(models)
        for name, switch in self._refinement_switches().items():
            if switch is True and validation_data is None and (
                    groups is None or not self.validation_fraction > 0):
                raise ValueError(f"{name}=True is fitted on held-out models: give groups "
                                 "(with validation_fraction > 0) or validation_data")
        models = self._screen_inputs(models)
        local, glob = self._split_labels(lddt, len(models))
        self._check_labels(local, glob, models)
        feats = self._training_inputs(models, spec)
        keep = [i for i, f in enumerate(feats) if f is not None]
        if not keep:
            raise ValueError("none of the training models could be featurized")
        featurize_one = self._featurize_one(spec)
        val = None
        train_idx = keep
        groups = None if groups is None else np.asarray(groups)
        if groups is not None and len(groups) != len(feats):
            raise ValueError(f"got {len(feats)} models but {len(groups)} groups")
        if validation_data is not None:
            vm, vl = validation_data[:2]
            vgroups = validation_data[2] if len(validation_data) > 2 else None
            vm = [vm] if isinstance(vm, (str, Path)) else list(vm)
            vm = self._screen_inputs(vm)
            vloc, vglob = self._split_labels(vl, len(vm))
            self._check_labels(vloc, vglob, vm, "validation ")
            vfeats = self._training_inputs(vm, spec)
            vk = [i for i, f in enumerate(vfeats) if f is not None]
            val = TrainingSet([vfeats[i] for i in vk], [vloc[i] for i in vk],
                              [vglob[i] for i in vk],
                              None if vgroups is None else np.asarray(vgroups)[vk],
                              featurize=featurize_one)
        elif groups is not None:
            kept_groups = groups[keep]
            if len(np.unique(kept_groups)) >= 2 and self.validation_fraction > 0:
                splitter = GroupShuffleSplit(n_splits=1, test_size=self.validation_fraction,
                                             random_state=self.random_state)
                tr, va = next(splitter.split(keep, groups=kept_groups))
                train_idx = [keep[i] for i in tr]
                vidx = [keep[i] for i in va]
                val = TrainingSet([feats[i] for i in vidx], [local[i] for i in vidx],
                                  [glob[i] for i in vidx], groups[vidx], featurize=featurize_one)
        train = TrainingSet([feats[i] for i in train_idx], [local[i] for i in train_idx],
                            [glob[i] for i in train_idx],
                            None if groups is None else groups[train_idx], featurize=featurize_one)
        return train, val, groups

    def _raw_scores(self, feats, xp, dtype):
        """The network's per-residue scores of featurized models (clipped to [0, 1]) over all
        residues of each model (NaN: not scored), and their CA coordinates."""
        params = {k: xp.asarray(v, dtype=dtype) for k, v in self.params_.items()}
        nodes = predict_nodes(params, self.spec_, radial_grid(self.spec_), feats, xp, dtype,
                              int(self.batch_size), max_nodes=self.max_nodes) if feats else []
        scores, cas = [], []
        for f, p in zip(feats, nodes):
            full = np.full(f.n_residues_total, np.nan)
            full[f.residue_index] = np.clip(p, 0.0, 1.0)
            ca = np.full((f.n_residues_total, 3), np.nan)
            ca[f.residue_index] = f.origins
            scores.append(full)
            cas.append(ca)
        return scores, cas

    def _refinement_switches(self):
        """``{name: 'auto', True or False}`` of the refinements (:func:`refinement_sizes`),
        checked."""
        out = {}
        for name in refinement_sizes():
            value = getattr(self, name)
            if isinstance(value, str):
                if value != "auto":
                    raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")
                out[name] = value
            else:
                out[name] = bool(value)
        return out

    def _fit_refinements(self, val, xp, dtype, required=False):
        """Weights of :mod:`estimators.local_refinement` and :mod:`estimators.global_refinement`
        fitted on the held-out models (None for those switched off, and for those on 'auto'
        when there are no held-out models and not ``required``)."""
        switches = self._refinement_switches()
        if not any(switches.values()):
            return None, None
        if val is None or not len(val):
            forced = [name for name, switch in switches.items()
                      if switch is True or (required and switch)]
            if forced:
                raise ValueError(f"{forced[0]} is fitted on held-out models, and none were "
                                 "left (fewer than 2 groups?)")
            return None, None
        scores, cas, truths = [], [], []
        for start in range(0, len(val), PREDICT_CHUNK):
            idx = list(range(start, min(start + PREDICT_CHUNK, len(val))))
            s, c = self._raw_scores(val.features(idx), xp, dtype)
            scores += s
            cas += c
            truths += [np.full(len(p), np.nan) if val.local[i] is None
                       else np.asarray(val.local[i], dtype=np.float64)
                       for i, p in zip(idx, s)]
        local = fit_refinement(scores, cas, truths) if switches["local_refinement"] else None
        glob = None
        if switches["global_refinement"]:
            known = [np.nanmean(t) if np.isfinite(t).any() else np.nan for t in truths]
            truth = np.where(np.isfinite(val.glob), val.glob, known)
            glob = fit_global_refinement(scores, cas, truth, val.groups)
        return local, glob

    def _screen_inputs(self, models):
        """Inputs that no reader can use (None, a ProDy atom group without coordinates): an
        error naming the input, or (``errors='warn'``) a warning and None in their place."""
        if self.errors not in ("raise", "warn"):
            raise ValueError(f"errors must be 'raise' or 'warn', got {self.errors!r}")
        out = []
        for i, m in enumerate(models):
            problem = None
            if m is None:
                problem = f"model {i} is None (give a path, Structure, ProDy AtomGroup or features)"
            elif hasattr(m, "getCoords") and hasattr(m, "numAtoms"):
                title = getattr(m, "getTitle", lambda: None)() or f"model {i}"
                if m.numAtoms() == 0:
                    problem = f"{title}: the ProDy atom group has no atoms"
                elif m.getCoords() is None:
                    problem = f"{title}: the ProDy atom group has no coordinates"
            if problem is None:
                out.append(m)
            elif self.errors == "raise":
                from .structures import StructureError
                raise StructureError(problem)
            else:
                import warnings
                from .structures import StructureWarning
                warnings.warn(f"skipped: {problem}", StructureWarning, stacklevel=3)
                out.append(None)
        return out

    @staticmethod
    def _check_labels(local, glob, models, what=""):
        """lDDT labels must be NaN (unknown) or in [0, 1], and at least one must be known."""
        def name(i):
            m = models[i]
            return m if isinstance(m, (str, Path)) else getattr(m, "name", f"model {i}")

        known = 0
        for i, (loc, g) in enumerate(zip(local, glob)):
            for kind, v in (("per-residue", loc), ("global", g)):
                if v is None:
                    continue
                v = np.asarray(v, dtype=np.float64)
                bad = np.isinf(v) | (v < 0) | (v > 1)
                if bad.any():
                    j = int(np.flatnonzero(bad.ravel())[0])
                    raise ValueError(f"{what}lDDT label of {name(i)}: {kind} value "
                                     f"{v.ravel()[j]!r} (index {j}) is not in [0, 1]; "
                                     "use NaN for unknown values")
                known += int(np.isfinite(v).sum())
        if local and not known:
            raise ValueError(f"every {what}lDDT label is NaN or missing: nothing to train on")

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this SixDQAEstimator is not fitted yet; call fit or load")

    def predict(self, models):
        """Per-residue predicted lDDT for each model.

        Parameters
        ----------
        models : path, Structure, ProDy AtomGroup, ProteinFeatures, or a list of them
            Inputs other than features are featurized and scored
            :data:`PREDICT_CHUNK` models at a time, so memory does not grow
            with the number of models.

        Returns
        -------
        list of ndarray
            One array per model over the residues as read from the file; NaN
            where a residue could not be scored (no backbone frame).  ``None``
            for inputs that failed to load when ``errors='warn'``.
        """
        self._check_fitted()
        if isinstance(models, (str, Path)) or not hasattr(models, "__len__"):
            models = [models]
        models = list(models)
        if self.max_nodes is not None and int(self.max_nodes) < 1:
            raise ValueError(f"max_nodes must be >= 1 or None, got {self.max_nodes!r}")
        check_width(self.local_smoothing, "local_smoothing")
        self._refinements()
        screened = self._screen_inputs(models)
        if any(m is None for m in screened):       # errors='warn': None for the skipped ones
            keep = [i for i, m in enumerate(screened) if m is not None]
            out = [None] * len(models)
            for i, p in zip(keep, self.predict([screened[i] for i in keep]) if keep else []):
                out[i] = p
            return out
        # files / structures are featurized and scored PREDICT_CHUNK models at a time, so
        # memory stays bounded for any number of models (features of a 300-residue model
        # take ~20 MB) and the feature buffers of one chunk are reused by the next
        out = []
        for start in range(0, len(models), PREDICT_CHUNK):
            out += self._predict_chunk(models[start:start + PREDICT_CHUNK])
        return out

    def _refinements(self):
        """The weights of the within-model and global refinements that :meth:`predict` applies
        (None: not applied)."""
        out = []
        for name, switch in self._refinement_switches().items():
            weights = getattr(self, name + "_", None) if switch else None
            if switch is True and weights is None:
                raise ValueError(f"{name}=True but this estimator has no fitted weights for it "
                                 f"(fitted without held-out models or with {name}=False, or "
                                 "loaded from a file without them)")
            out.append(weights)
        return tuple(out)

    def applies_refinements(self):
        """``{name: bool}``: which refinements (``local_refinement``, ``global_refinement``)
        :meth:`predict` applies with the current settings and fitted weights."""
        self._check_fitted()
        return {name: weights is not None
                for name, weights in zip(refinement_sizes(), self._refinements())}

    def _predict_chunk(self, models):
        spec = self.spec_
        xp, dtype = self._xp_dtype()
        feats = self._features(models, spec)
        scores, cas = self._raw_scores([f for f in feats if f is not None], xp, dtype)
        refine, shift = self._refinements()
        out, it = [], iter(zip(scores, cas))
        for f in feats:
            if f is None:
                out.append(None)
                continue
            full, ca = next(it)
            offset = 0.0 if shift is None else global_shift(shift, full, ca)
            if refine is not None:
                full = apply_refinement(refine, full, ca)
            if refine is not None or shift is not None:
                full = np.clip(full + offset, 0.0, 1.0)
            if self.local_smoothing:
                full = smooth_along_chain(full, ca, self.local_smoothing)
            out.append(full)
        return out

    def predict_global(self, models, target_length=None):
        """Global score of each model: mean predicted lDDT over its scored residues (NaN if
        none); with ``target_length`` (residues of the target sequence: an int, or one per
        model) that mean times the model's coverage, the residues it lacks counting as 0 as in
        CASP's global lDDT (:mod:`estimators.global_score`)."""
        return predict_global_scores(self.predict, models, target_length)

    def score(self, models, lddt, sample_weight=None):
        """R² of the predicted global lDDT (the scikit-learn convention for regressors).

        ``lddt``: per model a global lDDT or per-residue lDDT (their mean over known residues is
        the truth).  Models without a prediction or a known truth are left out; NaN with fewer
        than two.  Pearson and Spearman are the named scorers ``"pearson"`` and ``"spearman"``
        of :data:`estimators.scorers.SCORERS` (e.g. ``GridSearchCV(..., scoring=SCORERS,
        refit="spearman")``).
        """
        from .scorers import r2_global
        return r2_global(self, models, lddt, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        """Inputs are structures (paths, Structure, ProDy AtomGroup, features), never a 2-D
        array of numbers, so scikit-learn's array-based estimator checks do not apply
        (tests/test_sklearn_conventions.py runs those that do and lists the others)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True           # file paths
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False   # one global (or per-residue) lDDT per model
        tags.non_deterministic = self.device != "cpu"
        return tags

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted estimator to a model file (:mod:`estimators.model_file`: weights and
        a JSON metadata entry in an ``.npz``; never a pickle).  Returns the path."""
        return write_model_file(path, *self._file_contents())

    def _file_contents(self):
        """(weights, metadata) of this fitted network as a model file stores them."""
        self._check_fitted()
        fz = self._featurizer(self.spec_).get_params()
        runtime = ("n_jobs", "verbose", "errors", "cache_dir", "prefer")
        meta = {"library": "fourier6d", "spec": self.spec_,
                "featurization": {k: v for k, v in fz.items() if k not in runtime},
                "estimator_params": {k: v for k, v in self.get_params().items()
                                     if k not in ("architecture", "checkpoint_dir")},
                "history": self.history_, "n_params": self.n_params_,
                "n_train_models": getattr(self, "n_train_models_", None),
                "training_groups": getattr(self, "training_groups_", None)}
        for name in refinement_sizes():
            weights = getattr(self, name + "_", None)
            if weights is not None:
                meta[name] = [float(v) for v in weights]
        return self.params_, meta

    @classmethod
    def load(cls, path, **overrides):
        """Load a model file written by :meth:`save` (format 1 or 2; any device; host arrays).

        Every check of :func:`estimators.model_file.read_model_file` runs first; a bad file
        raises :class:`estimators.model_file.ModelFileError` (a ValueError) naming it.
        ``overrides`` replace the stored estimator parameters (e.g. ``n_jobs``, ``device``).
        Sets ``training_groups_`` (None for files without it) and ``metadata_``.
        """
        params, meta = read_model_file(path)
        return cls._from_file(params, meta, overrides)

    @classmethod
    def _from_file(cls, params, meta, overrides):
        """The fitted estimator of one network's weights and metadata (read and checked)."""
        valid = set(cls().get_params()) - {"architecture"}
        stored = meta.get("estimator_params")
        kwargs = {k: v for k, v in (stored if isinstance(stored, dict) else {}).items()
                  if k in valid}
        kwargs.update(overrides)
        est = cls(architecture=meta["spec"], **kwargs)
        est.spec_ = meta["spec"]
        est.params_ = params
        history = meta.get("history")
        est.history_ = history if isinstance(history, list) else []
        est.n_params_ = count_params(params)
        if isinstance(meta.get("n_train_models"), int):
            est.n_train_models_ = meta["n_train_models"]
        groups = meta.get("training_groups")
        est.training_groups_ = list(groups) if isinstance(groups, list) else None
        for name, size in refinement_sizes().items():
            weights = meta.get(name)
            setattr(est, name + "_", None if weights is None
                    else np.asarray(weights, dtype=np.float64).reshape(size))
        est.metadata_ = meta
        return est


def _unique_groups(groups):
    """The unique ``groups`` of fit as JSON values (sorted; None when no groups were given)."""
    if groups is None:
        return None
    out = []
    for g in np.unique(np.asarray(groups)):
        g = g.item() if isinstance(g, np.generic) else g
        out.append(g if isinstance(g, (str, int, float, bool)) else str(g))
    return out
