/*
 * cpu_profile.h — per-node timing of the cpu backend for `kiln bench
 * --dumpProfile` (also reachable as kiln_backend_cpu.profile).
 *
 * Non-goals: hardware counters; timing of individual oneDNN kernels inside a
 * node (ONEDNN_VERBOSE=profile_exec does that).
 */
#ifndef KILN_BACKEND_CPU_PROFILE_H
#define KILN_BACKEND_CPU_PROFILE_H

#include <stdint.h>

#include "kiln.h"

/* Runs exec (a kiln_backend_cpu executable) once for `batch`, timing each
 * step; ms_per_node (g->n_nodes entries, zeroed here) gets each node's
 * milliseconds, reorders included in the node that needed them. */
kiln_status kiln_cpu_profile(void *exec, int64_t batch, double *ms_per_node);

#endif
