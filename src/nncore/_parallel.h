/* Whether this build of nncore._kernels has OpenMP (Cython's prange runs its
 * loop serially without it, so the kernels are correct either way; the
 * Python layer asks so that it never splits work it cannot run in parallel). */
#ifndef NNCORE_PARALLEL_H
#define NNCORE_PARALLEL_H
#ifdef _OPENMP
#define NN_OPENMP 1
#else
#define NN_OPENMP 0
#endif
#endif
