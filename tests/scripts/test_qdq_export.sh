#!/usr/bin/env bash
# test_qdq_export.sh — `kiln model export-onnx --int8`: Kiln's planned INT8
# graph as a Q/DQ ONNX model that ONNX Runtime runs.
#
# simple_model (conv + bn + relu, real fixture) is copied to a temp dir and
# calibrated on 2 fixture photos; its Q/DQ export runs in ONNX Runtime
# (tests/ort, onnxruntime-node) and must agree with `kiln run --precision=int8`
# on the same seeded input: cosine >= 0.999 (measured 0.99998; not bit exact:
# ORT rounds the bias to int32, its u8 tensors have scale T/255 where Kiln's
# steps are T/127, and it requantizes in its own order). Also: the file holds QuantizeLinear/DequantizeLinear and an
# int8 weight; --int8 without a table, and --calib_table without --int8, fail
# with a message. Then a generated ResNet50 (see below). ~5 s.
# Non-goals: speed (bench/peers.sh times ORT on the export).
set -euo pipefail
KILN=${KILN_BIN:?}/kiln
FIX=${KILN_FIXTURES:-../shared/fixtures}
ORT=${KILN_SRC:?}/tests/ort
if [ ! -f "$FIX/paddle/simple_model/model.pdmodel" ]; then
  echo "skip: no fixtures at $FIX"
  exit 77
fi
if [ ! -d "$ORT/node_modules/onnxruntime-node" ]; then
  echo "FAIL: $ORT/node_modules/onnxruntime-node missing: run scripts/install-deps.sh"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=$tmp/simple
cp -r "$FIX/paddle/simple_model" "$M"

# no table yet: a clear error, no file
if "$KILN" model export-onnx "$M" --int8 --output="$tmp/none.onnx" >"$tmp/err.log" 2>&1; then
  echo "FAIL: export --int8 without a calibration table succeeded"
  exit 1
fi
grep -qi "calib" "$tmp/err.log" || { echo "FAIL: no hint at calibration in:"; cat "$tmp/err.log"; exit 1; }
[ ! -e "$tmp/none.onnx" ] || { echo "FAIL: a failed export left $tmp/none.onnx"; exit 1; }
if "$KILN" model export-onnx "$M" --calib_table=x --output="$tmp/none.onnx" >/dev/null 2>&1; then
  echo "FAIL: --calib_table without --int8 was accepted"
  exit 1
fi

"$KILN" calibrate "$M" --data="$FIX/images" --samples=2 >"$tmp/calib.log" 2>&1 ||
  { echo "FAIL: kiln calibrate:"; cat "$tmp/calib.log"; exit 1; }
"$KILN" model export-onnx "$M" --int8 --output="$tmp/qdq.onnx"
for op in QuantizeLinear DequantizeLinear; do
  grep -qa "$op" "$tmp/qdq.onnx" || { echo "FAIL: no $op in the export"; exit 1; }
done
grep -qa "conv1_weights.*__kiln_int8" "$tmp/qdq.onnx" || { echo "FAIL: no int8 weight"; exit 1; }

n=$((3 * 224 * 224))
fails=0
for seed in 7 11; do
  node "$ORT/make_input.js" "$tmp/in$seed.bin" "$n" "$seed" -2 2
  node "$ORT/run_ort.js" "$tmp/qdq.onnx" "$tmp/in$seed.bin" 1x3x224x224 "$tmp/ort$seed.bin" >/dev/null
  rm -rf "$tmp/k$seed"
  "$KILN" run "$M" --input="$tmp/in$seed.bin" --shape=1x3x224x224 --precision=int8 --print=0 \
    --save_outputs="$tmp/k$seed" >/dev/null
  # tol 1: the relative error is reported, the cosine gates
  node "$ORT/compare.js" "$(ls "$tmp/k$seed"/*.bin | head -1)" "$tmp/ort$seed.bin" 1 \
    "seed $seed: kiln int8 vs onnxruntime on kiln's Q/DQ export" --min_cos=0.999 ||
    fails=$((fails + 1))
done

# A generated ResNet50 (seed 3): residual convs, pools, gemm. Logits (fc_0.tmp_1)
# of both forms against kiln int8, and the kernels ORT picks: the exact form
# leaves the 16 residual convs float (ORT has no int8 conv + sum), the
# --split_residual form runs all 53 convs as QLinearConv.
R=$tmp/r50
"$KILN" model generate --arch=resnet50 --output_dir="$R" --seed=3 >/dev/null
"$KILN" calibrate "$R" --data="$FIX/images" --samples=2 >"$tmp/calib_r50.log" 2>&1 ||
  { echo "FAIL: kiln calibrate:"; cat "$tmp/calib_r50.log"; exit 1; }
node "$ORT/make_input.js" "$tmp/r50in.bin" "$n" 5 -2 2
"$KILN" run "$R" --input="$tmp/r50in.bin" --shape=1x3x224x224 --precision=int8 --print=0 \
  --outputs=fc_0.tmp_1 --save_outputs="$tmp/kr50" >/dev/null
for form in exact split; do
  flags=(--int8)
  [ "$form" = exact ] || flags+=(--split_residual)
  "$KILN" model export-onnx "$R" "${flags[@]}" --output="$tmp/r50_$form.onnx" >/dev/null
  "$KILN" model export-onnx "$R" "${flags[@]}" --outputs=fc_0.tmp_1 \
    --output="$tmp/r50_${form}_logits.onnx" >/dev/null
  node "$ORT/run_ort.js" "$tmp/r50_${form}_logits.onnx" "$tmp/r50in.bin" 1x3x224x224 \
    "$tmp/r50_$form.bin" fc_0.tmp_1 >/dev/null
  node "$ORT/compare.js" "$tmp/kr50/fc_0.tmp_1.bin" "$tmp/r50_$form.bin" 1 \
    "resnet50 ($form): kiln int8 logits vs onnxruntime" --min_cos=0.999 || fails=$((fails + 1))
  ops=$(node "$ORT/ort_ops.js" "$tmp/r50_$form.onnx" QLinearConv,FusedConv,Conv,QLinearAdd,QGemm)
  echo "resnet50 ($form): ORT kernels $ops"
  case $form in
    exact) want='{"QLinearConv":37,"FusedConv":16,"Conv":0,"QLinearAdd":0,"QGemm":1}' ;;
    split) want='{"QLinearConv":53,"FusedConv":0,"Conv":0,"QLinearAdd":16,"QGemm":1}' ;;
  esac
  [ "$ops" = "$want" ] || { echo "FAIL: expected $want"; fails=$((fails + 1)); }
done

if [ "$fails" -ne 0 ]; then
  echo "FAIL: $fails check(s) failed"
  exit 1
fi
echo "Q/DQ export agrees with kiln int8"
