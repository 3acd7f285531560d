#!/usr/bin/env bash
# The README's main command: fresh venv, install, score the bundled CASP13 example with the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q .
.venv/bin/fourier6d score examples/T1006_ACOMPMOD_TS1.pdb -o out/example
