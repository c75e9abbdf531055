/*
 * dump.h — human-readable text of a graph (`kiln inspect`).
 */
#ifndef KILN_IR_DUMP_H
#define KILN_IR_DUMP_H

#include <stdio.h>

#include "ir/graph.h"

/* Writes the format/version, inputs, outputs, every node with its attributes
 * and tensor shapes, and a parameter summary. */
void kiln_graph_dump(const kiln_graph *g, FILE *f, int show_params);

#endif
