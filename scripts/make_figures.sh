#!/usr/bin/env bash
# Regenerate the documentation figures (docs/figures/*.png and docs/figures/figure_numbers.json).
#
#   bash scripts/make_figures.sh [--quick] [--out DIR] [--only NAME ...]
#
# Runs docs/figures/make_figures.py with $PYTHON (default: .venv/bin/python if present, else python3);
# the package must be importable (pip install . or -e .) with matplotlib.  The full run takes about a
# minute on one core; the CASP13 plots of the docs come from benchmarks/qa_casp13.py and are not remade.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export MPLBACKEND=Agg
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec "$PYTHON" docs/figures/make_figures.py "$@"
