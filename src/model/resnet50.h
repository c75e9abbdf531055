/*
 * resnet50.h — a complete, seeded ResNet50 as a kiln_graph: the classic
 * Paddle ImageNet layout (v1.5, stride on the 3x3 conv) with the tensor names
 * of the real fixture program (conv1_weights, bn_conv1_scale, res2a_branch2a_weights,
 * bn2a_branch2a_*, ..., fc_0.w_0 [2048,1000], fc_0.b_0), input "image"
 * [-1,3,224,224], output "softmax_0.tmp_0" [-1,1000].
 *
 * Weights are deterministic: every tensor draws from its own splitmix64
 * stream seeded with seed ^ kiln_hash_str(name) (docs/MODELS.md).
 *
 * Non-goals: other architectures, trained weights, data-driven renormalisation.
 */
#ifndef KILN_MODEL_RESNET50_H
#define KILN_MODEL_RESNET50_H

#include <stdint.h>

#include "ir/graph.h"

/* Builds the graph; *out is owned by the caller (kiln_graph_destroy). */
kiln_status kiln_model_generate_resnet50(uint64_t seed, kiln_graph **out);

/* dst[i] = mean + std * N(0,1), drawn in order from the stream seeded with
 * seed ^ kiln_hash_str(name). The one per-tensor random source of src/model. */
void kiln_model_randn(float *dst, int64_t n, uint64_t seed, const char *name, double mean,
                      double std);

#endif
