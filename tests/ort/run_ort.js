#!/usr/bin/env node
// run_ort.js — ONNX Runtime (CPU EP, one thread) as a reference runner for Kiln.
//
//   node run_ort.js model.onnx input.bin NxCxHxW out.bin [output_name]
//
// Feeds input.bin (raw little-endian float32, N*C*H*W values) to the model's
// first input, writes the first output (or `output_name`) as raw float32 to
// out.bin and prints its shape ("output <name> [1,1000]"). Exit 1 on error.
// Non-goals: several inputs, non-float tensors, GPU.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inPath, shapeArg, outPath, outName] = process.argv.slice(2);
  if (!model || !inPath || !shapeArg || !outPath) {
    console.error('usage: node run_ort.js model.onnx input.bin NxCxHxW out.bin [output_name]');
    process.exit(2);
  }
  const dims = shapeArg.split('x').map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 0) throw new Error(`bad shape '${shapeArg}'`);
    return v;
  });
  const n = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inPath);
  if (buf.length !== n * 4) {
    throw new Error(`${inPath}: ${buf.length} bytes, shape ${shapeArg} needs ${n * 4}`);
  }
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(4 * i);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
  const name = outName || session.outputNames[0];
  if (!session.outputNames.includes(name)) {
    throw new Error(`no graph output '${name}' (outputs: ${session.outputNames.join(', ')})`);
  }
  const results = await session.run(feeds, [name]);
  const out = results[name];
  if (out.type !== 'float32') throw new Error(`output ${name} is ${out.type}, not float32`);
  const ob = Buffer.alloc(out.data.length * 4);
  for (let i = 0; i < out.data.length; i++) ob.writeFloatLE(out.data[i], 4 * i);
  fs.writeFileSync(outPath, ob);
  console.log(`output ${name} [${out.dims.join(',')}]`);
}

main().catch((e) => {
  console.error(`run_ort.js: ${e.message || e}`);
  process.exit(1);
});
