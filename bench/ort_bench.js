#!/usr/bin/env node
// ort_bench.js — times ONNX Runtime (npm onnxruntime-node, CPU EP) on one ONNX
// model, the way `kiln bench` times Kiln: warm-up, then a timed loop of
// session.run calls until both --iterations and --seconds are reached, one
// wall-clock latency per run (process.hrtime). Prints one machine-readable line
//   RESULT engine=ort batch=B iters=N min_ms=.. median_ms=.. p90_ms=.. mean_ms=.. images_per_s=..
// that bench/peers.sh parses. Percentiles are nearest-rank, as in kiln bench.
//
//   node bench/ort_bench.js model.onnx input.bin NxCxHxW [--threads=2] [--seconds=3]
//        [--iterations=10] [--warmup_ms=200] [--opt=all] [--engine=ort] [--save=out.bin]
//
// --save writes the first output of one untimed run (raw float32) for checking.
// Non-goals: several inputs, non-float inputs, GPU execution providers.
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    return require(path.join(__dirname, '..', 'tests', 'ort', 'node_modules', 'onnxruntime-node'));
  }
}

function parseArgs(argv) {
  const pos = [], opt = {threads: 2, seconds: 3, iterations: 10, warmup_ms: 200, opt: 'all',
                         engine: 'ort', save: ''};
  for (const a of argv) {
    const m = /^--([a-z_]+)=(.*)$/.exec(a);
    if (!m) { pos.push(a); continue; }
    if (!(m[1] in opt)) throw new Error(`unknown flag --${m[1]}`);
    opt[m[1]] = typeof opt[m[1]] === 'number' ? Number(m[2]) : m[2];
    if (typeof opt[m[1]] === 'number' && !(opt[m[1]] >= 0)) throw new Error(`bad value in ${a}`);
  }
  if (pos.length !== 3) {
    throw new Error('usage: node bench/ort_bench.js model.onnx input.bin NxCxHxW [--threads=2] ' +
                    '[--seconds=3] [--iterations=10] [--warmup_ms=200] [--opt=all] [--save=F]');
  }
  return {model: pos[0], input: pos[1], shape: pos[2], opt};
}

// Nearest-rank percentile of the sorted array v (same rule as kiln bench).
function pct(v, p) {
  let k = Math.ceil((p / 100) * v.length);
  k = Math.min(Math.max(k, 1), v.length);
  return v[k - 1];
}

async function main() {
  const {model, input, shape, opt} = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const dims = shape.split('x').map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`bad shape '${shape}'`);
  const n = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(input);
  if (buf.length !== n * 4) throw new Error(`${input}: ${buf.length} bytes, shape ${shape} needs ${n * 4}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(4 * i);

  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opt.opt,
  });
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, dims)};
  const outName = session.outputNames[0];

  // one untimed run: the output to check, and the first warm-up
  const first = await session.run(feeds, [outName]);
  if (opt.save) {
    const o = first[outName];
    const ob = Buffer.alloc(o.data.length * 4);
    for (let i = 0; i < o.data.length; i++) ob.writeFloatLE(o.data[i], 4 * i);
    fs.writeFileSync(opt.save, ob);
  }
  const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
  const w0 = nowMs();
  while (nowMs() - w0 < opt.warmup_ms) await session.run(feeds, [outName]);

  const lat = [];
  const b0 = nowMs();
  while (lat.length < opt.iterations || nowMs() - b0 < 1e3 * opt.seconds) {
    const t = nowMs();
    await session.run(feeds, [outName]);
    lat.push(nowMs() - t);
  }
  const wall = nowMs() - b0;
  lat.sort((a, b) => a - b);
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  const f = (x) => x.toFixed(4);
  console.log(`RESULT engine=${opt.engine} batch=${dims[0]} iters=${lat.length} min_ms=${f(lat[0])} ` +
              `median_ms=${f(pct(lat, 50))} p90_ms=${f(pct(lat, 90))} mean_ms=${f(mean)} ` +
              `images_per_s=${(lat.length * dims[0] / (wall / 1e3)).toFixed(2)}`);
}

main().catch((e) => {
  console.error(`ort_bench.js: ${e.message || e}`);
  process.exit(1);
});
