import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FOURIER6D_SHARED", REPO.parent / "shared"))


def _has_gpu():
    try:
        import cupy
        return bool(cupy.cuda.is_available()) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


HAS_GPU = _has_gpu()

# Every array test runs on NumPy; the CuPy variant runs only where a GPU is present.
BACKENDS = [pytest.param("numpy", id="numpy"),
            pytest.param("cupy", id="cupy",
                         marks=pytest.mark.skipif(not HAS_GPU, reason="no GPU / CuPy"))]


@pytest.fixture(params=BACKENDS)
def xp(request):
    if request.param == "cupy":
        import cupy
        return cupy
    return np


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
