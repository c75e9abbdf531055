/*
 * load.h — the loaders: model files in, IR graph out.
 *
 * Every loader validates every length and offset it reads and fails with a
 * message naming the file, the byte offset (or variable/op) and what was
 * expected. Weights are mmap'ed where the layout allows.
 */
#ifndef KILN_LOAD_H
#define KILN_LOAD_H

#include "ir/graph.h"

/* Format from the first bytes of a model file (ONNX ModelProto starts with
 * ir_version, field 1 varint; a Paddle ProgramDesc with blocks, field 1 LEN). */
kiln_model_format kiln_detect_format(const uint8_t *data, size_t size);

/* Paddle: `program_path` is the ProgramDesc; `params_path` the combined
 * params file, or NULL for one file per persistable variable in the
 * program's directory. */
kiln_status kiln_load_paddle(const char *program_path, const char *params_path,
                             const kiln_logger *logger, kiln_graph **out);

/* ONNX ModelProto. */
kiln_status kiln_load_onnx(const char *path, const kiln_logger *logger, kiln_graph **out);

/* Resolves the load options (file/params/dir/positional) to a graph. */
kiln_status kiln_load(const kiln_load_options *opts, kiln_graph **out);

#endif
