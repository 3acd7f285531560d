# Sourced by the corpus scripts from the repository root: their arguments [CORPUS_ROOT]
# [N_SHARDS] and paths (PY: the Python of the project's virtual environment; DATA: the shared
# data folder, ../shared/data or $FOURIER6D_SHARED/data).
ROOT=${1:-../corpus}
SHARDS=${2:-2}
PY=${PY:-.venv/bin/python}
DATA=${FOURIER6D_SHARED:-../shared}/data
