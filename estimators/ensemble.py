"""Seed ensembles: networks of one recipe trained with different seeds, predictions averaged.

One job: :class:`SeedEnsembleQAEstimator`, a scikit-learn meta-estimator over
:class:`~estimators.qa_estimator.SixDQAEstimator`.  Each network is a clone of the template
with ``random_state`` set to one of ``seeds``, so the networks differ in their initial weights,
their minibatch order and the training groups they hold out for early stopping and calibration.
Predicting featurizes each model once and averages the networks' per-residue predictions.
Averaging networks that err differently lowers the variance of the prediction; what it buys on
real models is measured in ``benchmarks/qa_casp13.py --seeds``.

An ensemble is saved to one model file (:func:`estimators.model_file.write_model_file` with
several networks) and read back by :func:`estimators.pretrained.load_model`.
"""
from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

from .qa_estimator import check_runtime_params

__all__ = ["SeedEnsembleQAEstimator"]


def _fit_one(estimator, models, lddt, groups, validation_data):
    return estimator.fit(models, lddt, groups=groups, validation_data=validation_data)


class SeedEnsembleQAEstimator(RegressorMixin, BaseEstimator):
    """Networks of one recipe trained with different seeds; their predictions averaged.

    Parameters
    ----------
    estimator : SixDQAEstimator, optional
        The recipe (not fitted; cloned once per seed).  Default ``SixDQAEstimator()``.
    seeds : sequence of int, default=(0, 1)
        One network per seed (its ``random_state``); at least one, no repeats.
    n_jobs : int, default=1
        Networks trained at the same time, in worker processes (joblib ``loky``); each runs
        with the template's own ``n_jobs``.
    device, errors, verbose : optional
        When set, replace those of every network (at fit and predict), e.g.
        ``set_params(errors="warn")`` on a loaded ensemble; None keeps the networks' own.
    score_offset : float, default=0.0
        Added to every per-residue score of the mean of the networks, then clipped to [0, 1]
        (:mod:`estimators.score_offset`): a calibration of the level of the scores, fitted
        outside :meth:`fit` on predictions of models the networks did not see (the shipped
        model's: on the leave-one-target-out predictions of the CASP13 server models).
        :meth:`fit` leaves it as it is; it is saved in the model file.

    Attributes
    ----------
    estimators_ : list of SixDQAEstimator
        The fitted networks, in the order of ``seeds``.
    spec_ : dict
        Their architecture (the same for all).
    n_params_ : int
        Weights of all networks together.
    training_groups_ : list or None
        The union of the networks' training groups.
    history_ : list of list of dict
        Each network's training history.
    """

    def __init__(self, estimator=None, seeds=(0, 1), n_jobs=1, device=None, errors=None,
                 verbose=None, score_offset=0.0):
        self.estimator = estimator
        self.seeds = seeds
        self.n_jobs = n_jobs
        self.device = device
        self.errors = errors
        self.verbose = verbose
        self.score_offset = score_offset

    def _overrides(self):
        return {k: getattr(self, k) for k in ("device", "errors", "verbose")
                if getattr(self, k) is not None}

    def _members(self):
        """The fitted networks, with the ensemble's device / errors / verbose applied."""
        self._check_fitted()
        overrides = self._overrides()
        if overrides:
            for e in self.estimators_:
                e.set_params(**overrides)
        return self.estimators_

    # ------------------------------------------------------------------ helpers
    def _template(self):
        from .qa_estimator import SixDQAEstimator
        if self.estimator is None:
            return SixDQAEstimator()
        if not isinstance(self.estimator, SixDQAEstimator):
            raise TypeError("estimator must be a SixDQAEstimator, got "
                            f"{type(self.estimator).__name__}")
        return self.estimator

    def _checked_seeds(self):
        try:
            seeds = [int(s) for s in self.seeds]
        except (TypeError, ValueError):
            raise ValueError(f"seeds must be a sequence of ints, got {self.seeds!r}") from None
        if not seeds:
            raise ValueError("seeds must hold at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must not repeat, got {seeds}")
        return seeds

    def _check_fitted(self):
        if not hasattr(self, "estimators_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("this SeedEnsembleQAEstimator is not fitted yet; call fit or "
                                 "load")

    def _set_fitted(self, estimators):
        from .architectures import get_architecture
        from .model_file import union_of_groups
        specs = [get_architecture(e.spec_) for e in estimators]
        if any(s != specs[0] for s in specs[1:]):
            raise ValueError("the networks of an ensemble must share one architecture and "
                             "featurization")
        self.estimators_ = list(estimators)
        self.spec_ = estimators[0].spec_
        self.n_params_ = int(sum(e.n_params_ for e in estimators))
        self.history_ = [e.history_ for e in estimators]
        self.training_groups_ = union_of_groups([e.training_groups_ for e in estimators])
        n_train = [getattr(e, "n_train_models_", None) for e in estimators]
        self.n_train_models_ = None if None in n_train else list(n_train)
        return self

    # scoring helpers used by the command line (batch_scoring): the first network's
    def _featurizer(self, spec):
        return self._members()[0]._featurizer(spec)

    def _xp_dtype(self):
        return self._members()[0]._xp_dtype()

    def set_runtime(self, **params):
        """Set how the fitted networks run (``n_jobs``, ``device``, ``errors``, ``verbose``)
        on every network; the ensemble's own ``n_jobs`` (networks trained at a time) is left as
        it is.  Returns self."""
        check_runtime_params(params)
        for e in getattr(self, "estimators_", []):
            e.set_runtime(**params)
        return self

    # ------------------------------------------------------------------ API
    def fit(self, models, lddt, groups=None, validation_data=None):
        """Train one network per seed on the same data.

        Parameters are those of :meth:`SixDQAEstimator.fit`.  Inputs that build a model on
        demand (callables) are sent to the worker processes when ``n_jobs > 1``, so they must
        be picklable (the decoys of :func:`estimators.training_data.load_corpus` are).
        """
        seeds = self._checked_seeds()
        template = self._template()
        members = [clone(template).set_params(random_state=s, **self._overrides())
                   for s in seeds]
        models = [models] if isinstance(models, (str, Path)) else list(models)
        n_jobs = int(self.n_jobs) if self.n_jobs is not None else 1
        if n_jobs == -1:
            import os
            n_jobs = os.cpu_count() or 1
        if n_jobs <= 1 or len(members) == 1:
            fitted = [_fit_one(m, models, lddt, groups, validation_data) for m in members]
        else:
            from joblib import Parallel, delayed
            fitted = Parallel(n_jobs=min(n_jobs, len(members)), backend="loky")(
                delayed(_fit_one)(m, models, lddt, groups, validation_data) for m in members)
        return self._set_fitted(fitted)

    def fit_refinements(self, models, lddt, groups=None, validation_data=None, **switches):
        """:meth:`SixDQAEstimator.fit_refinements` for every network (each on the models its
        own fit held out, drawn with its seed); ``switches`` (``local_refinement=True``,
        ``global_refinement=...``) are set on every network first.  Returns self."""
        for e in self._members():
            e.set_params(**switches).fit_refinements(models, lddt, groups=groups,
                                                     validation_data=validation_data)
        return self

    def predict(self, models):
        """Per-residue predicted lDDT of each model: the mean of the networks' predictions.

        Inputs as in :meth:`SixDQAEstimator.predict`; each model is featurized once (with the
        first network's settings, e.g. its ``errors`` policy).  ``None`` for inputs that failed
        under ``errors='warn'``; NaN where a residue has no prediction.  With a
        ``score_offset``, the mean plus the offset, clipped to [0, 1].
        """
        from .features import ProteinFeatures
        from .qa_estimator import PREDICT_CHUNK
        from .score_offset import apply_score_offset, check_score_offset
        offset = check_score_offset(self.score_offset)
        members = self._members()
        first = members[0]
        if isinstance(models, (str, Path)) or not hasattr(models, "__len__"):
            models = [models]
        models = list(models)
        out = []
        for start in range(0, len(models), PREDICT_CHUNK):
            chunk = first._screen_inputs(models[start:start + PREDICT_CHUNK])
            todo = [m for m in chunk if m is not None]
            feats = iter(first._features(todo, self.spec_) if todo else [])
            feats = [None if m is None else next(feats) for m in chunk]
            ok = [f for f in feats if isinstance(f, ProteinFeatures)]
            preds = [e.predict(ok) for e in members] if ok else []
            # per model, the mean over the networks (NaN where they give none)
            means = iter([apply_score_offset(np.mean(np.stack(per_model), axis=0), offset)
                          for per_model in zip(*preds)])
            out += [next(means) if isinstance(f, ProteinFeatures) else None for f in feats]
        return out

    def predict_global(self, models, target_length=None):
        """Global score of each model (as :meth:`SixDQAEstimator.predict_global`)."""
        from .global_score import predict_global_scores
        return predict_global_scores(self.predict, models, target_length)

    def score(self, models, lddt, sample_weight=None):
        """R² of the predicted global lDDT (as :meth:`SixDQAEstimator.score`)."""
        from .scorers import r2_global
        return r2_global(self, models, lddt, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        return tags

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save every network to one model file (format 2, ``networks`` > 1).  Returns the
        path."""
        from .model_file import write_model_files
        self._check_fitted()
        from .score_offset import check_score_offset
        return write_model_files(path, [e._file_contents() for e in self.estimators_],
                                 ensemble={"seeds": self._checked_seeds(),
                                           "score_offset": check_score_offset(self.score_offset)})

    @classmethod
    def from_estimators(cls, estimators):
        """The ensemble of networks fitted separately, e.g. one training run per seed.

        Parameters
        ----------
        estimators : sequence of SixDQAEstimator or SeedEnsembleQAEstimator
            Fitted networks of one architecture and featurization, each with its own
            ``random_state`` (an ensemble contributes all its networks).  Training
            ``SixDQAEstimator(random_state=s)`` once per seed and combining the results gives
            the ensemble that :meth:`fit` trains with ``n_jobs=1``.

        Returns
        -------
        SeedEnsembleQAEstimator
            Fitted; ``seeds`` are the networks' ``random_state`` in the order given.

        Raises
        ------
        ValueError
            When fewer than two networks are given, one is not fitted, two share a seed, or
            the architectures differ.
        """
        from sklearn.exceptions import NotFittedError
        from .qa_estimator import SixDQAEstimator
        members = []
        for k, e in enumerate(estimators):
            if not isinstance(e, (cls, SixDQAEstimator)):
                raise TypeError("an ensemble combines fitted SixDQAEstimator or "
                                f"SeedEnsembleQAEstimator objects, got {type(e).__name__}")
            try:
                e._check_fitted()
            except NotFittedError as error:
                raise NotFittedError(f"network {k} of the ensemble: {error}") from None
            members += list(e.estimators_) if isinstance(e, cls) else [e]
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two networks, got {len(members)}")
        seeds = [m.random_state for m in members]
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
            raise ValueError(f"every network needs an integer random_state, got {seeds}")
        seeds = [int(s) for s in seeds]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"the networks of an ensemble need different seeds, got {seeds}")
        est = cls(estimator=clone(members[0]), seeds=tuple(seeds))
        return est._set_fitted(members)

    @classmethod
    def load(cls, path, **overrides):
        """Load a model file of one or several networks; ``overrides`` are runtime settings
        (``n_jobs``, ``device``, ``errors``, ``verbose``) of every network."""
        from .model_file import read_model_networks
        return cls._from_networks(*read_model_networks(path), overrides)

    @classmethod
    def _from_networks(cls, networks, meta, overrides):
        """The fitted ensemble of a model file's networks (read and checked)."""
        from .qa_estimator import SixDQAEstimator
        members = [SixDQAEstimator._from_file(params, m, overrides) for params, m in networks]
        seeds = (meta.get("ensemble") or {}).get("seeds")
        if not (isinstance(seeds, list) and len(seeds) == len(members)):
            seeds = [m.random_state for m in members]
        est = cls(estimator=clone(members[0]), seeds=tuple(seeds),
                  score_offset=(meta.get("ensemble") or {}).get("score_offset", 0.0))
        est._set_fitted(members)
        est.metadata_ = meta
        return est
