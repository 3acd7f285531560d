"""The reciprocal radial grid rho_p = p * drho, p = 0..n_radial-1.

The paper ("Method", "Workflow") sets rho_max = pi / sigma and
drho = pi / (2 R_max), and also asks for L + 1 radial points; with its own
hyper-parameters (sigma = 2 A, R_max = 8 A, L = 4) these three cannot all
hold (2 R_max / sigma = 8, not 5).  We choose:

* ``n_radial`` is a free parameter (default ``lmax + 1``, as in the paper),
* ``rho_max = pi / sigma`` (the paper's resolution rule),
* the first point is rho_0 = 0 (so that the l = 0, rho = 0 coefficient is the
  integral of the function, used by the normalization, Eq. 7), hence
  ``drho = rho_max / (n_radial - 1)``.

With the defaults, drho = pi / 8 A^-1 = pi / R_max: the Shannon spacing for a
function supported in a ball of radius R_max.  Any explicit ``rho_max`` or
``drho`` can be given instead (the paper's Fig. 2 uses rho_max = 0.6 pi,
drho = 0.2 pi).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RadialGrid"]


@dataclass(frozen=True)
class RadialGrid:
    """Radial points rho_p = p * drho of the spherical Fourier expansion.

    Parameters
    ----------
    n_radial : int
        Number of radial points (>= 1).
    drho : float
        Spacing in inverse Angstrom.
    """

    n_radial: int
    drho: float

    def __post_init__(self):
        if int(self.n_radial) < 1:
            raise ValueError(f"n_radial must be >= 1, got {self.n_radial}")
        if not np.isfinite(self.drho) or self.drho <= 0:
            raise ValueError(f"drho must be a positive finite number, got {self.drho}")

    @classmethod
    def from_sigma(cls, sigma, n_radial, rho_max=None):
        """Grid with rho_max = pi / sigma (paper) and ``n_radial`` points from 0."""
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        rho_max = np.pi / sigma if rho_max is None else float(rho_max)
        if n_radial == 1:
            return cls(1, rho_max if rho_max > 0 else 1.0)
        return cls(int(n_radial), rho_max / (n_radial - 1))

    @property
    def rho_max(self):
        return self.drho * (self.n_radial - 1)

    def points(self, xp=np, dtype=np.float64):
        """The radial points as an array of shape ``(n_radial,)``."""
        return xp.arange(self.n_radial, dtype=dtype) * self.drho

    def weights(self, xp=np, dtype=np.float64):
        """Quadrature weights w_p for integrals  int_0^inf g(rho) rho^2 drho.

        Rectangle rule on the uniform grid, ``w_p = rho_p^2 * drho``: the
        integrands used here (Gaussian-damped) are negligible beyond rho_max
        and vanish at rho = 0 through rho^2, so this is the trapezoid rule
        with the tail dropped.  Used by Parseval's identity (Eqs. 7, 9, 11).
        """
        rho = xp.arange(self.n_radial, dtype=dtype) * self.drho
        return rho * rho * self.drho
