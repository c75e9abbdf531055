#!/usr/bin/env bash
# test_ort_compare.sh — ONNX Runtime as the oracle for Kiln's outputs.
#
# The real Paddle ResNet50 and MobileNetV1 (missing tensors filled by
# `kiln model fill`, seed 1) are exported to ONNX by Kiln; ONNX Runtime
# (npm onnxruntime-node 1.30.0, pinned in tests/ort) runs the export and Kiln
# runs the Paddle model, on the same seeded input. Pass: ||kiln - ort|| / ||ort||
# <= 1e-5. Also: the combined, per-file and exported-ONNX forms of ResNet50
# give the same outputs in Kiln (combined vs per-file: bit-exact; ONNX: <= 1e-6).
# Without ../shared/fixtures a generated ResNet50 is used instead.
set -euo pipefail
KILN=${KILN_BIN:?}/kiln
FIX=${KILN_FIXTURES:-../shared/fixtures}
ORT=${KILN_SRC:?}/tests/ort
if [ ! -d "$ORT/node_modules/onnxruntime-node" ]; then
  echo "FAIL: $ORT/node_modules/onnxruntime-node missing: run scripts/install-deps.sh"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BACKEND=${KILN_TEST_BACKEND:-ref}
fails=0

check() { # a b tol label
  if ! node "$ORT/compare.js" "$1" "$2" "$3" "$4"; then fails=$((fails + 1)); fi
}

one_model() { # name fixture_dir
  local name=$1 src=$2 dir=$tmp/$1
  if [ -n "$src" ]; then
    "$KILN" model fill "$src" --output_dir="$dir" --seed=1 >"$tmp/$name.fill.log"
  else
    "$KILN" model generate --arch=resnet50 --output_dir="$dir" --seed=1 >"$tmp/$name.fill.log"
  fi
  "$KILN" model export-onnx "$dir" --output="$tmp/$name.onnx"
  node "$ORT/make_input.js" "$tmp/$name.in.bin" $((3 * 224 * 224)) 7 -2 2
  "$KILN" run "$dir" --input="$tmp/$name.in.bin" --shape=1x3x224x224 --backend="$BACKEND" \
    --print=0 --save_outputs="$tmp/$name.kiln" >/dev/null
  local out
  out=$(ls "$tmp/$name.kiln"/*.bin | head -1)
  node "$ORT/run_ort.js" "$tmp/$name.onnx" "$tmp/$name.in.bin" 1x3x224x224 "$tmp/$name.ort.bin"
  check "$out" "$tmp/$name.ort.bin" 1e-5 "$name: kiln($BACKEND, paddle) vs onnxruntime"
  # the same weights through Kiln's own ONNX loader
  "$KILN" run "$tmp/$name.onnx" --input="$tmp/$name.in.bin" --shape=1x3x224x224 \
    --backend="$BACKEND" --print=0 --save_outputs="$tmp/$name.kiln_onnx" >/dev/null
  check "$(ls "$tmp/$name.kiln_onnx"/*.bin | head -1)" "$out" 1e-6 "$name: kiln onnx vs kiln paddle"
  if [ "$BACKEND" != ref ]; then # the backend against the ref oracle, incl. stage 4 of ResNet50
    local outs=()
    "$KILN" inspect "$dir" >"$tmp/$name.graph"
    grep -q "res4f.add.output.5.tmp_0" "$tmp/$name.graph" && outs=(--outputs=res4f.add.output.5.tmp_0)
    if ! "$KILN" compare "$dir" --a=fp32:ref --b="fp32:$BACKEND" --input="$tmp/$name.in.bin" \
      "${outs[@]}" --atol=1e-4 --rtol=1e-3 --max_rel=1e-5; then fails=$((fails + 1)); fi
  fi
}

if [ -f "$FIX/paddle/resnet50_fp32_224/__model__" ]; then
  one_model resnet50 "$FIX/paddle/resnet50_fp32_224"
  # per-file layout of the same model: bit-exact
  "$KILN" model convert "$tmp/resnet50" --output_dir="$tmp/resnet50_sep" --layout=separate
  "$KILN" run "$tmp/resnet50_sep" --input="$tmp/resnet50.in.bin" --shape=1x3x224x224 \
    --backend="$BACKEND" --print=0 --save_outputs="$tmp/resnet50.sep" >/dev/null
  check "$(ls "$tmp/resnet50.sep"/*.bin | head -1)" "$(ls "$tmp/resnet50.kiln"/*.bin | head -1)" 0 \
    "resnet50: per-file vs combined"
  one_model mobilenet_v1 "$FIX/paddle/mobilenet_v1_fp32_224"
else
  echo "note: no fixtures at $FIX: comparing a generated ResNet50"
  one_model resnet50_generated ""
fi
if [ "$fails" -ne 0 ]; then
  echo "FAIL: $fails comparison(s) out of tolerance"
  exit 1
fi
echo "all comparisons within tolerance"
