#!/bin/bash
# test_compare_cli.sh — `kiln compare` on a temp copy of the real simple_model:
# fp32:ref vs fp32:cpu passes tight tolerances (exit 0, rel/cos lines, PASS);
# after `kiln calibrate`, fp32:ref vs int8:ref with --atol=0 --rtol=0 exits 1 and
# prints FAIL; bad flags exit 2. On a generated ResNet50 (a classifier with many
# layers): top-1/top-5 lines and the --per_layer table.
# Skips (77) when $KILN_FIXTURES lacks simple_model or the photos.
set -u
K="$KILN_BIN/kiln"
FIX="${KILN_FIXTURES:-}"
IMG="$FIX/images"
if [ ! -f "$FIX/paddle/simple_model/model.pdmodel" ] || [ ! -d "$IMG" ]; then
    echo "SKIP: no simple_model or images under ${KILN_FIXTURES:-<unset>}"
    exit 77
fi
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"

cp -r "$FIX/paddle/simple_model" "$T/sm"
chmod -R u+w "$T/sm"
M="$T/sm"
D=(--data="$IMG" --samples=2)
STAT='^batch_norm_0\.tmp_3 +rel [0-9.e+-]+ +cos [0-9.]+ +max\|d\| [0-9.e+-]+ +allclose-fail [0-9]+/802816'

# ---- FP32 ref vs cpu: tight tolerances pass ------------------------------------------
expect_rc 0 "$K" compare "$M" --a=fp32:ref --b=fp32:cpu "${D[@]}" --atol=1e-4 --rtol=1e-4
cat "$T/out.txt"
has '^A: fp32 on ref \(INT8 layers 0/0\) +B: fp32 on cpu \(INT8 layers 0/0\) +samples: 2' "header"
has "$STAT" "rel/cos/max line for the output"
has 'cos (1\.000000|0\.99999[0-9])' "cosine ~1"
has 'allclose-fail 0/802816' "no element fails"
has '^PASS: atol 0\.0001, rtol 0\.0001' "PASS line with the tolerances"
# an explicit single input works too: a raw .bin of the repeated floats 1, -0.5, 0.2, -1.5
printf '\x00\x00\x80\x3f\x00\x00\x00\xbf\xcd\xcc\x4c\x3e\x00\x00\xc0\xbf' >"$T/pat.bin"
for _ in $(seq 16); do cat "$T/pat.bin" "$T/pat.bin" >"$T/pat2.bin" && mv "$T/pat2.bin" "$T/pat.bin"; done
head -c $((3 * 224 * 224 * 4)) "$T/pat.bin" >"$T/in.bin"
[ "$(stat -c %s "$T/in.bin")" -eq $((3 * 224 * 224 * 4)) ] || fail "test input size"
expect_rc 0 "$K" compare "$M" --a=fp32:ref --b=fp32:cpu --input="$T/in.bin" --atol=1e-4 --rtol=1e-4
has 'samples: 1' "--input: one sample"

# ---- INT8 after calibrating: exact tolerances fail -----------------------------------
expect_rc 1 "$K" compare "$M" --a=fp32:ref --b=int8:ref "${D[@]}"
has "kiln calibrate" "INT8 without a table: says how to make one"
expect_rc 0 "$K" calibrate "$M" --data="$IMG" --samples=3
expect_rc 1 "$K" compare "$M" --a=fp32:ref --b=int8:ref "${D[@]}" --atol=0 --rtol=0
cat "$T/out.txt"
has 'B: int8 on ref \(INT8 layers ([1-9][0-9]*)/\1\)' "B runs INT8"
has "$STAT" "rel/cos line"
has '^FAIL: atol 0, rtol 0' "FAIL line"
lacks '^PASS' "no PASS"
# the cosine is still high: INT8 is close, just not exact
cosv=$(sed -n 's/.* cos \([0-9.]*\) .*/\1/p' "$T/out.txt" | head -1)
awk -v c="$cosv" 'BEGIN { exit !(c > 0.99) }' || fail "INT8 cosine $cosv <= 0.99"
# the table given explicitly: same result
TABLE=$(ls "$M"/_opt_cache/trt_calib_*)
expect_rc 1 "$K" compare "$M" --a=fp32:ref --b=int8:ref "${D[@]}" --atol=0 --rtol=0 \
    --calib_table="$TABLE"
has '^FAIL' "--calib_table: FAIL"
# --per_layer on this one-layer model still runs
expect_rc 1 "$K" compare "$M" --a=fp32:ref --b=int8:ref "${D[@]}" --atol=0 --rtol=0 --per_layer
has "$STAT" "--per_layer: output line"

# ---- bad flags: exit 2 ---------------------------------------------------------------
for bad in --atol=abc --rtol=1e-3x --atol= --atol=-1 --rtol=nan --a=fp64 --b=int8:gpu \
    --bogus=1 --samples=0 --per_layer=maybe --threads=-1; do
    expect_rc 2 "$K" compare "$M" "${D[@]}" "$bad"
    [ -s "$T/out.txt" ] || fail "$bad: no message"
done
expect_rc 2 "$K" compare "$M"
has "give --data=DIR\|LIST or --input=FILE.bin" "no inputs: says what to give"
expect_rc 2 "$K" compare "$M" --data="$IMG" --input="$T/in.bin"
has "give --data=DIR\|LIST or --input=FILE.bin" "both inputs: says to pick one"
expect_rc 2 "$K" compare --data="$IMG"
expect_rc 0 "$K" compare --help
has "atol" "--help documents --atol"

# ---- a classifier with many layers: top-1/top-5 and --per_layer ---------------------
R="$T/r50"
expect_rc 0 "$K" model generate --output_dir="$R" --seed=1
expect_rc 0 "$K" compare "$R" --a=fp32:ref --b=fp32:cpu --data="$IMG" --samples=1 \
    --atol=1e-3 --rtol=1e-3 --per_layer
cat "$T/out.txt"
has '^softmax_0\.tmp_0 +rel .* top-1 100\.0% +top-5 overlap 100\.0%' "top-1/top-5 of the output"
has '^--- per layer \(graph order\) ---$' "per-layer section"
nl=$(sed -n '/^--- per layer/,/^PASS\|^FAIL/p' "$T/out.txt" | grep -Ec ' rel [0-9.e+-]+ +cos ')
[ "$nl" -ge 50 ] || fail "per-layer table has $nl rows, want >= 50 (ResNet50)"
has '^res4f\.add\.output\.5\.tmp_0 +rel ' "per-layer row for res4f's add"
has '^PASS' "fp32 ref vs cpu on ResNet50 passes 1e-3"

echo "PASS: test_compare_cli"
