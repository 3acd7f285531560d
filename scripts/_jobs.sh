# Sourced by the scripts that run JOBS jobs side by side (default 1): with JOBS > 1 each job
# gets one thread, so that the jobs do not compete for the cores (the results do not depend on
# the number of threads).
JOBS=${JOBS:-1}
if [ "$JOBS" -gt 1 ]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
fi
