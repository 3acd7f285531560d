#!/usr/bin/env bash
# Build the HTML documentation (docs/ -> docs/_build/html) with Sphinx, warnings as errors.
#
#   bash scripts/build_docs.sh [VENV]        VENV: virtual environment to create/use (default .venv-docs)
#
# Works offline against the configured package index: installs Sphinx and this package (autodoc
# imports fourier6d and estimators, which need numpy, autograd, scikit-learn, ProDy, ...).
# Set PYTHON to choose the interpreter that creates the venv (default python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-docs}"
PYTHON="${PYTHON:-python3.11}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "sphinx>=7.2" .
rm -rf docs/_build/html
"$VENV/bin/python" -m sphinx -W --keep-going -b html -d docs/_build/doctrees docs docs/_build/html
echo "documentation: $(pwd)/docs/_build/html/index.html"
