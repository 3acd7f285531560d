"""Bad inputs through the Python API: predict / fit input checks, the batch scorer's outcomes."""
import warnings

import numpy as np
import pytest

from bad_inputs import EXAMPLE, make_corpus
from estimators.batch_scoring import score_inputs
from estimators.pretrained import pretrained_path
from estimators.qa_estimator import SixDQAEstimator
from estimators.structures import StructureError, StructureWarning

needs_model = pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")


@pytest.fixture(scope="module")
def est():
    from estimators.pretrained import load_pretrained
    if not pretrained_path().is_file():
        pytest.skip("no shipped model")
    return load_pretrained(verbose=0)


def test_predict_none_raises_or_warns(est):
    est.set_params(errors="raise")
    with pytest.raises(StructureError, match="model 0 is None"):
        est.predict(None)
    with pytest.raises(StructureError, match="model 1 is None"):
        est.predict([str(EXAMPLE), None])
    est.set_params(errors="warn")
    try:
        with pytest.warns(StructureWarning, match="None"):
            out = est.predict([None, str(EXAMPLE), None])
        assert out[0] is None and out[2] is None and np.isfinite(out[1]).any()
        with pytest.warns(StructureWarning):
            assert est.predict(None) == [None]
    finally:
        est.set_params(errors="raise")


def test_atomgroup_without_coordinates(est):
    prody = pytest.importorskip("prody")
    prody.confProDy(verbosity="none")
    ag = prody.parsePDB(str(EXAMPLE))
    empty = prody.AtomGroup("no coordinates")
    empty.setNames(ag.getNames())
    empty.setResnames(ag.getResnames())
    empty.setResnums(ag.getResnums())
    empty.setChids(ag.getChids())
    with pytest.raises(StructureError, match="no coordinates"):
        est.predict([empty])
    est.set_params(errors="warn")
    try:
        with pytest.warns(StructureWarning, match="no coordinates"):
            out = est.predict([empty, ag])
        assert out[0] is None and np.isfinite(out[1]).any()
    finally:
        est.set_params(errors="raise")


@pytest.mark.parametrize("labels, match", [
    ([np.full(79, np.inf)], r"not in \[0, 1\]"),
    ([np.full(79, 1.5)], r"not in \[0, 1\]"),
    ([-0.1], r"not in \[0, 1\]"),
    ([float("inf")], r"not in \[0, 1\]"),
    ([np.full(79, np.nan)], "NaN or missing"),
    ([None], "NaN or missing"),
    ([float("nan")], "NaN or missing"),
])
def test_fit_refuses_bad_labels_before_any_work(labels, match, monkeypatch):
    est = SixDQAEstimator(architecture="baseline", epochs=1)

    def no_featurize(*a, **k):
        raise AssertionError("featurized before the labels were checked")

    monkeypatch.setattr(SixDQAEstimator, "_training_inputs", no_featurize)
    with pytest.raises(ValueError, match=match):
        est.fit([str(EXAMPLE)], labels)


def test_fit_refuses_none_models():
    est = SixDQAEstimator(architecture="baseline", epochs=1)
    with pytest.raises(StructureError, match="None"):
        est.fit([None], [0.5])


@needs_model
def test_score_inputs_one_outcome_per_input_with_its_own_warnings(est, tmp_path):
    cases = make_corpus(tmp_path)
    files = [c for c in cases if c.expect != "failed" or c.stage in ("read", "featurize")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # nothing may leak out as a warning
        outcomes = list(score_inputs(est, [c.path for c in files], chunk_size=7))
    assert [o.source for o in outcomes] == [c.path for c in files]
    for c, o in zip(files, outcomes):
        if c.expect == "scored":
            assert o.ok, (c.kind, o.reason)
            assert o.values.shape == (o.structure.n_residues,)
        elif c.expect == "failed":
            assert not o.ok and o.stage == c.stage and c.path in o.reason, (c.kind, o.reason)
        if c.warn:
            assert o.warnings and all(c.path in m for _, m in o.warnings), c.kind
    # each warning names its own input only
    for o in outcomes:
        for _, m in o.warnings:
            others = [c.path for c in files if c.path != o.source and c.path + ":" in m]
            assert not others, (o.source, m)
