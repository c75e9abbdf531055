/*
 * ref_matmul.c — reference matmul (numpy semantics: 1-D promotion, batch
 * broadcast, trans_a/trans_b on the last two dims, alpha) and gemm
 * (Y = act(alpha*op(A)*op(B) + beta*C), C unidirectionally broadcast to
 * [M,N], act the fused activation).
 * Dot products accumulate in double.
 *
 * Non-goals: blocking, packing.
 */
#include "backend/ref/ref.h"

void kiln_ref_matmul(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *at = &n->attrs;
    const kiln_ref_tensor *A = &in[0], *B = &in[1];
    /* Matrix dims and row/column strides of op(A) [M,K] and op(B) [K,N]. */
    int64_t M, K, N, a_rs, a_cs, b_rs, b_cs;
    if (A->rank == 1) {
        M = 1, K = A->d[0], a_rs = 0, a_cs = 1;
    } else {
        int64_t r = A->d[A->rank - 2], c = A->d[A->rank - 1];
        if (at->trans_a)
            M = c, K = r, a_rs = 1, a_cs = c;
        else
            M = r, K = c, a_rs = c, a_cs = 1;
    }
    if (B->rank == 1) {
        N = 1, b_rs = 1, b_cs = 0;
    } else {
        int64_t r = B->d[B->rank - 2], c = B->d[B->rank - 1];
        if (at->trans_b)
            N = r, b_rs = 1, b_cs = c;
        else
            N = c, b_rs = c, b_cs = 1;
    }
    /* Batch dims: everything but the matrix dims. */
    int32_t ra = A->rank > 2 ? A->rank - 2 : 0, rb = B->rank > 2 ? B->rank - 2 : 0;
    int32_t rbatch = ra > rb ? ra : rb;
    int64_t bdims[KILN_MAX_RANK], nb = 1;
    for (int32_t i = 0; i < rbatch; i++) {
        int32_t ia = i - (rbatch - ra), ib = i - (rbatch - rb);
        int64_t da = ia >= 0 ? A->d[ia] : 1, db = ib >= 0 ? B->d[ib] : 1;
        bdims[i] = da == 1 ? db : da;
        nb *= bdims[i];
    }
    int64_t c[KILN_MAX_RANK];
    for (int64_t bi = 0; bi < nb; bi++) {
        kiln_ref_coords(bi, rbatch, bdims, c);
        const float *ap =
            A->p + kiln_ref_bcast_offset(ra, A->d, rbatch, c) * (A->rank == 1 ? K : M * K);
        const float *bp =
            B->p + kiln_ref_bcast_offset(rb, B->d, rbatch, c) * (B->rank == 1 ? K : K * N);
        float *yp = out->p + bi * M * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)ap[i * a_rs + k * a_cs] * (double)bp[k * b_rs + j * b_cs];
                yp[i * N + j] = (float)(at->alpha * acc);
            }
    }
}

void kiln_ref_gemm(const kiln_node *n, const kiln_ref_tensor *in, kiln_ref_tensor *out) {
    const kiln_attrs *at = &n->attrs;
    const kiln_ref_tensor *A = &in[0], *B = &in[1], *C = &in[2];
    int64_t M = out->d[0], N = out->d[1];
    int64_t K = at->trans_a ? A->d[0] : A->d[1];
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++) {
                double av = at->trans_a ? A->p[k * M + i] : A->p[i * K + k];
                double bv = at->trans_b ? B->p[j * K + k] : B->p[k * N + j];
                acc += av * bv;
            }
            double y = at->alpha * acc;
            if (C->p) {
                int64_t oc[2] = {i, j};
                y += at->beta * (double)C->p[kiln_ref_bcast_offset(C->rank, C->d, 2, oc)];
            }
            out->p[i * N + j] = (float)kiln_ref_act(at, y);
        }
}
