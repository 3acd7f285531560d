#!/usr/bin/env bash
# Test of the heavy-atom relaxation (estimators.decoys.relax_heavy.HeavyAtomRelaxer) against the
# Amber relaxation of CORPUS/main_s1, with its rule fixed before it ran:
#
#   bash scripts/eval_heavy_relaxation.sh [CORPUS_ROOT] [N_SHARDS]
#
# Sample: shard 1/4 of natives/ and natives_extra/ together (132 natives by name), 10 decoys
# each, seed 1, the kinds of CORPUS/main (MAIN_KINDS), 300 L-BFGS iterations, built by two
# processes (shards 1/8 and 5/8, which make up shard 1/4), nothing else running.
#   A: Amber14 with hydrogens, cut-off 0.8 nm, tolerance 30 kJ/mol/nm (CORPUS/main_s1's settings;
#      the sample's files are CORPUS/main_s1's own, so the recipe's build goes on from them);
#   B: heavy atoms (--relaxation heavy, tolerance 30), in CORPUS/heavy_s1.
# Measured: (1) the build's process time per decoy: the decoys' recorded CPU seconds
# (benchmarks/relaxation_methods.py --builds; fixed before any result, in place of the shards'
# wall times in the logs CORPUS/eval_heavy_<A|B>_<k>.log, because A runs first and fills the
# all-atom cache that B then reads: the recorded seconds leave that cache out); (2) realism (benchmarks/decoy_realism.py, ROC AUC of telling
# each kind from the CASP13 server models, with and without the clash statistic) of the same
# natives' decoys; (3) on the same unrelaxed decoys of 6 natives of the sample, both relaxations
# side by side (benchmarks/relaxation_methods.py): CPU time, labels, heavy-atom RMSD, clashes.
#
# Rule: the heavy-atom relaxation becomes the relaxation of the recipe's future corpora if
#   (a) B's ROC AUC for threaded decoys and for all kinds together, each with and without the
#       clash statistic, is at most A's + 0.03 (B's decoys are not easier to tell from real
#       models),
#   (b) B's build takes at most 1/1.3 of A's process time per decoy, and
#   (c) on the paired relaxations the mean |difference| of the global lDDT labels is <= 0.01.
# Otherwise it stays an option (--relaxation heavy). The shipped model and the leave-one-target-out
# folds keep the corpora they were trained on either way.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_corpus_args.sh "$@"
NATIVES="$DATA/natives $DATA/natives_extra"
build() {   # build NAME FOLDER ARGS...: the sample with 2 processes, logs CORPUS/eval_heavy_NAME_k.log
  local name=$1 folder=$2 k
  shift 2
  for k in 1 5; do
    "$PY" -m estimators.decoys.corpus $NATIVES --out "$ROOT/$folder" --n-per-native 10 --seed 1 \
        --relax-iterations 300 --kinds "$MAIN_KINDS" --shard "$k/8" "$@" \
        > "$ROOT/eval_heavy_${name}_$k.log" 2>&1 &
  done
  wait
  tail -n 1 "$ROOT"/eval_heavy_"${name}"_*.log
}
build A main_s1 --relaxation amber --relax-cutoff-nm 0.8 --relax-tolerance 30
build B heavy_s1 --relaxation heavy
# the sample's files of CORPUS/main_s1, alone in a folder
mkdir -p "$ROOT/heavy_s1_amber"
for f in "$ROOT"/heavy_s1/*.npz; do
  ln -sf "$(realpath "$ROOT/main_s1/$(basename "$f")")" "$ROOT/heavy_s1_amber/"
done
for folder in heavy_s1_amber heavy_s1; do
  "$PY" benchmarks/decoy_realism.py --corpus "$ROOT/$folder" --drop clashes_per_100 --no-append \
      > "$ROOT/eval_heavy_realism_$folder.txt"
  cat "$ROOT/eval_heavy_realism_$folder.txt"
done
"$PY" benchmarks/relaxation_methods.py --sample "$ROOT/heavy_s1_amber" --n-natives 6 \
    --json benchmarks/results/relaxation_methods.json
"$PY" benchmarks/relaxation_methods.py --builds "$ROOT/heavy_s1_amber" "$ROOT/heavy_s1" \
    --json benchmarks/results/relaxation_builds.json
