"""Tests of estimators.featurizer.StructureFeaturizer (sklearn API, jobs, cache, errors)."""
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from estimators.featurizer import StructureFeaturizer
from estimators.features import featurize
from estimators.structures import StructureError, StructureWarning

RULES = Path(__file__).parent / "data" / "rules.pdb"


def _same(a, b):
    for name in ("residue_index", "atom_basis", "atom_type", "atom_mask", "nbr_idx", "edge_rot",
                 "edge_trans", "edge_topo", "edge_aa_pair"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.params == b.params and a.name == b.name


@pytest.fixture
def inputs(tmp_path):
    good = tmp_path / "good.pdb"
    shutil.copy(RULES, good)
    lines = [l for l in RULES.read_text().splitlines() if "ACE" not in l]
    other = tmp_path / "other.pdb"
    other.write_text("\n".join(lines[:40]) + "\n")
    empty = tmp_path / "empty.pdb"
    empty.write_text("")
    return good, other, empty


def test_sklearn_api():
    f = StructureFeaturizer(lmax=3, cache_dir=None)
    assert f.get_params()["lmax"] == 3
    g = clone(f)
    assert g.get_params() == f.get_params()
    assert f.fit() is f
    with pytest.raises(ValueError, match="errors"):
        StructureFeaturizer(errors="ignore").fit()
    with pytest.raises(ValueError, match="sigma"):
        StructureFeaturizer(sigma=-1).fit()


def test_transform_matches_featurize_and_errors(inputs):
    good, other, empty = inputs
    with pytest.warns(StructureWarning) as rec:
        out = StructureFeaturizer(errors="warn").transform([good, empty, other])
    assert out[1] is None
    assert any("empty.pdb" in str(w.message) for w in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        _same(out[0], featurize(good))
        _same(out[2], featurize(other))
    with pytest.raises(StructureError, match="empty.pdb"), warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        StructureFeaturizer(errors="raise").transform([good, empty])


def test_parallel_and_progress_bar(inputs, capsys):
    good, other, _ = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        serial = StructureFeaturizer().transform([good, other, good])
        par = StructureFeaturizer(n_jobs=2, verbose=True).transform([good, other, good])
    for a, b in zip(serial, par):
        _same(a, b)
    assert "featurize" in capsys.readouterr().err


def test_worker_warnings_reach_caller(inputs):
    good, other, _ = inputs
    with pytest.warns(StructureWarning, match="A:ILE7"):
        StructureFeaturizer(n_jobs=2).transform([good, other])


def test_no_feature_cache(inputs, tmp_path):
    # the on-disk cache was removed: asking for one is a clear error, nothing is written
    good, _, _ = inputs
    with pytest.raises(ValueError, match="cache_dir: the on-disk feature cache was removed"):
        StructureFeaturizer(cache_dir=str(tmp_path / "cache")).transform([good])
    assert not (tmp_path / "cache").exists()


def test_single_path_and_atomgroup(inputs):
    prody = pytest.importorskip("prody")
    prody.confProDy(verbosity="none")
    good, _, _ = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        one = StructureFeaturizer().transform(good)
        ag = StructureFeaturizer(cache_dir=None).transform([prody.parsePDB(str(good))])
    assert len(one) == 1 and len(ag) == 1
    np.testing.assert_allclose(ag[0].atom_basis, one[0].atom_basis, atol=1e-4)


def test_threads_and_processes_give_the_same(inputs):
    good, other, empty = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        thr = StructureFeaturizer(n_jobs=2, errors="warn").transform([good, empty, other, good])
        proc = StructureFeaturizer(n_jobs=2, prefer="processes",
                                   errors="warn").transform([good, empty, other, good])
    assert thr[1] is None and proc[1] is None
    for a, b in zip(thr[::2] + thr[3:], proc[::2] + proc[3:]):
        _same(a, b)
    with pytest.raises(ValueError, match="prefer"):
        StructureFeaturizer(prefer="fork").fit()


def test_thread_workers_keep_their_own_warnings(inputs):
    """Each result carries the warnings of its own input (catch_warnings is not thread-safe)."""
    from estimators.featurizer import _ThreadWarnings
    good, other, _ = inputs
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        router = _ThreadWarnings(warnings.showwarning)
        warnings.showwarning = router.show
        from joblib import Parallel, delayed
        params = StructureFeaturizer()._feature_params()
        res = Parallel(n_jobs=2, prefer="threads")(
            delayed(router.run)(s, params, 1) for s in [good, other] * 4)
    for (feats, exc, caught), src in zip(res, [good, other] * 4):
        assert exc is None and feats is not None
        assert all(str(src) in str(w.message) for w in caught)
        assert caught or src != good                          # good.pdb always warns (ACE, ILE7)
