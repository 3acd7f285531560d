#!/usr/bin/env bash
# Device checks (CuPy test variants, GPU benchmarks), prepared for one call of the
# `device` tool: about 5-8 minutes on an H200, well inside one 10-minute command.
#
#   bash scripts/gpu_check.sh fetch
#       Here, at no device time: puts into .gpu/ (ignored by git, ~45 MB, within the 64 MiB
#       that travels) the wheels the device image lacks for Python 3.12 (autograd, ProDy,
#       Biopython, pyparsing; it has numpy, scipy, numba, CuPy, scikit-learn, joblib, tqdm) and
#       16 natives of 150-300 residues for bench_training (../shared does not travel).
#   run(command="bash scripts/gpu_check.sh run", carry=[".gpu"], timeout_s=600)
#       There: installs the wheels into /tmp/site and writes to $OUT
#         device.txt          GPU, driver, CuPy version
#         pytest_cupy.log     the CuPy variant of every array test (pytest -k cupy)
#         operators_cuda.log  benchmarks/bench_operators.py --device cuda
#         training_cuda.log   benchmarks/bench_training.py --device cuda
#         results_tail.md     what the two benchmarks appended to benchmarks/RESULTS.md there
#       Copy the tables into benchmarks/RESULTS.md here; compare with the CPU rows of this machine.
# PYTHON overrides the interpreter (default python3, the device image's Python 3.12).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
case "${1:-}" in
fetch)
    set -e
    mkdir -p .gpu/whl .gpu/shared/data/natives
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    plat="--platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64"
    plat="$plat --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp $plat -d .gpu/whl autograd biopython pyparsing prody
    "${PYTHON:-python3}" - <<'PYEOF'
import shutil, sys
from pathlib import Path
sys.path.insert(0, ".")
from estimators.structures import read_structure
natives = sorted((Path("..") / "shared" / "data" / "natives").glob("*.pdb"))
picked = [p for p in natives if 150 <= read_structure(p).n_residues <= 300][:16]
for p in picked:
    shutil.copy(p, Path(".gpu/shared/data/natives") / p.name)
print(f"{len(picked)} natives copied")
PYEOF
    du -sh .gpu
    ;;
run)
    OUT=${OUT:-out/gpu_check}
    mkdir -p "$OUT"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .gpu/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 FOURIER6D_SHARED=$PWD/.gpu/shared
    { nvidia-smi -L; nvidia-smi --query-gpu=driver_version,memory.total --format=csv;
      "$PY" -c "import cupy; print('cupy', cupy.__version__)"; } > "$OUT/device.txt" 2>&1
    cp benchmarks/RESULTS.md /tmp/results_before.md
    timeout 240 "$PY" -m pytest -q -k cupy -p no:cacheprovider tests > "$OUT/pytest_cupy.log" 2>&1
    echo "pytest rc=$?" >> "$OUT/pytest_cupy.log"
    timeout 120 "$PY" benchmarks/bench_operators.py --device cuda > "$OUT/operators_cuda.log" 2>&1
    echo "rc=$?" >> "$OUT/operators_cuda.log"
    timeout 180 "$PY" benchmarks/bench_training.py --device cuda > "$OUT/training_cuda.log" 2>&1
    echo "rc=$?" >> "$OUT/training_cuda.log"
    diff /tmp/results_before.md benchmarks/RESULTS.md | sed -n 's/^> //p' > "$OUT/results_tail.md"
    tail -n 3 "$OUT"/*.log
    ;;
*)
    echo "usage: bash scripts/gpu_check.sh fetch|run" >&2
    exit 2
    ;;
esac
