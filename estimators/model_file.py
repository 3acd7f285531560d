"""Model files: the weights and metadata of a fitted SixDQAEstimator in one ``.npz``.

One job: write model files, and read them back only after checking them, so that a damaged or
hostile file gives a one-line :class:`ModelFileError` naming the file, never a raw
``BadZipFile`` / ``zlib.error`` / ``MemoryError``, a decompression bomb or unpickled code.

Layout (format version 2)
    * ``param__<name>``: one float array per network weight (the names and shapes of
      ``estimators.networks.init_params`` for the file's architecture spec);
    * ``metadata``: a JSON string stored as a 0-d unicode array (never a pickle) with
      ``format_version``, ``spec`` (the architecture, featurization parameters included),
      ``featurization`` (the featurizer's parameters), ``estimator_params``, ``history``,
      ``n_params``, ``n_train_models``, ``training_groups`` (the unique ``groups`` given to
      ``fit``, e.g. CASP target ids; None when none were given) and ``arrays`` (name -> shape).

    Version-1 files (``meta_json``, a uint8 array of JSON text, e.g. the shipped pretrained
    model) are read too.

    Several networks of one architecture (a seed ensemble, :func:`write_model_files`): network
    k's weights are ``net<k>__<name>``; the metadata adds ``networks`` (each network's
    metadata without the spec) and ``ensemble``.

Checks when reading, in this order: the file's size (at most :data:`MAX_FILE_BYTES`); the zip
directory (at most :data:`MAX_MEMBERS` members, only ``.npy`` members, declared uncompressed sizes
at most :data:`MAX_UNCOMPRESSED_BYTES` in all) -- all before anything is decompressed, and no
member is ever decompressed beyond its declared size; the metadata (JSON object, known format
version, valid architecture; extra scalar spec entries are kept); every array's ``.npy`` header
(numeric dtype, shape consistent with its byte count: nothing is allocated from a header's word
alone); the set of arrays (each weight of the architecture present, nothing else); each weight's
shape and that all its values are finite.
"""
from __future__ import annotations

import io
import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["ModelFileError", "FORMAT_VERSION", "MAX_FILE_BYTES", "MAX_MEMBERS",
           "MAX_UNCOMPRESSED_BYTES", "MAX_PARAM_ELEMENTS", "MAX_NETWORKS", "write_model_file",
           "write_model_files", "read_model_file", "read_model_networks"]

#: Format version written by :func:`write_model_file` (1 = files with ``meta_json``).
FORMAT_VERSION = 2
#: Largest model file read (bytes); the shipped 6DCNN-2 model is about 0.3 MB.
MAX_FILE_BYTES = 256 * 2 ** 20
#: Most members (arrays) in a model file.
MAX_MEMBERS = 1024
#: Largest sum of the members' declared uncompressed sizes (bytes).
MAX_UNCOMPRESSED_BYTES = 512 * 2 ** 20
#: Largest metadata member (bytes).
MAX_METADATA_BYTES = 16 * 2 ** 20
#: Most networks in one model file (an ensemble).
MAX_NETWORKS = 64
#: Most weights (scalars) an architecture spec of a model file may imply.
MAX_PARAM_ELEMENTS = 50_000_000

_PREFIX = "param__"
_META_KEYS = ("metadata", "meta_json")


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file."""


# ----------------------------------------------------------------------------- writing

def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def write_model_file(path, params, metadata):
    """Write weights and metadata to ``path`` (written to a temporary name, then renamed).

    Parameters
    ----------
    path : str or os.PathLike
    params : dict of str -> ndarray
        Network weights (host arrays).
    metadata : dict
        JSON-serialisable metadata; ``format_version`` and ``arrays`` are set here.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    arrays = _weight_arrays(path, params, _PREFIX)
    meta = dict(metadata, format_version=FORMAT_VERSION,
                arrays={k: list(np.shape(v)) for k, v in params.items()})
    return _write(path, arrays, meta)


def write_model_files(path, networks, ensemble=None):
    """Write several networks of one architecture (an ensemble) to one model file.

    The file's metadata holds the first network's entries (``spec``, ``featurization``, ...),
    ``training_groups`` (the union of the networks'), ``networks`` (each network's metadata
    without its spec) and ``ensemble``; network k's weights are ``net<k>__<name>``.

    Parameters
    ----------
    path : str or os.PathLike
    networks : list of (params, metadata)
        Each network's weights and metadata (as for :func:`write_model_file`); their
        ``spec`` must be the same.  One network writes a plain model file.
    ensemble : dict, optional
        JSON-serialisable description of the ensemble (e.g. its seeds), stored as
        ``ensemble``.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    networks = list(networks)
    if not networks:
        raise ValueError("write_model_files needs at least one network")
    if len(networks) == 1:
        return write_model_file(path, *networks[0])
    spec = networks[0][1].get("spec")
    if any(m.get("spec") != spec for _, m in networks[1:]):
        raise ValueError(f"{path}: the networks of one model file must share their architecture")
    arrays = {}
    for k, (params, _) in enumerate(networks):
        arrays.update(_weight_arrays(path, params, _net_prefix(k)))
    union = union_of_groups([m.get("training_groups") for _, m in networks])
    meta = dict(networks[0][1], training_groups=union, format_version=FORMAT_VERSION,
                networks=[{k: v for k, v in m.items() if k != "spec"} for _, m in networks],
                ensemble=dict(ensemble or {}),
                arrays={k: list(np.shape(v)) for k, v in networks[0][0].items()})
    return _write(path, arrays, meta)


def union_of_groups(groups):
    """The training groups of several networks together (sorted), or None when the groups of
    any of them are unknown (None)."""
    if any(g is None for g in groups):
        return None
    return sorted({g for gs in groups for g in gs}, key=str)


def _net_prefix(k):
    return f"net{int(k)}__"


def _weight_arrays(path, params, prefix):
    arrays = {f"{prefix}{k}": np.asarray(v) for k, v in params.items()}
    for k, a in arrays.items():
        if a.dtype.kind != "f" or not np.isfinite(a).all():
            raise ValueError(f"{path}: weight {k[len(prefix):]!r} is not a finite float array")
    return arrays


def _finite_or_none(obj):
    """``obj`` with every non-finite float (e.g. a validation metric of a group too small to
    rank, NaN) replaced by None, which strict JSON can hold."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)) and not math.isfinite(obj):
        return None
    return obj


def _write(path, arrays, meta):
    arrays = dict(arrays)
    arrays["metadata"] = np.array(json.dumps(_finite_or_none(meta), default=_json_default,
                                             allow_nan=False))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ----------------------------------------------------------------------------- reading

def _fail(path, what):
    raise ModelFileError(f"model file {path}: {what}")


def _read_member(zf, info, limit, path):
    """Bytes of one member, never more than its declared size (and ``limit``)."""
    if info.file_size > limit:
        _fail(path, f"array {info.filename!r} declares {info.file_size} bytes (limit {limit})")
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, RuntimeError) as exc:
        kind = exc.__class__.__name__
        kind = f"{exc.__class__.__module__}.{kind}" if kind.islower() else kind   # zlib.error
        _fail(path, f"corrupt array {info.filename!r} ({kind}: {exc})")
    if len(data) != info.file_size:
        _fail(path, f"array {info.filename!r} holds {len(data)} bytes, its header says "
                    f"{info.file_size}")
    return data


def _parse_npy(data, name, path):
    """Array of ``.npy`` bytes, checked before allocation; no pickle, numeric/str dtypes only."""
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, TypeError, KeyError) as exc:
        _fail(path, f"array {name!r} has a corrupt header ({exc})")
    if dtype.hasobject or dtype.kind not in "fiuU" or dtype.fields is not None:
        _fail(path, f"array {name!r} has dtype {dtype} (only numbers and text are read; "
                    "never pickled objects)")
    if any(int(d) < 0 for d in shape):
        _fail(path, f"array {name!r} has a negative dimension {shape}")
    count = math.prod(int(d) for d in shape)
    body = len(data) - fh.tell()
    if count * dtype.itemsize != body:
        _fail(path, f"array {name!r} of shape {tuple(shape)} and dtype {dtype} needs "
                    f"{count * dtype.itemsize} bytes, the file holds {body}")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=fh.tell())
    return arr.reshape(shape, order="F" if fortran else "C").copy()


def _metadata(zf, members, path):
    key = next((k for k in _META_KEYS if k in members), None)
    if key is None:
        _fail(path, "no 'metadata' array: not a fourier6d model file")
    arr = _parse_npy(_read_member(zf, members[key], MAX_METADATA_BYTES, path), key, path)
    try:
        if key == "metadata":
            if arr.dtype.kind != "U" or arr.shape != ():
                raise ValueError(f"'metadata' must be a 0-d text array, got {arr.dtype} "
                                 f"{arr.shape}")
            text = str(arr[()])
        else:
            if arr.dtype != np.uint8 or arr.ndim != 1:
                raise ValueError("'meta_json' must be a 1-d uint8 array")
            text = arr.tobytes().decode("utf-8")
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(path, f"unreadable metadata ({exc})")
    if not isinstance(meta, dict):
        _fail(path, "metadata is not a JSON object")
    version = meta.get("format_version")
    if version not in (1, FORMAT_VERSION):
        _fail(path, f"unsupported model format version {version!r} (this version reads 1 and "
                    f"{FORMAT_VERSION})")
    if (key == "metadata") != (version >= 2):
        _fail(path, f"format version {version} stored as {key!r}")
    return key, meta


def _spec_size_bound(spec):
    """An upper bound of the number of weights ``init_params(spec)`` creates (no allocation)."""
    widths = [spec["embed"], spec["switch"], spec["edge_embed"], *spec["blocks"], *spec["graph"]]
    w = max(widths)
    pq = spec["n_radial"] * (spec["lmax"] + 1) ** 2
    per_array = max(pq * w * w, spec["n_atom_types"] * w, (400 + spec["d_t"]) * w, w ** 3)
    n_arrays = 3 * (len(spec["blocks"]) + len(spec["graph"])) + 8
    return n_arrays * per_array


def _expected_shapes(spec, path):
    from .architectures import get_architecture, legacy_spec
    from .networks import init_params
    if not isinstance(spec, dict):
        _fail(path, f"the metadata holds no architecture spec (got {type(spec).__name__})")
    try:
        spec = get_architecture(legacy_spec(spec))
    except (TypeError, ValueError, KeyError) as exc:
        _fail(path, f"invalid architecture spec ({exc})")
    if spec["lmax"] > 64 or len(spec["blocks"]) > 64 or len(spec["graph"]) > 64 or \
            _spec_size_bound(spec) > MAX_PARAM_ELEMENTS:
        _fail(path, "the architecture spec implies more than "
                    f"{MAX_PARAM_ELEMENTS} weights")
    return spec, {k: tuple(np.shape(v)) for k, v in init_params(spec, 0, np.float32).items()}


def read_model_networks(path):
    """Read and check a model file of one or several networks (:func:`write_model_files`).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    networks : list of (params, metadata)
        Each network's weights (finite float arrays of the architecture's shapes) and its
        metadata (``spec`` the validated architecture); one entry for a plain model file.
    metadata : dict
        The file's metadata.

    Raises
    ------
    ModelFileError
        One line naming the file: missing, too large, not a zip/npz, corrupt, too many or too
        large members, unreadable metadata, unknown format version, invalid architecture,
        missing / unexpected / wrongly shaped / non-finite weights, non-numeric dtypes.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        _fail(path, f"cannot read it ({exc.strerror or exc})")
    if not path.is_file():
        _fail(path, "not a regular file")
    if st.st_size == 0:
        _fail(path, "empty file")
    if st.st_size > MAX_FILE_BYTES:
        _fail(path, f"{st.st_size} bytes, more than the limit of {MAX_FILE_BYTES}")
    with open(path, "rb") as raw:
        head = raw.read(4)
        if head[:2] == b"\x80\x03" or head[:1] == b"\x80":
            _fail(path, "a pickle, which is never loaded; model files are .npz archives")
        if head != b"PK\x03\x04":
            _fail(path, "not an .npz (zip) archive")
        raw.seek(0)
        try:
            zf = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            _fail(path, f"corrupt or truncated .npz archive ({exc})")
        with zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                _fail(path, f"{len(infos)} arrays, more than the limit of {MAX_MEMBERS}")
            members = {}
            for info in infos:
                if not info.filename.endswith(".npy") or info.is_dir():
                    _fail(path, f"unexpected member {info.filename!r} (not an array)")
                name = info.filename[:-4]
                if name in members:
                    _fail(path, f"array {name!r} appears twice")
                members[name] = info
            total = sum(i.file_size for i in infos)
            if total > MAX_UNCOMPRESSED_BYTES:
                _fail(path, f"arrays of {total} bytes uncompressed, more than the limit of "
                            f"{MAX_UNCOMPRESSED_BYTES}")
            key, meta = _metadata(zf, members, path)
            spec, shapes = _expected_shapes(meta.get("spec"), path)
            meta["spec"] = spec
            nets = meta.get("networks")
            if nets is None:
                prefixes = [_PREFIX]
            elif (isinstance(nets, list) and 2 <= len(nets) <= MAX_NETWORKS
                  and all(isinstance(m, dict) for m in nets)):
                prefixes = [_net_prefix(k) for k in range(len(nets))]
            else:
                _fail(path, "invalid 'networks' entry (a list of 2 to "
                            f"{MAX_NETWORKS} network descriptions)")
            expected = {f"{p}{k}" for p in prefixes for k in shapes}
            unknown = sorted(set(members) - expected - {key})
            if unknown:
                _fail(path, f"unexpected array(s) {', '.join(map(repr, unknown[:5]))} for "
                            f"architecture {spec.get('name')!r}")
            missing = sorted(expected - set(members))
            if missing:
                _fail(path, "missing weight(s) " + ", ".join(
                    m[len(_PREFIX):] if m.startswith(_PREFIX) else m for m in missing[:5]) +
                      f" of architecture {spec.get('name')!r}")
            networks = []
            for prefix in prefixes:
                networks.append(_read_weights(zf, members, shapes, prefix, spec, path))
    for m in [meta] if nets is None else nets:
        _check_refinement(m, path)
    _check_ensemble(meta, path)
    if len(networks) == 1:
        return [(networks[0], meta)], meta
    return [(params, dict(m, spec=spec)) for params, m in zip(networks, meta["networks"])], meta


def _check_ensemble(meta, path):
    """The ensemble's description, when the file has one: a dict whose ``score_offset``, if
    given, is a finite number in [-1, 1] (:mod:`estimators.score_offset`)."""
    from .score_offset import check_score_offset
    ensemble = meta.get("ensemble")
    if ensemble is None:
        return
    if not isinstance(ensemble, dict):
        _fail(path, "invalid 'ensemble' entry (a description of the ensemble)")
    if "score_offset" in ensemble:
        try:
            check_score_offset(ensemble["score_offset"])
        except ValueError as error:
            _fail(path, f"invalid 'ensemble' entry: {error}")


def refinement_sizes():
    """``{name: number of weights}`` of the refinements a network may carry, each under its
    estimator parameter's name (:mod:`estimators.local_refinement`,
    :mod:`estimators.global_refinement`)."""
    from .global_refinement import N_MODEL_DESCRIPTORS
    from .local_refinement import N_WEIGHTS
    return {"local_refinement": N_WEIGHTS, "global_refinement": 2 * N_MODEL_DESCRIPTORS}


def _check_refinement(meta, path):
    """The weights of the refinements (:func:`refinement_sizes`), when a network has them:
    lists of finite numbers of the right length."""
    for name, size in refinement_sizes().items():
        weights = meta.get(name)
        if weights is None:
            continue
        if not (isinstance(weights, list) and len(weights) == size
                and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) for v in weights)):
            _fail(path, f"invalid {name!r} entry (a list of {size} finite numbers)")


def read_model_file(path):
    """Read and check a model file of one network.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    params : dict of str -> ndarray
        The weights (finite float arrays of the architecture's shapes).
    metadata : dict
        The file's metadata; ``spec`` is the validated architecture.

    Raises
    ------
    ModelFileError
        One line naming the file: missing, too large, not a zip/npz, corrupt, too many or too
        large members, unreadable metadata, unknown format version, invalid architecture,
        missing / unexpected / wrongly shaped / non-finite weights, non-numeric dtypes; and
        for a file of several networks (read it with :func:`read_model_networks`).
    """
    networks, meta = read_model_networks(path)
    if len(networks) > 1:
        _fail(Path(path), f"holds an ensemble of {len(networks)} networks; load it with "
                          "estimators.load_model or SeedEnsembleQAEstimator.load")
    return networks[0][0], meta


def _read_weights(zf, members, shapes, prefix, spec, path):
    """The weights of one network (arrays ``<prefix><name>``), each checked."""
    params = {}
    for k, shape in shapes.items():
        name = f"{prefix}{k}"
        if members[name].file_size > 8 * math.prod(shape) + 4096:
            _fail(path, f"weight {k!r} declares {members[name].file_size} bytes, far more "
                        f"than an array of shape {shape} needs")
        arr = _parse_npy(_read_member(zf, members[name], MAX_UNCOMPRESSED_BYTES, path),
                         name, path)
        if arr.dtype.kind != "f":
            _fail(path, f"weight {k!r} has dtype {arr.dtype}, not a float type")
        if arr.shape != shape:
            _fail(path, f"weight {k!r} has shape {arr.shape}, architecture "
                        f"{spec.get('name')!r} needs {shape}")
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            _fail(path, f"weight {k!r} has {bad} non-finite value(s) (NaN/inf)")
        params[k] = arr
    return params
