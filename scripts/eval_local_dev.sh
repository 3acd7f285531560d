#!/usr/bin/env bash
# Per-residue accuracy on decoys of natives held out of training: does a change of the network
# rank the residues of realistic (threaded) decoys better?  A decoy-side test bench (no CASP13
# model is read), with every setting and the decision rule fixed here, before any result:
#
#   bash scripts/eval_local_dev.sh [CORPUS_ROOT] [N_SHARDS]
#
# 1. Two corpora with the settings of CORPUS/main (10 decoys per native, seed 0, 60 % threaded,
#    15 % impossible, relaxed with 300 L-BFGS iterations): CORPUS/main1k, the first 100 natives
#    of shared/data/natives by name, and CORPUS/extra1k, the first 100 of natives_extra (their
#    templates come from the same 100 natives).  2,000 decoys of 200 natives; sharded, resumable.
# 2. The 200 natives split once (split seed 0): 40 held out.  For each configuration and seeds
#    0 and 1, one 6DCNN-2 trained on the decoys of the other 160 natives (at most 8 epochs,
#    patience 3, the estimator's defaults otherwise: those of the shipped recipe) scores the
#    held-out decoys (benchmarks/local_accuracy.py; one JSON per run, existing ones skipped).
#    Configurations:
#      A  the recipe;
#      B  r_n = 15: message-passing edges out to lDDT's inclusion radius (15 A) instead of 12 A;
#      C  within_weight = 1: the within-model loss term (on CASP13 it changed nothing; here it
#         shows whether this bench agrees with that).
#
# Decision rule (fixed with this script): B goes on to the decoys-only CASP13 evaluation on the
# full corpora if its local Spearman on the held-out threaded decoys, mean of the two seeds,
# exceeds A's by at least 0.03 and its held-out per-native Spearman is not lower than A's by more
# than 0.02; otherwise it stays out.  C decides nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_corpus_args.sh "$@"
OUT=benchmarks/results/local_dev
mkdir -p "$OUT"

build_bench_corpora "" 10 0 "$BENCH_KINDS"

run() {  # file id, name, then the --set overrides
  local id=$1 name=$2; shift 2
  for seed in 0 1; do
    local f="$OUT/${id}_seed${seed}.json"
    [ -s "$f" ] && continue
    "$PY" benchmarks/local_accuracy.py --corpus "$ROOT/main1k" "$ROOT/extra1k" --split-seed 0 \
        --seed "$seed" --architecture 6dcnn-2 --epochs 8 --patience 3 --name "$name" "$@" \
        --json "$f.part" && mv "$f.part" "$f"
  done
}
run A "A: recipe"
run B "B: r_n = 15" --set r_n=15
run C "C: within_weight = 1" --set within_weight=1
"$PY" benchmarks/local_accuracy.py --join "$OUT"/*.json
