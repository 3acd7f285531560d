"""fourier6d: the 6DCNN operators in the spherical Fourier space.

A pure array library (NumPy on CPU, CuPy on GPU, the same code).  It does not
import :mod:`estimators`, scikit-learn or ProDy.

Submodules (paper equations in parentheses)
-------------------------------------------
harmonics        real spherical harmonics, spherical Bessel functions
radial           the reciprocal radial grid rho_p
expansion        point sets -> spherical Fourier coefficients (Eqs. 1-2)
inverse          coefficients -> real-space values (inverse transform)
density          density maps on a grid -> coefficients around points
rotation         real Wigner-D matrices and rotation of coefficients (Eq. 6)
gaunt            real Gaunt (three-harmonic product) tables
translation      translation along z and in any direction (Eq. 5)
message_passing  re-expression of neighbour frames along graph edges
zmessage         the same through edge frames: rotate, translate along z, rotate (Eqs. 5-6)
conv6d           the 6D roto-translational convolution (Eq. 4)
normalization    Eq. 7
activation       Eqs. 8-9
switch           continuous -> discrete vectors (Eqs. 10-11)
embedding        atom-type embedding applied per atom (Eq. 2 with t_n = E[type])
gather           differentiable row gather with a fast scatter-add VJP
autodiff         autograd support for CuPy arrays
"""
import os as _os
import sys as _sys

if "numpy" not in _sys.modules:
    # Idle OpenBLAS threads spin for 2^28 cycles (~0.1 s) after each GEMM by default, taking
    # the cores from the Numba kernels that follow (measured: the 6DCNN-2 training iteration
    # 0.95 -> 0.76 s on 2 cores).  Read once, when NumPy loads OpenBLAS; a value already set wins.
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .radial import RadialGrid
from .harmonics import n_coef, lm_index, real_sph_harm, spherical_jn
from .expansion import point_basis, expand_points, bessel_harmonic_basis, contract_basis
from .inverse import inverse_transform, inverse_on_grid
from .density import expand_density
from .rotation import (wigner_d_real, wigner_d_from_euler, euler_to_matrix, matrix_to_euler,
                       rotate, random_rotations)
from .gaunt import real_gaunt, wigner_3j, complex_gaunt
from .translation import z_translation_matrices, translate_z, translate, translation_matrices
from .message_passing import edge_operators, pass_messages, message_passing
from .zmessage import edge_frames, pass_messages_z
from .conv6d import conv6d, conv6d_operator
from .normalization import normalize, parseval_weights, parseval_norm2, PARSEVAL_FACTOR
from .activation import activation, activation_gain
from .switch import switch_to_vector
from .embedding import embed_atoms
from .gather import take_rows
from .autodiff import enable_cupy_autograd, is_cupy_autograd_enabled

__version__ = "0.1.0"
