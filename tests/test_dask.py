"""Featurizing and scoring through joblib's Dask backend (``dask.distributed``) gives the local results.

No code in :mod:`estimators` knows about Dask: :class:`~estimators.featurizer.StructureFeaturizer`
uses ``joblib.Parallel``, so ``with joblib.parallel_backend("dask"):`` sends its tasks to the
workers of whatever ``distributed.Client`` is active.  Here the cluster is a two-process
``LocalCluster``; on a real cluster only the ``Client`` address changes (docs/tutorial.rst).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from estimators.featurizer import StructureFeaturizer  # noqa: E402
from estimators.pretrained import load_pretrained      # noqa: E402

N_MODELS = 4
HANG_LIMIT_S = 180


@pytest.fixture(autouse=True)
def _no_hang():
    """Fail loudly instead of hanging: a task that cannot be serialized makes joblib's Dask
    backend wait forever (the error is only logged), so dump the stacks and exit after a while."""
    import faulthandler
    import sys
    faulthandler.dump_traceback_later(HANG_LIMIT_S, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def models():
    from conftest import SHARED
    root = SHARED / "data" / "casp13" / "T0953s1" / "models"
    if not root.exists():
        pytest.skip(f"shared data missing: {root}")
    return [str(p) for p in sorted(root.iterdir())[:N_MODELS]]


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # port-in-use / dashboard notices on shared machines
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, memory_limit="2GiB",
                               death_timeout=30, silence_logs=40)
        cl = Client(cluster, timeout="30s")
    try:
        cl.wait_for_workers(2, timeout=30)
        yield cl
    finally:
        cl.close(timeout=10)
        cluster.close(timeout=10)


def _same_features(a, b):
    assert a.name == b.name
    assert a.params == b.params
    arrays_a, arrays_b = a.to_arrays(), b.to_arrays()
    assert sorted(arrays_a) == sorted(arrays_b)
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)


@pytest.mark.parametrize("prefer", ["threads", "processes"])
def test_featurize_and_predict_on_dask_equal_local(client, models, prefer):
    local_feats = StructureFeaturizer(n_jobs=2, prefer=prefer).transform(models)
    est = load_pretrained(n_jobs=2)
    local_pred = est.predict(models)

    with joblib.parallel_backend("dask"):
        dask_feats = StructureFeaturizer(n_jobs=2, prefer=prefer).transform(models)
        dask_pred = est.predict(models)

    assert len(dask_feats) == len(local_feats) == N_MODELS
    for a, b in zip(local_feats, dask_feats):
        _same_features(a, b)
    assert len(dask_pred) == N_MODELS
    for a, b in zip(local_pred, dask_pred):
        np.testing.assert_array_equal(a, b)


def test_dask_tasks_run_on_workers(client, models):
    """The featurization tasks execute in the worker processes, not in the test process."""
    import os
    from distributed import get_task_stream
    with get_task_stream(client) as ts, joblib.parallel_backend("dask"):
        StructureFeaturizer(n_jobs=2).transform(models)
    workers = {t["worker"] for t in ts.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    pids = set(client.run(os.getpid).values())
    assert os.getpid() not in pids


def test_errors_warn_survives_dask(client, models, tmp_path):
    """errors='warn' results (None + warning) come back from the workers unchanged."""
    bad = tmp_path / "empty.pdb"
    bad.write_text("")
    inputs = [models[0], str(bad)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = StructureFeaturizer(n_jobs=2, errors="warn").transform(inputs)
        with joblib.parallel_backend("dask"):
            remote = StructureFeaturizer(n_jobs=2, errors="warn").transform(inputs)
    assert local[1] is None and remote[1] is None
    _same_features(local[0], remote[0])
