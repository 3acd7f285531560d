#!/usr/bin/env bash
# Does training on the two decoy kinds that look most like real models help on real server
# models?  `shifted` (every helix and strand displaced rigidly: the fold right, every element a
# little off, as on a close template) and `topology` (native secondary structure, loops re-walked
# into another compact fold: the wrong fold).  Builds the corpus pass and runs the decoys-only
# CASP13 evaluation that decides it, with every setting fixed here, before any result:
#
#   bash scripts/eval_shifted_topology.sh [CORPUS_ROOT] [N_SHARDS]
#
# 1. CORPUS/shifted_topology: 6 decoys per native of shared/data/natives and natives_extra,
#    seed 2, kinds shifted 50 %, topology 50 %, relaxed as CORPUS/main_s1 (300 L-BFGS
#    iterations, cut-off 0.8 nm, tolerance 30 kJ/mol/nm).  Sharded and resumable.
# 2. One 6DCNN-2 (seed 1) trained on decoys only (no CASP13 model) from CORPUS/torsion, main,
#    main_s1 and shifted_topology, with the settings of the seed-1 decoys-only run it is
#    compared with (benchmarks/results/qa_casp13_corpus_only_6dcnn2_11k_seed1.json: at most 8 epochs,
#    patience 3, ranking term, cosine schedule, calibration), then all 392 CASP13 models scored.
#
# Decision rule (fixed with this script): the new pass joins the shipped recipe if the
# per-target Spearman rises by at least 0.02 over the seed-1 run (0.725) and the per-target
# Pearson (0.734) falls by no more than 0.01; otherwise it stays out.  The realism benchmark
# (benchmarks/decoy_realism.py) is reported beside it but does not decide.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_corpus_args.sh "$@"
OUT=benchmarks/results

for k in $(seq 1 "$SHARDS"); do
  "$PY" -m estimators.decoys.corpus "$DATA/natives" "$DATA/natives_extra" --out "$ROOT/shifted_topology" \
      --n-per-native 6 --seed 2 --kinds shifted=0.5,topology=0.5 \
      --relaxation amber --relax-iterations 300 --relax-cutoff-nm 0.8 --relax-tolerance 30 \
      --shard "$k/$SHARDS" &
done
wait

"$PY" benchmarks/qa_casp13.py --corpus "$ROOT/torsion" "$ROOT/main" "$ROOT/main_s1" "$ROOT/shifted_topology" \
    --corpus-only --architectures 6dcnn-2 --epochs 8 --patience 3 --seed 1 --jobs 1 \
    --figures '' --no-append --name "6DCNN-2 (seed 1, + shifted and topology)" \
    --json "$OUT/qa_casp13_corpus_only_6dcnn2_shifted_topology_seed1.json" \
    --predictions "$OUT/qa_casp13_corpus_only_6dcnn2_shifted_topology_seed1_predictions.npz"
