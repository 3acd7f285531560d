"""Chunked prediction (SixDQAEstimator.max_nodes) equals the unchunked network to float tolerance."""
import numpy as np
import pytest

from estimators.architectures import ARCHITECTURES, get_architecture
from estimators.batching import collate
from estimators.features import featurize
from estimators.networks import batch_to_device, forward, forward_chunked, init_params, radial_grid
from estimators.qa_estimator import SixDQAEstimator
from estimators.structures import read_structure


@pytest.fixture(scope="module")
def casp_feats():
    from conftest import SHARED
    root = SHARED / "data" / "casp13" / "T0953s1" / "models"
    if not root.exists():
        pytest.skip("shared data missing")
    paths = sorted(root.iterdir())[:3]
    return [featurize(read_structure(str(p)), dtype=np.float64) for p in paths]


def _untrained(arch, dtype=np.float64, seed=3):
    spec = get_architecture(arch)
    params = init_params(spec, seed, dtype)
    rng = np.random.default_rng(seed)
    # non-zero biases so that every parameter matters
    for k in params:
        if k.endswith("_b"):
            params[k] = (0.1 * rng.standard_normal(params[k].shape)).astype(dtype)
    return spec, params


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_forward_chunked_equals_forward(casp_feats, arch):
    spec, params = _untrained(arch)
    grid = radial_grid(spec)
    dev = batch_to_device(collate(casp_feats), np, np.float64)      # 3 models in one graph
    n = dev["n_nodes"]
    ref = forward(params, spec, dev, grid)
    for size in (13, 64, n - 1):   # chunks that cross model boundaries, a ragged last chunk
        out = forward_chunked(params, spec, dev, grid, size)
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12, err_msg=f"max_nodes={size}")
    # at or above the number of nodes: the very same code path as forward
    np.testing.assert_array_equal(forward_chunked(params, spec, dev, grid, n), ref)
    np.testing.assert_array_equal(forward_chunked(params, spec, dev, grid, None), ref)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 2e-5)])
def test_estimator_predict_chunked(casp_feats, dtype, tol):
    spec, params = _untrained("6dcnn-2", np.dtype(dtype))
    est = SixDQAEstimator(architecture="6dcnn-2", dtype=dtype, batch_size=2)
    est.spec_, est.params_ = spec, params
    full = est.set_params(max_nodes=None).predict(casp_feats)
    chunked = est.set_params(max_nodes=50).predict(casp_feats)
    assert [len(a) for a in full] == [f.n_residues_total for f in casp_feats]
    for a, b in zip(full, chunked):
        assert np.isfinite(a).any()
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="max_nodes"):
        est.set_params(max_nodes=0).predict(casp_feats)


def test_max_nodes_is_a_plain_parameter():
    est = SixDQAEstimator(max_nodes=64)
    assert est.get_params()["max_nodes"] == 64
    assert SixDQAEstimator().max_nodes == 128


def test_collate_keeps_each_models_atoms(casp_feats):
    # the atom arrays stay per model, unpadded (no copy when the dtype matches); the graph
    # arrays are one padded batch
    b = collate(casp_feats, dtype=np.float32)
    assert len(b.atom_basis) == len(b.atom_type) == len(casp_feats)
    assert b.n_nodes == sum(f.n_nodes for f in casp_feats) == b.nbr_idx.shape[0]
    for f, sl, basis, types in zip(casp_feats, b.node_slices, b.atom_basis, b.atom_type):
        assert basis.dtype == np.float32 and sl.stop - sl.start == f.n_nodes
        np.testing.assert_array_equal(basis, f.atom_basis.astype(np.float32))
        np.testing.assert_array_equal(types, f.atom_type)
    same = collate(casp_feats, dtype=casp_feats[0].atom_basis.dtype)
    assert same.atom_basis[0] is casp_feats[0].atom_basis
