#!/usr/bin/env node
// ort_ops.js — which kernels ONNX Runtime picks for a model: creates a session
// (CPU EP, graph optimization `all`), saves the optimized graph and prints one
// line of JSON: {"QLinearConv": n, "Conv": n, ...} for the op types asked for
// (default: the Q/DQ-relevant ones). Used to check that a Q/DQ export runs its
// convs as int8 (QLinearConv) rather than float (Conv / FusedConv).
//
//   node ort_ops.js model.onnx [OpType,OpType,...]
//
// Counting: NodeProto.op_type (field 4, wire bytes 0x22 <len> <name>) in the
// saved protobuf; a tensor or node name equal to an op type followed by the
// same length byte could be miscounted (Kiln's names never are).
// Non-goals: a full ONNX parser.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [model, list] = process.argv.slice(2);
  if (!model) {
    console.error('usage: node ort_ops.js model.onnx [OpType,...]');
    process.exit(2);
  }
  const ops = (list || 'QLinearConv,Conv,FusedConv,QLinearAdd,Add,QGemm,Gemm,' +
               'QLinearGlobalAveragePool,GlobalAveragePool,QuantizeLinear,DequantizeLinear')
    .split(',');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_ops_'));
  const opt = path.join(dir, 'optimized.onnx');
  try {
    await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      optimizedModelFilePath: opt,
    });
    const b = fs.readFileSync(opt);
    const counts = {};
    for (const op of ops) {
      const pat = Buffer.concat([Buffer.from([0x22, op.length]), Buffer.from(op, 'latin1')]);
      let n = 0;
      for (let i = b.indexOf(pat); i >= 0; i = b.indexOf(pat, i + 1)) n++;
      counts[op] = n;
    }
    console.log(JSON.stringify(counts));
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

main().catch((e) => {
  console.error(`ort_ops.js: ${e.message || e}`);
  process.exit(1);
});
