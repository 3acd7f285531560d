#!/usr/bin/env bash
# The README's test command: fresh venv, install with test extras, run pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .venv-test
.venv-test/bin/pip install -q --upgrade pip
.venv-test/bin/pip install -q ".[test]"
.venv-test/bin/python -m pytest -q tests
