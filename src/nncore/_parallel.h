/* Whether this build of nncore._kernels has OpenMP (Cython's prange runs its
 * loop serially without it, so the kernels are correct either way; the
 * Python layer asks so that it never splits work it cannot run in parallel). */
#ifndef NNCORE_PARALLEL_H
#define NNCORE_PARALLEL_H
#ifdef _OPENMP
#include <omp.h>
#define NN_OPENMP 1
/* the OpenMP runtime's thread limit: OMP_NUM_THREADS, or a later
 * omp_set_num_threads (threadpoolctl's limits on the "openmp" pools) */
static int nn_omp_max_threads(void) { return omp_get_max_threads(); }
/* the team of the innermost parallel region: its size, and a barrier across it
 * (called from a function inside a Cython parallel() block, not a prange, where
 * a barrier would be nested in a worksharing loop) */
static int nn_team_size(void) { return omp_get_num_threads(); }
static void nn_barrier(void) {
#pragma omp barrier
}
#else
#define NN_OPENMP 0
static int nn_omp_max_threads(void) { return 1; }
static int nn_team_size(void) { return 1; }
static void nn_barrier(void) {}
#endif
#endif
