"""fourier6d: the 6DCNN operators in the spherical Fourier space.

A pure array library (NumPy on CPU, CuPy on GPU, the same code).  It must not
import :mod:`estimators`, scikit-learn or ProDy.

Submodules
----------
harmonics   real spherical harmonics, spherical Bessel functions
radial      the reciprocal radial grid rho_p
expansion   point sets -> spherical Fourier coefficients (Eqs. 1-2)
"""
from .radial import RadialGrid
from .harmonics import n_coef, lm_index, real_sph_harm, spherical_jn
from .expansion import point_basis, expand_points

__version__ = "0.1.0"
