#!/usr/bin/env bash
# demo.sh — the seed's three workflows on models/ResNet50 (made by
# make-models.sh): FP32 -> generate the INT8 calibration table -> INT8, then
# how INT8 compares with FP32. Calibrates on half of the fixture photos and
# evaluates on the other half (synthetic inputs when there are no photos).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
M=models/ResNet50
FIX=${KILN_FIXTURES:-../shared/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== 1. FP32: trt_fp32_test"
"$BIN/trt_fp32_test" --model_file=$M/model --params_file=$M/params --batch_size=1

img_args=()
cmp_args=()
if [ -d "$FIX/images" ]; then
  ls "$FIX/images" | sort | awk 'NR % 2 == 1' | sed "s|^|$(cd "$FIX/images" && pwd)/|" >"$work/calib.txt"
  ls "$FIX/images" | sort | awk 'NR % 2 == 0' | sed "s|^|$(cd "$FIX/images" && pwd)/|" >"$work/eval.txt"
  img_args=(--image_dir="$work/calib.txt")
  cmp_args=(--data="$work/eval.txt")
else
  echo "(no fixture photos: synthetic inputs; the table will not be meaningful)"
fi

echo "== 2. INT8 calibration: trt_gen_calib_table_test (table written when the predictor ends)"
rm -f $M/_opt_cache/trt_calib_*
"$BIN/trt_gen_calib_table_test" --model_file=$M/model --params_file=$M/params --batch_size=1 \
  "${img_args[@]}"
ls -l $M/_opt_cache/

echo "== 3. INT8: trt_int8_test --use_calib=true (loads the table)"
eval_dir=()
[ ${#cmp_args[@]} -gt 0 ] && eval_dir=(--image_dir="$work/eval.txt")
"$BIN/trt_int8_test" --model_file=$M/model --params_file=$M/params --use_calib=true \
  --batch_size=1 --samples=2 "${eval_dir[@]}"

echo "== 4. INT8 vs FP32 on images not used for calibration: kiln compare"
outs=()
"$BIN/kiln" inspect $M >"$work/graph.txt"
if grep -q "res4f.add.output.5.tmp_0" "$work/graph.txt"; then
  outs=(--outputs=res4f.add.output.5.tmp_0) # end of stage 4: every weight before it is real
fi
if [ ${#cmp_args[@]} -eq 0 ]; then
  node tests/ort/make_input.js "$work/in.bin" $((3 * 224 * 224)) 7 -2 2
  cmp_args=(--input="$work/in.bin")
fi
# loose tolerances: this step reports, it does not gate
"$BIN/kiln" compare $M --a=fp32:auto --b=int8:auto "${cmp_args[@]}" --samples=3 "${outs[@]}" \
  --atol=1 --rtol=1

if [ -f models/ResNet50_quant/model ]; then
  echo "== 5. The Paddle INT8 (fake-quant) model: trt_int8_test --use_calib=false"
  echo "   (Kiln does not read QAT scales yet: it says so and runs the fake-quant ops in FP32)"
  "$BIN/trt_int8_test" --model_file=models/ResNet50_quant/model \
    --params_file=models/ResNet50_quant/params --use_calib=false --batch_size=1 --samples=1 \
    "${eval_dir[@]}"
fi
