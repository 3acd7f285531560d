"""StructureFeaturizer: scikit-learn transformer from structure files to ProteinFeatures.

One job: run :func:`estimators.features.featurize` over many inputs, in
parallel (joblib), with a progress bar.

There is no on-disk feature cache: the features of a model are large (about
5 MB for 79 residues, float32) and computing them again is as fast as reading
them back (66 CASP13 models: 0.83 s to featurize, 0.51 s to read from the page
cache and about 0.9 s from disk; ``benchmarks/RESULTS.md``).  Keep features in
memory (``transform`` once, fit or search many times) or pass the paths.
"""
from __future__ import annotations

import os
import threading
import warnings

from sklearn.base import BaseEstimator, TransformerMixin

from .features import ProteinFeatures, featurize, _check_params  # noqa: F401 (docs)
from .structures import StructureError, collect_results

__all__ = ["StructureFeaturizer"]


def _featurize_core(source, params, n_threads=None):
    """Featurize one source: (features or None, exception or None)."""
    try:
        return featurize(source, n_threads=n_threads, **params), None
    except (StructureError, TypeError) as exc:
        return None, exc


def _featurize_one(source, params, n_threads=None):
    """Featurize one source: (features or None, exception or None, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return _featurize_core(source, params, n_threads) + (caught,)


def _threading_backend_active():
    """Whether ``joblib.Parallel(prefer="threads")`` runs in this process's threads, i.e. the caller
    selected no other backend (``joblib.parallel_backend("dask")``, ``parallel_config``...), whose
    tasks must be picklable (the warnings router of :meth:`StructureFeaturizer._threaded` is not)."""
    from joblib.parallel import get_active_backend, ThreadingBackend
    return isinstance(get_active_backend(prefer="threads")[0], ThreadingBackend)


class _ThreadWarnings:
    """Warnings of worker threads, kept per thread (``catch_warnings`` is process-global).

    Installed once, in the calling thread, as ``warnings.showwarning`` inside a
    ``catch_warnings`` block; warnings of unregistered threads go to the
    previous handler.
    """

    def __init__(self, previous):
        self.previous = previous
        self.logs = {}
        self.lock = threading.Lock()

    def show(self, message, category, filename, lineno, file=None, line=None):
        with self.lock:
            log = self.logs.get(threading.get_ident())
        if log is None:
            self.previous(message, category, filename, lineno, file, line)
        else:
            log.append(warnings.WarningMessage(message, category, filename, lineno, file, line))

    def run(self, source, params, n_threads):
        log = []
        with self.lock:
            self.logs[threading.get_ident()] = log
        try:
            return _featurize_core(source, params, n_threads) + (log,)
        finally:
            with self.lock:
                del self.logs[threading.get_ident()]


def _drain(results, progress):
    """The items of ``results`` as a list, ticking ``progress`` (or None) once per item."""
    out = []
    for r in results:
        out.append(r)
        if progress is not None:
            progress.update(1)
    return out


class StructureFeaturizer(TransformerMixin, BaseEstimator):
    """Turn structures (paths, ProDy atom groups) into :class:`ProteinFeatures`.

    Parameters
    ----------
    lmax, n_radial, sigma, r_max, r_n, d_t, dtype
        See :func:`estimators.features.featurize` (defaults 4, 5, 2.0, 8.0, 12.0, 10, float32).
    atom_fade, edge_fade : float
        Widths (Angstrom) of the smooth cut-offs at r_max and r_n (defaults 1.0 and 2.0;
        0 = hard cut-off); see :func:`estimators.features.featurize`.
    frame : {"ca_trace", "backbone"}
        Residue frames (default "ca_trace"; "backbone" = the paper's); see
        :func:`estimators.features.featurize`.
    n_jobs : int
        joblib workers across structures (1 = in process; -1 = one per CPU).
        Each featurization already runs its Numba kernels on all CPUs.
    prefer : {'threads', 'processes'}
        Kind of joblib workers for ``n_jobs != 1``.  'threads' (default): no
        copy of the (large) feature arrays between processes; parsing holds
        the GIL, the Numba kernels release it.  'processes': loky workers.
    verbose : bool or int
        Show a tqdm progress bar.
    cache_dir : None
        Must be None: the on-disk feature cache was removed (reading features back is not
        faster than computing them; see the module docstring).  Kept so that code passing
        ``cache_dir=None`` still runs.
    errors : {'raise', 'warn'}
        'raise': raise the first failure after every input was tried;
        'warn': warn and return None for the failed inputs.
    """

    def __init__(self, lmax=4, n_radial=5, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
                 dtype="float32", n_jobs=1, verbose=False, cache_dir=None, errors="raise",
                 prefer="threads", atom_fade=1.0, edge_fade=2.0, frame="ca_trace"):
        self.lmax = lmax
        self.n_radial = n_radial
        self.sigma = sigma
        self.r_max = r_max
        self.r_n = r_n
        self.d_t = d_t
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.cache_dir = cache_dir
        self.errors = errors
        self.prefer = prefer
        self.atom_fade = atom_fade
        self.edge_fade = edge_fade
        self.frame = frame

    def _feature_params(self):
        dt = _check_params(self.lmax, self.n_radial, self.sigma, self.r_max, self.r_n,
                           self.d_t, self.dtype)
        return dict(lmax=int(self.lmax), n_radial=int(self.n_radial), sigma=float(self.sigma),
                    r_max=float(self.r_max), r_n=float(self.r_n), d_t=int(self.d_t),
                    atom_fade=float(self.atom_fade), edge_fade=float(self.edge_fade),
                    frame=self.frame, dtype=dt.name)

    def fit(self, X=None, y=None):
        """Check the parameters (nothing is learned); returns self."""
        self._feature_params()
        if self.errors not in ("raise", "warn"):
            raise ValueError(f"errors must be 'raise' or 'warn', got {self.errors!r}")
        if self.prefer not in ("threads", "processes"):
            raise ValueError(f"prefer must be 'threads' or 'processes', got {self.prefer!r}")
        if self.cache_dir is not None:
            raise ValueError("cache_dir: the on-disk feature cache was removed (features take "
                             "about 5 MB per 79-residue model and reading them back is not "
                             "faster than computing them); keep features in memory or pass "
                             "the paths")
        self.n_atom_types_ = 168
        return self

    def transform(self, X):
        """Featurize each input.

        Parameters
        ----------
        X : list of (path or prody.AtomGroup or Structure)
            A single path or atom group is treated as a list of one.

        Returns
        -------
        list of (ProteinFeatures or None)
            None only for failed inputs with ``errors='warn'``.
        """
        self.fit()
        params = self._feature_params()
        if isinstance(X, (str, os.PathLike)) or hasattr(X, "getCoords"):
            X = [X]
        sources = list(X)
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm
            progress = tqdm(total=len(sources), desc="featurize", unit="structure")
        try:
            if self.n_jobs == 1 or len(sources) < 2:
                results = _drain((_featurize_one(s, params) for s in sources), progress)
            elif self.prefer == "threads" and _threading_backend_active():
                results = self._threaded(sources, params, progress)
            else:   # processes, or a backend the caller chose (Dask, loky): picklable tasks
                from joblib import Parallel, delayed
                gen = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                    delayed(_featurize_one)(s, params, self._threads_per_job())
                    for s in sources)
                results = _drain(gen, progress)
        finally:
            if progress is not None:
                progress.close()
        return collect_results(results, self.errors)

    def _threads_per_job(self):
        """Kernel threads of each featurize call: the CPUs shared between the n_jobs workers."""
        from joblib import effective_n_jobs
        return max(1, (os.cpu_count() or 1) // max(effective_n_jobs(self.n_jobs), 1))

    def _threaded(self, sources, params, progress):
        """(features, exception, warnings) of each source, in joblib threads."""
        from joblib import Parallel, delayed, effective_n_jobs
        n_jobs = effective_n_jobs(self.n_jobs)
        n_threads = self._threads_per_job()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            router = _ThreadWarnings(warnings.showwarning)
            warnings.showwarning = router.show
            gen = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
                delayed(router.run)(s, params, n_threads) for s in sources)
            return _drain(gen, progress)
