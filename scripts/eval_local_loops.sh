#!/usr/bin/env bash
# Wrong loops and termini on a native core (decoy kind "loops", estimators.decoys.kinds): do
# training decoys whose errors lie in the loops and termini only teach a network to order the
# residues of realistic template-based decoys better?  Every setting and the decision rule are
# fixed here, before any result:
#
#   bash scripts/eval_local_loops.sh [CORPUS_ROOT] [N_SHARDS]
#
# 1. Corpora: CORPUS/main1k and CORPUS/extra1k of scripts/eval_local_dev.sh (built or resumed
#    here with its settings), and for the same 200 natives, 3 more decoys per native each:
#      CORPUS/loops_main1k, loops_extra1k   kind loops only, seed 1;
#      CORPUS/mix_main1k, mix_extra1k       the bench's mixture of kinds, seed 1 (the control:
#                                           as many more training decoys, of the usual kinds).
# 2. The 200 natives split as in scripts/eval_local_dev.sh (split seed 0; 40 held out).  For
#    each configuration and seeds 0 and 1, one 6DCNN-2 (at most 8 epochs, patience 3, the
#    estimator's defaults otherwise) trained on the 1,600 decoys of the 160 training natives in
#    main1k/extra1k plus their 480 decoys of the configuration's folders (--train-corpus; the
#    held-out natives' decoys of those folders are never read) scores the 400 decoys of the 40
#    held-out natives in main1k/extra1k (raw scores, no smoothing):
#      L  + the loops decoys;
#      M  + the mixture decoys (control).
#
# Decision rule (fixed with this script): the loops kind goes on to the full recipe if L's local
# Spearman on the held-out threaded decoys, mean of the two seeds, exceeds M's by at least 0.03
# and L's held-out per-native Spearman is not lower than M's by more than 0.02; otherwise it
# stays out of the recipe (the kind stays available).  Going on means: a fourth corpus folder,
# CORPUS/loops, 3 loops decoys per native of all 528 natives (seed 2, the relaxation of
# CORPUS/main), added to the training folders of scripts/loto_pretrained.sh, and the
# leave-one-target-out run of seed 0 repeated with it; that run, compared with the committed
# seed-0 folds, decides whether the shipped recipe takes it.
# Reported, deciding nothing: all decoys, each kind, the near-native bin (global lDDT >= 0.85).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_corpus_args.sh "$@"
OUT=benchmarks/results/local_dev
mkdir -p "$OUT"

build_bench_corpora "" 10 0 "$BENCH_KINDS"
build_bench_corpora loops_ 3 1 loops=1
build_bench_corpora mix_ 3 1 "$BENCH_KINDS"

for id in L M; do
  case $id in
    L) prefix=loops_ name="L: + loops decoys" ;;
    M) prefix=mix_ name="M: + mixture decoys (control)" ;;
  esac
  for seed in 0 1; do
    f="$OUT/loops_${id}_seed${seed}.json"
    [ -s "$f" ] && continue
    "$PY" benchmarks/local_accuracy.py --corpus "$ROOT/main1k" "$ROOT/extra1k" \
        --train-corpus "$ROOT/${prefix}main1k" "$ROOT/${prefix}extra1k" --split-seed 0 \
        --seed "$seed" --architecture 6dcnn-2 --epochs 8 --patience 3 --name "$name" \
        --json "$f.part" && mv "$f.part" "$f"
  done
done
"$PY" benchmarks/local_accuracy.py --join "$OUT"/loops_*_seed*.json
