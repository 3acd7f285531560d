#!/usr/bin/env bash
# Leave-one-target-out evaluation of the shipped recipe (scripts/train_pretrained.sh, step 4) on
# the four CASP13 targets: for each target, a network trained with the recipe's settings on the
# other three targets' server models and the decoy corpora predicts the held-out target.
#
#   bash scripts/loto_pretrained.sh [CORPUS_ROOT] [OUT_DIR] [SEED ...]
#
# One job per (seed, fold), each writing OUT_DIR/loto_seed<S>_<target>.npz; a job whose file
# exists is skipped, so an interrupted evaluation goes on where it stopped (and the jobs can be
# spread over machines or processes: TARGETS="T0967 T0974s1" runs only those folds, JOBS=2 two
# folds at a time on this machine, one thread each); within a
# fold, the training state is saved after every epoch in CORPUS_ROOT/checkpoints, so a fold
# stopped midway goes on from its last epoch, with the result of an uninterrupted run.  The last
# step joins the files of all four folds, once they all exist, and prints the table (VoroMQA and
# ResNetQA beside), with the mean over the seeds when there are several, into OUT_DIR/loto.json
# for one seed and OUT_DIR/loto_seeds<S1>-<S2>....json for several (e.g. loto_seeds0-1.json).  Settings are those of
# the recipe, fixed before any fold is run.  The fold files hold the networks' raw per-residue
# scores (--local-smoothing 0); the join adds the rows smoothed along the chain as the estimator
# does by default (--smooth-local, estimators.smoothing).
#
# REFINE=1 trains the networks with local_refinement=True (estimators.local_refinement): the
# fold files, named loto_refine_seed<S>_<target>.npz, then hold each network's scores without
# and with its refinement ("6DCNN-2 (seed S)" and "6DCNN-2 (seed S), refined"), joined in
# loto_refine.json.  GLOBAL_REFINE=1 with it adds global_refinement=True
# (estimators.global_refinement; the same row of refined scores holds both).
#
# CORPORA=heavy trains on CORPUS_ROOT/torsion, heavy_s0 and heavy_s1 (scripts/_corpus_args.sh,
# build_heavy_corpora: the recipe's 11,392 decoys relaxed on heavy atoms, an hour to build on two
# cores instead of the Amber corpora's two) instead of torsion, main and main_s1; the files are
# then named loto[_refine]_heavy_seed<S>_<target>.npz and joined in loto[_refine]_heavy[_seeds...].json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-../corpus}
OUT=${2:-benchmarks/results/loto}
shift $(( $# > 2 ? 2 : $# )) || true
SEEDS=${*:-0}
PY=${PY:-.venv/bin/python}
STEM=loto
REFINE_ARGS=()
if [ "${REFINE:-0}" = 1 ]; then
  STEM=loto_refine
  REFINE_ARGS=(--local-refinement)
  if [ "${GLOBAL_REFINE:-0}" = 1 ]; then REFINE_ARGS+=(--global-refinement); fi
fi
case "${CORPORA:-amber}" in
  amber) CORPORA="$ROOT/torsion $ROOT/main $ROOT/main_s1" ;;
  heavy) CORPORA="$ROOT/torsion $ROOT/heavy_s0 $ROOT/heavy_s1"; STEM=${STEM}_heavy ;;
  *) echo "CORPORA must be amber or heavy, not '$CORPORA'" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
run_fold() {
  local seed=$1 target=$2 f="$OUT/${STEM}_seed$1_$2.npz"
  "$PY" benchmarks/qa_casp13.py --architectures 6dcnn-2 --epochs 8 --patience 3 \
      --seed "$seed" --name "6DCNN-2 (seed $seed)" --corpus $CORPORA --folds "$target" \
      --local-smoothing 0 "${REFINE_ARGS[@]}" --checkpoint-dir "$ROOT/checkpoints" \
      --jobs 1 --figures '' --no-append \
      --predictions "$f.part.npz" --json "$OUT/${STEM}_seed${seed}_${target}.json" &&
  mv "$f.part.npz" "$f"
}
source scripts/_jobs.sh
for seed in $SEEDS; do
  for target in ${TARGETS:-T0953s1 T0967 T0974s1 T1006}; do
    [ -s "$OUT/${STEM}_seed${seed}_${target}.npz" ] && continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    run_fold "$seed" "$target" &
  done
done
wait
failed=()
for seed in $SEEDS; do
  for target in ${TARGETS:-T0953s1 T0967 T0974s1 T1006}; do
    [ -s "$OUT/${STEM}_seed${seed}_${target}.npz" ] || failed+=("seed $seed $target")
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "folds that did not finish (see their errors above): ${failed[*]}" >&2
  exit 1
fi
files=()
for seed in $SEEDS; do
  for target in T0953s1 T0967 T0974s1 T1006; do
    f="$OUT/${STEM}_seed${seed}_${target}.npz"
    if [ ! -s "$f" ]; then echo "not joined yet: $f is missing"; exit 0; fi
    files+=("$f")
  done
done
joined=""
if [ "$(echo $SEEDS | wc -w)" -gt 1 ]; then joined=_seeds$(echo $SEEDS | tr ' ' '-'); fi
means=()
for suffix in "" ${REFINE_ARGS[@]:+", refined"}; do
  names=()
  for seed in $SEEDS; do names+=("6DCNN-2 (seed $seed)$suffix"); done
  means+=(--mean-of "${names[@]}")
done
sigma=$("$PY" -c "from estimators import SixDQAEstimator; print(SixDQAEstimator().local_smoothing)")
smooth=()
if [ "$sigma" != "0.0" ]; then smooth=(--smooth-local "$sigma"); fi
"$PY" benchmarks/qa_casp13.py --architectures --include "${files[@]}" "${means[@]}" \
    "${smooth[@]}" --figures '' --no-append --json "$OUT/$STEM$joined.json"
