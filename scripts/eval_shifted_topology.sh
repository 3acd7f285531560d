#!/usr/bin/env bash
# Does training on wrong-topology decoys (decoy kind `topology`: native secondary structure, loops
# re-walked into another fold, compact) help on real server models?  Builds the corpus pass and
# runs the decoys-only CASP13 evaluation that decides it, with every setting fixed here, before
# any result:
#
#   bash scripts/eval_topology_corpus.sh [CORPUS_ROOT] [N_SHARDS]
#
# 1. CORPUS/topo: 6 decoys per native of shared/data/natives and natives_extra, seed 2, kinds
#    topology 40 %, threaded 40 %, impossible 10 %, misfold 10 %, relaxed as CORPUS/main_s1
#    (300 L-BFGS iterations, cut-off 0.8 nm, tolerance 30 kJ/mol/nm).  Sharded and resumable.
# 2. One 6DCNN-2 (seed 1) trained on decoys only (no CASP13 model) from CORPUS/torsion, main,
#    main_s1 and topo, with the settings of the seed-1 decoys-only run it is compared with
#    (benchmarks/results/qa_casp13_corpus_only_6dcnn2_11k_seed1.json: at most 8 epochs,
#    patience 3, ranking term, cosine schedule, calibration), then all 392 CASP13 models scored.
#
# Decision rule (fixed with this script): the topology corpus joins the shipped recipe if the
# per-target Spearman rises by at least 0.02 over the seed-1 run (0.725) and the per-target
# Pearson (0.734) falls by no more than 0.01; otherwise it stays out.  The realism benchmark
# (benchmarks/decoy_realism.py) is reported beside it but does not decide.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-../corpus}
SHARDS=${2:-2}
PY=${PY:-.venv/bin/python}
DATA=${FOURIER6D_SHARED:-../shared}/data
OUT=benchmarks/results

for k in $(seq 1 "$SHARDS"); do
  "$PY" -m estimators.decoys.corpus "$DATA/natives" "$DATA/natives_extra" --out "$ROOT/topo" \
      --n-per-native 6 --seed 2 --kinds topology=0.4,threaded=0.4,impossible=0.1,misfold=0.1 \
      --relax-iterations 300 --relax-cutoff-nm 0.8 --relax-tolerance 30 --shard "$k/$SHARDS" &
done
wait

"$PY" benchmarks/qa_casp13.py --corpus "$ROOT/torsion" "$ROOT/main" "$ROOT/main_s1" "$ROOT/topo" \
    --corpus-only --architectures 6dcnn-2 --epochs 8 --patience 3 --seed 1 --jobs 1 \
    --figures '' --no-append --name "6DCNN-2 (seed 1, + topology)" \
    --json "$OUT/qa_casp13_corpus_only_6dcnn2_topology_seed1.json" \
    --predictions "$OUT/qa_casp13_corpus_only_6dcnn2_topology_seed1_predictions.npz"
