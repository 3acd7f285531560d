"""Simulated density maps of protein structures, and MRC/CCP4 map files.

One job: turn atoms into a density map on a regular grid (and read/write such
maps).  The simulation follows UCSF Chimera's ``molmap`` (itself based on
EMAN's ``pdb2mrc``; https://www.cgl.ucsf.edu/chimera/docs/UsersGuide/midas/molmap.html):
each atom a is a normalized 3D Gaussian of standard deviation sigma weighted
by its atomic number Z_a (the number of electrons of the neutral atom;
hydrogens are not in :class:`~estimators.structures.Structure` and are left
out)::

    rho(r) = sum_a Z_a (2 pi sigma^2)^(-3/2) exp(-|r - r_a|^2 / (2 sigma^2)),
    sigma  = f * resolution,   f = 1 / (pi sqrt 2) ~= 0.225  (molmap's default).

With f = 1/(pi sqrt 2) the Fourier transform of each atom,
exp(-sigma^2 k^2 / 2), falls to 1/e at the wavenumber |s| = k / (2 pi) =
1 / resolution.  Other choices found in the same documentation:
f = 1/(pi sqrt(2 ln 2)) ~= 0.187 (transform at half maximum at 1/resolution)
and f = 1/(2 sqrt(2 ln 2)) ~= 0.425 (real-space FWHM equal to the resolution,
MODELLER's default); pass ``sigma_factor`` to use them.  For the 1.4-1.6 A
crystallographic maps of the density-map poster (Li, de Oliveira, van den
Bedem, SLAC) the default gives sigma = 0.32-0.36 A.  The defaults of the grid
also follow molmap: spacing = resolution / 3, padding = 3 * resolution,
Gaussians cut at 5 sigma.

Grid convention (shared with :func:`fourier6d.density.expand_density`):
``values[i, j, k]`` (x index first) is the density at / around
``origin + (i, j, k) * voxel_size``.

Sampling.  ``sampling='average'`` (default) stores the mean of rho over each
voxel cell (a product of erf differences per axis): the map then integrates
exactly, ``values.sum() * voxel_volume = sum_a Z_a``, up to the Gaussian tail
beyond the cutoff (a relative 1 - erf(c / sqrt 2)^3 ~= 1.7e-6 at c = 5).
``sampling='sample'`` stores rho at the voxel centres; its voxel sum equals
sum_a Z_a up to aliasing, at most 2 exp(-2 pi^2 sigma^2 / h^2) per atom and
axis (Poisson summation, h the spacing): 6e-9 for sigma / h = 1 but 2.5e-4 at
the molmap defaults (sigma / h = 0.675), where it averages out over atoms at
random sub-voxel offsets.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

__all__ = ["DensityMap", "SIGMA_FACTOR", "ATOMIC_NUMBERS", "atomic_numbers", "resolution_to_sigma",
           "simulate_density", "structure_density", "write_map", "read_map"]

#: molmap's default sigma / resolution, 1 / (pi sqrt 2).
SIGMA_FACTOR = 1.0 / (math.pi * math.sqrt(2.0))

#: Atomic numbers of the elements of amino-acid heavy atoms (and selenium).
ATOMIC_NUMBERS = {"C": 6, "N": 7, "O": 8, "S": 16, "SE": 34}


@dataclass(frozen=True)
class DensityMap:
    """A density map on a regular grid.

    Attributes
    ----------
    values : numpy.ndarray, shape (nx, ny, nz)
        Density at voxel (i, j, k) (x index first).
    origin : numpy.ndarray, shape (3,)
        Position of voxel (0, 0, 0), Angstrom.
    voxel_size : numpy.ndarray, shape (3,)
        Grid spacing along x, y, z, Angstrom.
    """

    values: np.ndarray
    origin: np.ndarray
    voxel_size: np.ndarray

    @property
    def shape(self):
        return self.values.shape

    @property
    def voxel_volume(self):
        return float(np.prod(self.voxel_size))

    def integral(self):
        """Voxel-sum estimate of int rho dr (``values.sum() * voxel_volume``)."""
        return float(self.values.sum(dtype=np.float64) * self.voxel_volume)

    def __iter__(self):
        # allows ``values, origin, voxel_size = density_map``
        return iter((self.values, self.origin, self.voxel_size))


def atomic_numbers(structure):
    """Atomic number of each heavy atom of a :class:`~estimators.structures.Structure`.

    The element is read from the PDB v3 atom name of an amino-acid heavy atom
    (its first letter: C, N, O or S; 'SE' for selenium if one is kept).

    Returns
    -------
    numpy.ndarray, shape (n_atoms,), float64

    Raises
    ------
    ValueError
        An atom name whose element is not C, N, O, S or Se.
    """
    names = np.asarray(structure.atom_names).astype(str)
    out = np.empty(len(names), dtype=np.float64)
    for i, name in enumerate(names):
        element = "SE" if name.startswith("SE") else name[:1]
        z = ATOMIC_NUMBERS.get(element)
        if z is None:
            raise ValueError(f"{structure.name}: cannot tell the element of atom {name!r} of "
                             f"residue {structure.residue_label(structure.atom_res[i])}")
        out[i] = z
    return out


def resolution_to_sigma(resolution, sigma_factor=SIGMA_FACTOR):
    """Gaussian standard deviation sigma = sigma_factor * resolution (Angstrom)."""
    resolution = float(resolution)
    if not (resolution > 0 and math.isfinite(resolution)):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    if not (sigma_factor > 0 and math.isfinite(sigma_factor)):
        raise ValueError(f"sigma_factor must be a positive number, got {sigma_factor}")
    return sigma_factor * resolution


def _axis_weights(centre, lo_index, n_win, origin, voxel, sigma, cutoff, sampling):
    """Per-atom 1D weights on a window of voxels along one axis, shape (A, n_win)."""
    idx = lo_index[:, None] + np.arange(n_win)[None, :]                  # (A, W)
    pos = origin + idx * voxel
    d = pos - centre[:, None]
    if sampling == "average":
        s = sigma * math.sqrt(2.0)
        w = 0.5 * (erf((d + 0.5 * voxel) / s) - erf((d - 0.5 * voxel) / s)) / voxel
        reach = cutoff * sigma + 0.5 * voxel
    else:
        w = np.exp(-0.5 * (d / sigma) ** 2) / (math.sqrt(2.0 * math.pi) * sigma)
        reach = cutoff * sigma
    w[np.abs(d) > reach] = 0.0
    return idx, w


def simulate_density(coords, weights, resolution, voxel_size=None, *, sigma_factor=SIGMA_FACTOR,
                     padding=None, origin=None, shape=None, cutoff=5.0, sampling="average",
                     dtype=np.float32, chunk_atoms=4096):
    """Density map of Gaussian atoms (molmap model, see the module docstring).

    Parameters
    ----------
    coords : array, shape (A, 3)
        Atom positions (Angstrom).
    weights : array, shape (A,)
        Integral of each atom's Gaussian (atomic number for an electron density).
    resolution : float
        Map resolution d (Angstrom); sigma = sigma_factor * d.
    voxel_size : float, optional
        Grid spacing (default d / 3, molmap's default).
    sigma_factor : float
        sigma / resolution (default 1 / (pi sqrt 2), molmap's).
    padding : float, optional
        Margin around the atoms' bounding box when ``origin``/``shape`` are not
        given (default 3 d).
    origin, shape : optional
        Explicit grid (position of voxel (0,0,0) and (nx, ny, nz)); both or
        neither.  Density falling outside the grid is dropped.
    cutoff : float
        Each Gaussian is evaluated within ``cutoff * sigma`` of its centre
        along each axis (default 5, molmap's).
    sampling : {'average', 'sample'}
        Mean over each voxel cell (exact mass) or value at voxel centres.
    dtype : numpy dtype
        dtype of the returned values (accumulation is float64).
    chunk_atoms : int
        Atoms processed at once (bounds memory).

    Returns
    -------
    DensityMap
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must have shape (A, 3), got {coords.shape}")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (coords.shape[0],):
        raise ValueError(f"weights must have shape ({coords.shape[0]},), got {weights.shape}")
    if not (np.isfinite(coords).all() and np.isfinite(weights).all()):
        raise ValueError("coords and weights must be finite")
    if sampling not in ("average", "sample"):
        raise ValueError(f"sampling must be 'average' or 'sample', got {sampling!r}")
    if not (cutoff > 0 and math.isfinite(cutoff)):
        raise ValueError(f"cutoff must be a positive number, got {cutoff}")
    sigma = resolution_to_sigma(resolution, sigma_factor)
    voxel = resolution / 3.0 if voxel_size is None else float(voxel_size)
    if not (voxel > 0 and math.isfinite(voxel)):
        raise ValueError(f"voxel_size must be a positive number, got {voxel_size}")
    if (origin is None) != (shape is None):
        raise ValueError("give both origin and shape, or neither")
    if origin is None:
        if coords.shape[0] == 0:
            raise ValueError("no atoms: give origin and shape for an empty map")
        pad = 3.0 * resolution if padding is None else float(padding)
        if not (pad >= 0 and math.isfinite(pad)):
            raise ValueError(f"padding must be a non-negative number, got {padding}")
        lo = coords.min(axis=0) - pad
        hi = coords.max(axis=0) + pad
        origin = lo
        shape = tuple(int(n) for n in np.floor((hi - lo) / voxel).astype(int) + 1)
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive ints, got {shape}")

    reach = cutoff * sigma + (0.5 * voxel if sampling == "average" else 0.0)
    n_win = int(math.floor(2.0 * reach / voxel)) + 2
    flat = np.zeros(int(np.prod(shape)), dtype=np.float64)
    for start in range(0, coords.shape[0], int(chunk_atoms)):
        c = coords[start:start + chunk_atoms]
        wt = weights[start:start + chunk_atoms]
        lo_index = np.ceil((c - reach - origin) / voxel).astype(np.int64)   # (A, 3)
        per_axis = []
        for ax in range(3):
            idx, w = _axis_weights(c[:, ax], lo_index[:, ax], n_win, origin[ax], voxel, sigma,
                                   cutoff, sampling)
            w[(idx < 0) | (idx >= shape[ax])] = 0.0
            per_axis.append((np.clip(idx, 0, shape[ax] - 1), w))
        (ix, wx), (iy, wy), (iz, wz) = per_axis
        vals = (wt[:, None, None, None] * wx[:, :, None, None] * wy[:, None, :, None]
                * wz[:, None, None, :])
        lin = ((ix[:, :, None, None] * shape[1] + iy[:, None, :, None]) * shape[2]
               + iz[:, None, None, :])
        flat += np.bincount(lin.ravel(), weights=vals.ravel(), minlength=flat.size)
    values = flat.reshape(shape).astype(dtype, copy=False)
    return DensityMap(values=values, origin=origin, voxel_size=np.full(3, voxel))


def structure_density(structure, resolution=1.5, voxel_size=None, **kwargs):
    """Simulated electron density of a Structure (heavy atoms weighted by atomic number).

    Keyword arguments go to :func:`simulate_density`.
    """
    return simulate_density(structure.coords, atomic_numbers(structure), resolution, voxel_size,
                            **kwargs)


# ----------------------------------------------------------------------------- MRC / CCP4 files

def _mrcfile():
    try:
        import mrcfile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading/writing MRC maps needs mrcfile: pip install 'fourier6d[maps]'") \
            from exc
    return mrcfile


def write_map(path, density_map, overwrite=True):
    """Write a map as MRC/CCP4 (mode 2, float32; x fastest, i.e. MAPC, MAPR, MAPS = 1, 2, 3).

    ``density_map`` is a :class:`DensityMap` or a ``(values, origin,
    voxel_size)`` triple.  The origin goes to the MRC2014 ``origin`` header
    field (start indices 0); the voxel size to the cell dimensions.
    """
    mrcfile = _mrcfile()
    values, origin, voxel = density_map
    values = np.asarray(values)
    if values.ndim != 3:
        raise ValueError(f"map values must have shape (nx, ny, nz), got {values.shape}")
    voxel = np.broadcast_to(np.asarray(voxel, dtype=np.float64), (3,))
    origin = np.broadcast_to(np.asarray(origin, dtype=np.float64), (3,))
    # MRC data are indexed [section, row, column] = [z, y, x]
    data = np.ascontiguousarray(values.astype(np.float32).transpose(2, 1, 0))
    with mrcfile.new(os.fspath(path), overwrite=overwrite) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = tuple(float(v) for v in voxel)
        mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = (float(o) for o in origin)
        mrc.header.nxstart = mrc.header.nystart = mrc.header.nzstart = 0
        mrc.update_header_stats()
    return path


def read_map(path):
    """Read an MRC/CCP4 map.

    Returns
    -------
    values : numpy.ndarray, shape (nx, ny, nz), float32
        Reordered to x, y, z from the file's MAPC/MAPR/MAPS axis order.
    origin : numpy.ndarray, shape (3,)
        Position of voxel (0, 0, 0): the header ``origin`` when it is non-zero
        (MRC2014 / EM maps), else the start indices times the voxel size
        (CCP4 crystallographic maps) -- UCSF ChimeraX's rule.
    voxel_size : numpy.ndarray, shape (3,)
        Cell length / sampling along x, y, z.
    """
    mrcfile = _mrcfile()
    try:
        with mrcfile.open(os.fspath(path), permissive=False) as mrc:
            data = np.asarray(mrc.data, dtype=np.float32)
            h = mrc.header
            axis_of = [int(h.maps), int(h.mapr), int(h.mapc)]     # data axes -> x/y/z (1..3)
            starts_crs = [int(h.nxstart), int(h.nystart), int(h.nzstart)]   # column, row, section
            voxel = np.array([float(v) for v in mrc.voxel_size.tolist()], dtype=np.float64)
            origin_hdr = np.array([float(h.origin.x), float(h.origin.y), float(h.origin.z)])
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable MRC/CCP4 map ({exc})") from exc
    if data.ndim != 3 or sorted(axis_of) != [1, 2, 3]:
        raise ValueError(f"{path}: expected a 3D map with MAPC/MAPR/MAPS a permutation of 1,2,3, "
                         f"got shape {data.shape} and axes {axis_of[::-1]}")
    perm = [axis_of.index(a) for a in (1, 2, 3)]
    values = np.ascontiguousarray(data.transpose(perm))
    # start of the axis mapped to x/y/z: column start goes with MAPC, row with MAPR, section with MAPS
    start_of = {int(h_ax): s for h_ax, s in zip(axis_of[::-1], starts_crs)}
    starts = np.array([start_of[1], start_of[2], start_of[3]], dtype=np.float64)
    if np.any(voxel <= 0):
        raise ValueError(f"{path}: non-positive voxel size {voxel} (cell dimensions missing)")
    origin = origin_hdr if np.any(origin_hdr != 0) else starts * voxel
    return values, origin, voxel
