# Sourced by the corpus scripts from the repository root: their arguments [CORPUS_ROOT]
# [N_SHARDS] and paths (PY: the Python of the project's virtual environment; DATA: the shared
# data folder, ../shared/data or $FOURIER6D_SHARED/data).
ROOT=${1:-../corpus}
SHARDS=${2:-2}
PY=${PY:-.venv/bin/python}
DATA=${FOURIER6D_SHARED:-../shared}/data
# The mixture of kinds of the local test bench's corpora (scripts/eval_local_dev.sh).
BENCH_KINDS=threaded=0.6,impossible=0.15,misfold=0.1,backbone=0.05,register=0.05,hinge=0.05

# build_bench_corpora PREFIX N_PER_NATIVE SEED KINDS: $ROOT/<PREFIX>main1k and <PREFIX>extra1k,
# decoys of the first 100 natives by name of natives/ and of natives_extra/ (relaxed with 300
# L-BFGS iterations), $SHARDS shards in parallel; resumable.
build_bench_corpora() {
  local prefix=$1 n_per=$2 seed=$3 kinds=$4 pair k
  for pair in "main1k:natives" "extra1k:natives_extra"; do
    for k in $(seq 1 "$SHARDS"); do
      "$PY" -m estimators.decoys.corpus "$DATA/${pair#*:}" --limit 100 \
          --out "$ROOT/$prefix${pair%%:*}" --n-per-native "$n_per" --seed "$seed" \
          --relax-iterations 300 --kinds "$kinds" --shard "$k/$SHARDS" &
    done
    wait
  done
}
