#!/usr/bin/env node
// compare.js — compares two raw float32 files: ||a - b|| / ||b||, max |a - b|,
// cosine. Exit 0 if the relative error is <= tol (and, with --min_cos=C, the
// cosine is >= C), 1 otherwise, 2 on bad input.
//
//   node compare.js a.bin b.bin tol [label] [--min_cos=C]
'use strict';
const fs = require('fs');

function load(p) {
  const b = fs.readFileSync(p);
  if (b.length % 4) throw new Error(`${p}: ${b.length} bytes is not a whole number of float32`);
  const a = new Float64Array(b.length / 4);
  for (let i = 0; i < a.length; i++) a[i] = b.readFloatLE(4 * i);
  return a;
}

try {
  const args = process.argv.slice(2);
  let minCos = null;
  const pos = args.filter((x) => {
    const m = /^--min_cos=(.*)$/.exec(x);
    if (!m) return true;
    minCos = Number(m[1]);
    if (m[1] === '' || !Number.isFinite(minCos)) throw new Error(`bad value in ${x}`);
    return false;
  });
  const [pa, pb, tolArg, label] = pos;
  if (!pa || !pb || !tolArg) {
    throw new Error('usage: node compare.js a.bin b.bin tol [label] [--min_cos=C]');
  }
  const a = load(pa), b = load(pb), tol = Number(tolArg);
  if (tolArg === '' || !Number.isFinite(tol)) throw new Error(`bad tolerance '${tolArg}'`);
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length} values`);
  let num = 0, den = 0, dot = 0, na = 0, maxAbs = 0, nonzero = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d; den += b[i] * b[i]; dot += a[i] * b[i]; na += a[i] * a[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
    if (b[i] !== 0) nonzero++;
  }
  if (nonzero === 0) throw new Error('reference is all zero: refusing to compare');
  const rel = Math.sqrt(num / den), cos = dot / Math.sqrt(na * den);
  const ok = rel <= tol && (minCos === null || cos >= minCos);
  console.log(`${label || 'compare'}: ${a.length} values, rel err ${rel.toExponential(3)} ` +
              `(tol ${tol}), max abs ${maxAbs.toExponential(3)}, cosine ${cos.toFixed(9)}` +
              `${minCos === null ? '' : ` (min ${minCos})`} ${ok ? 'OK' : 'FAIL'}`);
  process.exit(ok ? 0 : 1);
} catch (e) {
  console.error(`compare.js: ${e.message}`);
  process.exit(2);
}
