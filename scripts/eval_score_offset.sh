#!/usr/bin/env bash
# Calibration of the level of the shipped model's scores on server models
# (estimators.score_offset, SeedEnsembleQAEstimator(score_offset=...)).  Under
# leave-one-target-out every CASP13 target's global scores of the mean of the two shipped
# networks lie above the true lDDT (benchmarks/results/loto/loto_refine_heavy_seeds0-1.json:
# +0.06, +0.08, +0.14 and +0.08 for T0953s1, T0967, T0974s1, T1006; those four numbers were
# known when this was written, so the rule below fixes the form of the correction - one
# constant, each target weighted once, fitted only on targets other than the one it is
# applied to - before the correction itself is computed, not the size of its effect).
# Every setting and the decision rule are fixed here:
#
#   bash scripts/eval_score_offset.sh            # SEEDS="0 1 2": the fold files of those seeds
#
# (no corpus is read: only the committed fold files and the CASP13 labels)
#
# 1. The committed leave-one-target-out predictions of seeds 0 and 1 (the eight fold files of
#    loto_refine_heavy_seed<S>_<target>.npz; raw per-residue scores, as the shipped model gives
#    them), their mean, and for each row its scores shifted for each target by the offset
#    fitted on the other three targets' models (qa_casp13.py --offset-across-targets), into
#    benchmarks/results/loto/loto_offset_heavy_seeds0-1.json.
#
# Decision rule (fixed with this script): the shipped model carries the offset fitted on all
# four targets' leave-one-target-out predictions of the mean of its networks ("all_targets" of
# that row in the json's "score_offsets") if, in the row "mean of ..., offset on the other
# targets", every target's |bias| (mean predicted minus mean true global lDDT) is at most 0.10
# and the mean of the four |bias| is lower than without the offset; otherwise it carries none.
# If the shipped model becomes the mean of three networks (scripts/eval_third_seed.sh), this is
# rerun with SEEDS="0 1 2" on the three-seed fold files and the same rule decides the offset of
# the three-network model.
# Reported, deciding nothing: the correlations (unchanged up to the clip to [0, 1]), the local
# Spearman (each model's residues keep their order up to the clip), the bias by quality bin.
#
# 2. When the rule is met: the offset is written into estimators/data/pretrained.npz (the
#    networks and their settings unchanged; fourier6d combine --score-offset does the same when
#    the model file is built from the separate networks of scripts/train_pretrained.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEEDS=${SEEDS:-0 1}
OUT=benchmarks/results/loto
files=()
names=()
for seed in $SEEDS; do
  names+=("6DCNN-2 (seed $seed)")
  for target in T0953s1 T0967 T0974s1 T1006; do
    files+=("$OUT/loto_refine_heavy_seed${seed}_${target}.npz")
  done
done
JSON="$OUT/loto_offset_heavy_seeds$(echo $SEEDS | tr ' ' '-').json"
"$PY" benchmarks/qa_casp13.py --architectures --include "${files[@]}" --mean-of "${names[@]}" \
    --offset-across-targets --figures '' --no-append --json "$JSON"
ROW="mean of $(printf '%s + ' "${names[@]}" | sed 's/ + $//')"
"$PY" - "$JSON" "$ROW" <<'PYEOF'
import json
import sys

import numpy as np

from estimators.ensemble import SeedEnsembleQAEstimator
from estimators.pretrained import pretrained_path

path, row = sys.argv[1], sys.argv[2]
result = json.load(open(path))
raw = result["per_target"][row]
shifted = result["per_target"][row + ", offset on the other targets"]
bias_raw = np.abs([v["mean_pred_minus_true"] for v in raw.values()])
bias_off = np.abs([v["mean_pred_minus_true"] for v in shifted.values()])
offset = result["score_offsets"][row]["all_targets"]
met = bool(np.all(bias_off <= 0.10) and bias_off.mean() < bias_raw.mean())
print(f"|bias| per target without the offset {np.round(bias_raw, 3).tolist()} (mean "
      f"{bias_raw.mean():.3f}), with the offset fitted on the other targets "
      f"{np.round(bias_off, 3).tolist()} (mean {bias_off.mean():.3f}); rule met: {met}")
if met:
    model = SeedEnsembleQAEstimator.load(pretrained_path())
    if len(model.estimators_) != len(row.split(" + ")):
        sys.exit(f"the shipped model has {len(model.estimators_)} networks, the row {row!r} "
                 "another number: not written")
    model.set_params(score_offset=round(offset, 4)).save(pretrained_path())
    print(f"wrote score_offset {round(offset, 4):+.4f} into {pretrained_path()}")
PYEOF
