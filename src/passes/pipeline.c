/*
 * pipeline.c — the fixed pass order the engine runs:
 *   canonicalize -> fold batch_norm -> fuse bias -> canonicalize again (a scale
 *   that followed a bias add now follows the conv/gemm) -> fuse residual ->
 *   fuse activation, then verify.
 * Residual before activation: conv + add + relu becomes one conv with R and relu.
 */
#include <string.h>

#include "core/log.h"
#include "passes/passes.h"

kiln_status kiln_passes_run(kiln_graph *g, const kiln_logger *logger, kiln_pass_stats *st) {
    kiln_pass_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    int before = (int)g->n_nodes;
    KILN_TRY(kiln_pass_canonicalize(g, st));
    KILN_TRY(kiln_pass_fold_batch_norm(g, st));
    KILN_TRY(kiln_pass_fuse_bias(g, st));
    KILN_TRY(kiln_pass_canonicalize(g, st));
    KILN_TRY(kiln_pass_fuse_residual(g, st));
    KILN_TRY(kiln_pass_fuse_activation(g, st));
    KILN_TRY(kiln_graph_verify(g));
    kiln_log(logger, KILN_LOG_INFO,
             "passes: %d -> %d nodes (identities %d, scales %d, batch_norms %d, biases %d, "
             "residuals %d, activations %d)",
             before, (int)g->n_nodes, st->identities_removed, st->scales_folded,
             st->batch_norms_folded, st->biases_fused, st->residuals_fused, st->activations_fused);
    return KILN_OK;
}
