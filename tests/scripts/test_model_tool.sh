#!/bin/bash
# test_model_tool.sh — `kiln model`: usage errors (exit 2), generate (deterministic),
# convert combined -> separate -> combined byte for byte, and filling the real
# fixtures (FP32, and INT8 from the FP32 reference): original program kept, real
# records byte-identical, filled ones present, same seed same bytes.
# Skips (77) the fixture part when $KILN_FIXTURES is absent.
set -u
K="$KILN_BIN/kiln"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}
expect_rc() { # expect_rc RC CMD...
    local want=$1
    shift
    "$@" >"$T/out.txt" 2>&1
    local rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/out.txt"; fail "exit $rc (want $want): $*"; }
}

# ---- usage --------------------------------------------------------------------
expect_rc 0 "$K" model --help
grep -q "export-onnx" "$T/out.txt" || fail "--help lacks the subcommands"
expect_rc 2 "$K" model
expect_rc 2 "$K" model frobnicate
expect_rc 2 "$K" model generate
grep -q "output_dir" "$T/out.txt" || fail "missing --output_dir is not explained"
expect_rc 2 "$K" model generate --output_dir="$T/x" --bogus=1
grep -q "unknown flag --bogus" "$T/out.txt" || fail "unknown flag is not named"
expect_rc 2 "$K" model generate --output_dir="$T/x" --arch=vgg
expect_rc 2 "$K" model generate --output_dir="$T/x" --seed=abc
expect_rc 2 "$K" model convert --output_dir="$T/x"
expect_rc 2 "$K" model export-onnx "$T/x"

# ---- generate + convert round trip ------------------------------------------------
expect_rc 0 "$K" model generate --output_dir="$T/gen" --seed=7
[ -s "$T/gen/model" ] && [ -s "$T/gen/params" ] || fail "generate wrote no model/params"
expect_rc 0 "$K" model generate --output_dir="$T/gen2" --seed=7
cmp -s "$T/gen/params" "$T/gen2/params" || fail "same seed, different params"
cmp -s "$T/gen/model" "$T/gen2/model" || fail "same seed, different program"
# 25.6 M float32 weights + 267 record headers
sz=$(stat -c %s "$T/gen/params")
[ "$sz" -gt 102000000 ] && [ "$sz" -lt 103000000 ] || fail "params size $sz"

expect_rc 0 "$K" model convert "$T/gen" --output_dir="$T/sep" --layout=separate
[ -f "$T/sep/__model__" ] && [ -f "$T/sep/conv1_weights" ] && [ -f "$T/sep/fc_0.w_0" ] ||
    fail "separate layout incomplete"
cmp -s "$T/gen/model" "$T/sep/__model__" || fail "program changed by convert"
expect_rc 0 "$K" model convert "$T/sep" --output_dir="$T/comb"
cmp "$T/gen/model" "$T/comb/model" || fail "combined->separate->combined: model differs"
cmp "$T/gen/params" "$T/comb/params" || fail "combined->separate->combined: params differ"
expect_rc 2 "$K" model convert "$T/gen" --output_dir="$T/y" --layout=zip
# ONNX export of the generated model, which then loads and runs (reference backend)
expect_rc 0 "$K" model export-onnx "$T/gen" --output="$T/gen.onnx"
[ "$(stat -c %s "$T/gen.onnx")" -gt 102000000 ] || fail "ONNX file too small"
expect_rc 0 "$K" run "$T/gen.onnx" --backend=ref

# ---- the real fixtures -------------------------------------------------------------
F="${KILN_FIXTURES:-}/paddle/resnet50_fp32_224"
Q="${KILN_FIXTURES:-}/paddle/resnet50_int8_224_per_layer"
if [ ! -f "$F/__model__" ]; then
    echo "SKIP: no fixtures at ${KILN_FIXTURES:-<unset>}/paddle"
    exit 77
fi
# a fixture with missing params is never converted silently
expect_rc 1 "$K" model convert "$F" --output_dir="$T/nope"
grep -q "kiln model fill" "$T/out.txt" || fail "convert does not point to kiln model fill"

expect_rc 0 "$K" model fill "$F" --output_dir="$T/fill" --seed=3
cp "$T/out.txt" "$T/fill.log"
cat "$T/fill.log"
[ "$(grep -c '^filled ' "$T/fill.log")" -eq 10 ] || fail "expected 10 filled tensors"
grep -q '^filled fc_0.w_0' "$T/fill.log" || fail "fc_0.w_0 not filled"
grep -q ' 0 non-finite' "$T/fill.log" || fail "non-finite activations"
cmp "$F/__model__" "$T/fill/model" || fail "fill changed the program"
expect_rc 0 "$K" model convert "$T/fill" --output_dir="$T/fillsep" --layout=separate
for v in conv1_weights bn_conv1_variance res4f_branch2c_weights res5a_branch2a_weights \
    bn5c_branch2c_scale fc_0.b_0; do
    cmp -s "$F/$v" "$T/fillsep/$v" || fail "real record $v is not byte-identical"
done
for v in res5a_branch1_weights res5c_branch2c_weights fc_0.w_0; do
    [ -s "$T/fillsep/$v" ] || fail "filled record $v absent"
done
expect_rc 0 "$K" model fill "$F" --output_dir="$T/fill2" --seed=3
cmp -s "$T/fill/params" "$T/fill2/params" || fail "same seed, different fill"

if [ -f "$Q/__model__" ]; then
    expect_rc 2 "$K" model fill "$Q" --output_dir="$T/q"
    grep -q -- "--reference" "$T/out.txt" || fail "INT8 fill without --reference not explained"
    expect_rc 0 "$K" model fill "$Q" --output_dir="$T/q" --seed=3 --reference="$T/fill"
    cat "$T/out.txt"
    [ "$(grep -c '^filled ' "$T/out.txt")" -eq 10 ] || fail "INT8: expected 10 filled tensors"
    grep -q ' 0 non-finite' "$T/out.txt" || fail "INT8: non-finite activations"
    cmp "$Q/__model__" "$T/q/model" || fail "INT8 fill changed the program"
fi
M="${KILN_FIXTURES:-}/paddle/mobilenet_v1_fp32_224"
if [ -f "$M/__model__" ]; then
    expect_rc 0 "$K" model fill "$M" --output_dir="$T/mb"
    grep -q '^filled conv6_sep_weights' "$T/out.txt" || fail "MobileNetV1: conv6_sep_weights not filled"
    grep -q ' 0 non-finite' "$T/out.txt" || fail "MobileNetV1: non-finite activations"
fi
echo "PASS"
