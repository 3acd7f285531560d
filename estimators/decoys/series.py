"""A native's series of decoys drawn from a mixture of kinds.

A mixture is a mapping ``kind -> weight`` (parsed from text such as
``"threaded=0.45,misfold=0.2,backbone=0.1,auto=0.15,impossible=0.1"`` by :func:`parse_kinds`;
default :data:`DEFAULT_KINDS`).
Decoy ``i`` of a series of ``n`` gets its kind from :func:`assign_kinds`: systematic sampling of the
mixture (positions ``(k + u) / n`` through the cumulative weights, ``u`` drawn from the seed) in a
random order, so that the counts of a series differ from ``n x weight`` by less than one and the
corpus-wide fractions match the weights. ``auto`` lets the perturbation generator pick the kind
from the target lDDT (:meth:`estimators.decoys.kinds.DecoyGenerator.perturb`); ``impossible``
stands for the impossible kinds in equal parts.

Decoy ``i`` depends only on the native, ``(seed, i)``, ``n``, the mixture and the options (the
template pool for threaded decoys), never on which other decoys of the series are generated.
"""
from __future__ import annotations

import math

import numpy as np

from ..structures import Structure
from .impossible import IMPOSSIBLE_KINDS, impossible_decoy
from .kinds import KINDS, DecoyGenerator, _check_series, _decoy_seed, _stratified_targets

__all__ = ["ALL_KINDS", "MIXTURE_KINDS", "parse_kinds", "assign_kinds", "generate_series", "DEFAULT_KINDS"]

#: Kinds a generator exists for: perturbation kinds of :mod:`estimators.decoys.kinds` and
#: template-based models (:mod:`estimators.decoys.threaded`).
GENERATED_KINDS = tuple(KINDS) + ("threaded",) + IMPOSSIBLE_KINDS
#: Every kind a decoy can have (the ``kind`` of perturbation decoys may carry ``"+misfold"``).
ALL_KINDS = GENERATED_KINDS
#: Aliases accepted in a mixture: name -> kinds it stands for (equal parts).
_ALIASES = {"auto": ("auto",), "impossible": IMPOSSIBLE_KINDS}
#: Every name a mixture may use.
MIXTURE_KINDS = GENERATED_KINDS + tuple(_ALIASES)
#: Mixture used when none is given: 45% threaded models, 10% impossible ones, the rest perturbations
#: of the native.
DEFAULT_KINDS = ("threaded=0.45,misfold=0.15,backbone=0.1,hinge=0.05,register=0.05,sidechain=0.05,"
                 "auto=0.05,impossible=0.1")


def parse_kinds(spec) -> dict:
    """Mixture of kinds from ``"kind=weight,..."`` (or a dict); weights normalised to sum 1.

    Aliases (``impossible``) are expanded into their kinds in equal parts. Raises ValueError naming
    the bad item.
    """
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = []
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, weight = part.partition("=")
            if not sep:
                raise ValueError(f"kinds: {part!r} is not of the form kind=weight")
            try:
                items.append((name.strip(), float(weight)))
            except ValueError:
                raise ValueError(f"kinds: weight of {name.strip()!r} is not a number: "
                                 f"{weight!r}") from None
    mixture: dict = {}
    for name, weight in items:
        if name not in MIXTURE_KINDS:
            raise ValueError(f"kinds: unknown kind {name!r}; expected some of {MIXTURE_KINDS}")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"kinds: weight of {name!r} must be finite and >= 0, got {weight}")
        parts = _ALIASES.get(name, (name,))
        for kind in parts:
            mixture[kind] = mixture.get(kind, 0.0) + weight / len(parts)
    total = sum(mixture.values())
    if not total > 0:
        raise ValueError(f"kinds: no positive weight in {spec!r}")
    return {k: v / total for k, v in mixture.items() if v > 0}


def assign_kinds(n: int, mixture: dict, seed) -> list:
    """Kind of each decoy of a series of ``n`` (systematic sampling of ``mixture``, shuffled)."""
    names = list(mixture)
    cumulative = np.cumsum([mixture[k] for k in names])
    cumulative /= cumulative[-1]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4B1D5]))
    positions = (np.arange(n) + rng.uniform()) / max(n, 1)
    picks = np.minimum(np.searchsorted(cumulative, positions, side="right"), len(names) - 1)
    return [names[k] for k in rng.permutation(picks)]


def generate_series(native: Structure, n_decoys: int, seed: int = 0, kinds=DEFAULT_KINDS,
                    lddt_range=(0.3, 0.95), relax: bool = True, relax_options: dict | None = None,
                    indices=None, templates=None, cache_dir=None) -> list:
    """Decoys ``indices`` (default all) of a series of ``n_decoys`` with kinds from a mixture.

    Parameters
    ----------
    native : Structure
    n_decoys : int
        Size of the series (defines targets and kinds).
    seed : int
    kinds : str or dict
        Mixture (:func:`parse_kinds`).
    lddt_range : (float, float)
        Range of the target global lDDT of the perturbation kinds (stratified, as
        :func:`estimators.decoys.generate_decoys`).
    relax : bool
        OpenMM relaxation of every decoy.
    relax_options : dict, optional
        Keyword arguments of :class:`estimators.decoys.Relaxer`.
    indices : sequence of int, optional
    templates : sequence, optional
        Template pool of threaded decoys (paths or Structures).
    cache_dir : path, optional
        Folder of all-atom models shared between series (:class:`DecoyGenerator`); the decoys
        do not depend on it.

    Returns
    -------
    list of Decoy
        In the order of ``indices``; ``info["index"]`` is the index in the series.
    """
    n_decoys, (lo, hi) = _check_series(n_decoys, lddt_range)
    mixture = parse_kinds(kinds)
    indices = list(range(n_decoys)) if indices is None else [int(i) for i in indices]
    if any(not 0 <= i < n_decoys for i in indices):
        raise ValueError(f"indices must lie in [0, {n_decoys})")
    if not indices:
        return []
    assigned = assign_kinds(n_decoys, mixture, seed)
    targets = _stratified_targets(n_decoys, lo, hi, seed)
    generators = _Generators(native, relax, relax_options, templates, seed, cache_dir)
    decoys = []
    for i in indices:
        decoy = generators.generate(assigned[i], float(targets[i]), _decoy_seed(seed, i), i)
        decoy.info["index"] = i
        decoys.append(decoy)
    return decoys


class _Generators:
    """The generators of one native, built on first use."""

    def __init__(self, native, relax, relax_options, templates, seed, cache_dir=None):
        self.native = native
        self.relax = relax
        self.relax_options = relax_options
        self.templates = templates
        self.seed = seed
        self.cache_dir = cache_dir
        self._perturb = None
        self._threaded = None

    @property
    def perturb(self) -> DecoyGenerator:
        if self._perturb is None:
            self._perturb = DecoyGenerator(self.native, relax=self.relax,
                                           relax_options=self.relax_options,
                                           cache_dir=self.cache_dir)
        return self._perturb

    @property
    def threaded(self):
        from .threaded import ThreadedGenerator
        if self._threaded is None:
            if not self.templates:
                raise ValueError(f"{self.native.name}: threaded decoys need a template pool")
            self._threaded = ThreadedGenerator(self.perturb, self.templates, self.seed)
        return self._threaded

    def generate(self, kind, target, seed, index):
        if kind in IMPOSSIBLE_KINDS:
            return impossible_decoy(self.native, kind, seed)
        if kind == "threaded":
            decoy = self.threaded.generate(seed)
            decoy.info["prepare_seconds"] = self.perturb.prepare_seconds
            return decoy
        if kind == "auto" or kind in KINDS:
            decoy = self.perturb.generate(target, seed, None if kind == "auto" else kind)
            decoy.info["prepare_seconds"] = self.perturb.prepare_seconds
            return decoy
        raise ValueError(f"unknown kind {kind!r}")
