#!/usr/bin/env node
// make_input.js — writes a deterministic float32 input: N values of a seeded
// linear congruential sequence mapped to [lo, hi). Never all zero.
//
//   node make_input.js out.bin N seed [lo hi]
'use strict';
const fs = require('fs');
const [out, nArg, seedArg, loArg, hiArg] = process.argv.slice(2);
const n = Number(nArg), lo = loArg === undefined ? -1 : Number(loArg);
const hi = hiArg === undefined ? 1 : Number(hiArg);
let s = BigInt(Number(seedArg) >>> 0) || 1n;
const b = Buffer.alloc(n * 4);
for (let i = 0; i < n; i++) {
  s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  const u = Number(s >> 40n) / 16777216; // 24 bits -> [0,1)
  b.writeFloatLE(lo + (hi - lo) * u, 4 * i);
}
fs.writeFileSync(out, b);
