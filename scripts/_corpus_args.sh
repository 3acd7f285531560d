# Sourced by the corpus scripts from the repository root: their arguments [CORPUS_ROOT]
# [N_SHARDS] and paths (PY: the Python of the project's virtual environment; DATA: the shared
# data folder, ../shared/data or $FOURIER6D_SHARED/data).
ROOT=${1:-../corpus}
SHARDS=${2:-2}
PY=${PY:-.venv/bin/python}
DATA=${FOURIER6D_SHARED:-../shared}/data
# The mixture of kinds of CORPUS/main and main_s1 (scripts/train_pretrained.sh), which the local
# test bench's corpora share (scripts/eval_local_dev.sh).
MAIN_KINDS=threaded=0.6,impossible=0.15,misfold=0.1,backbone=0.05,register=0.05,hinge=0.05
BENCH_KINDS=$MAIN_KINDS

# build_bench_corpora PREFIX N_PER_NATIVE SEED KINDS: $ROOT/<PREFIX>main1k and <PREFIX>extra1k,
# decoys of the first 100 natives by name of natives/ and of natives_extra/ (relaxed with 300
# L-BFGS iterations, Amber relaxation), $SHARDS shards in parallel; resumable.
build_bench_corpora() {
  local prefix=$1 n_per=$2 seed=$3 kinds=$4 pair k
  for pair in "main1k:natives" "extra1k:natives_extra"; do
    for k in $(seq 1 "$SHARDS"); do
      "$PY" -m estimators.decoys.corpus "$DATA/${pair#*:}" --limit 100 \
          --out "$ROOT/$prefix${pair%%:*}" --n-per-native "$n_per" --seed "$seed" \
          --relaxation amber --relax-iterations 300 --kinds "$kinds" --shard "$k/$SHARDS" &
    done
    wait
  done
}

# build_heavy_corpora: $ROOT/torsion (832 torsion-walk decoys of the first 104 natives of natives/,
# Amber relaxation, as in the shipped recipe) and $ROOT/heavy_s0, heavy_s1 (10 decoys of every
# native of natives/ and natives_extra/ with the kinds of CORPUS/main, seeds 0 and 1, relaxed on
# heavy atoms, the corpus command's default): 11,392 decoys, the size and mixture of the Amber
# corpus of the shipped recipe; $SHARDS shards in parallel; resumable.
build_heavy_corpora() {
  local k pids=() pid
  for k in $(seq 1 "$SHARDS"); do
    _heavy_shard "$k/$SHARDS" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { echo "a corpus shard failed (see its errors above)" >&2; return 1; }
  done
}
_heavy_shard() {
  local seed
  "$PY" -m estimators.decoys.corpus "$DATA/natives" --limit 104 --out "$ROOT/torsion" \
      --n-per-native 8 --seed 0 --kinds auto=1 --relaxation amber --relax-iterations 300 \
      --shard "$1" || return 1
  for seed in 0 1; do
    "$PY" -m estimators.decoys.corpus "$DATA/natives" "$DATA/natives_extra" \
        --out "$ROOT/heavy_s$seed" --n-per-native 10 --seed "$seed" --relax-iterations 300 \
        --kinds "$MAIN_KINDS" --shard "$1" || return 1
  done
}

# bench_fits STEM NAME ARG...: on the local bench (CORPUS/main1k and extra1k, natives split with
# seed 0, 40 held out), for seeds 0 and 1 one 6DCNN-2 (at most 8 epochs, patience 3) trained and
# scored by benchmarks/local_accuracy.py with ARG... (e.g. --set NAME=VALUE), each writing
# benchmarks/results/local_dev/STEM_seed<S>.json (skipped when it exists); then their join.
bench_fits() {
  local stem=$1 name=$2 seed f out=benchmarks/results/local_dev
  shift 2
  mkdir -p "$out"
  for seed in 0 1; do
    f="$out/${stem}_seed${seed}.json"
    [ -s "$f" ] && continue
    "$PY" benchmarks/local_accuracy.py --corpus "$ROOT/main1k" "$ROOT/extra1k" --split-seed 0 \
        --seed "$seed" --architecture 6dcnn-2 --epochs 8 --patience 3 "$@" --name "$name" \
        --json "$f.part" && mv "$f.part" "$f"
  done
  "$PY" benchmarks/local_accuracy.py --join "$out"/"${stem}"_seed*.json
}
