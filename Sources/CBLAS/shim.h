// OpenBLAS's CBLAS interface (which also declares openblas_set_num_threads and
// openblas_get_corename) plus LAPACKE. Debian builds OpenBLAS without LAPACKE, so the
// LAPACKE_* symbols come from liblapacke (linked in module.modulemap).
#include <cblas.h>
#include <lapacke.h>
