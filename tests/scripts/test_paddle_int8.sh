#!/bin/bash
# test_paddle_int8.sh — the Paddle-TRT INT8 workflow through the three demos on a
# temp copy of the real simple_model (input [-1,3,224,224], as the demos feed):
# trt_gen_calib_table_test calibrates and writes <copy>/_opt_cache/trt_calib_<key>
# when its predictor ends (and says so, with the path); trt_int8_test
# --use_calib=true loads it (says so) and prints 20 outputs and a top-1 line per
# image; --use_calib=false runs FP32 with its warning; trt_fp32_test runs. Without
# --image_dir and no ../shared/fixtures/images from the cwd, the generator says it
# feeds synthetic inputs.
# Skips (77) when $KILN_FIXTURES lacks simple_model or the photos.
set -u
B="$KILN_BIN"
FIX="${KILN_FIXTURES:-}"
IMG="$FIX/images"
if [ ! -f "$FIX/paddle/simple_model/model.pdmodel" ] || [ ! -d "$IMG" ]; then
    echo "SKIP: no simple_model or images under ${KILN_FIXTURES:-<unset>}"
    exit 77
fi
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# numeric lines right after "first 20 outputs:"
count20() { awk '/^first 20 outputs:/{on=1;next} on && /^-?[0-9.]+(e[-+]?[0-9]+)?$/{n++;next} on{exit} END{print n+0}' "$T/out.txt"; }

cp -r "$FIX/paddle/simple_model" "$T/sm"
chmod -R u+w "$T/sm"
M=(--model_file="$T/sm/model.pdmodel" --params_file="$T/sm/model.pdiparams")

# ---- 1. generate the table ------------------------------------------------------------
expect_rc 0 "$B/trt_gen_calib_table_test" "${M[@]}" --image_dir="$IMG" --samples=4
cat "$T/out.txt"
has "no calibration table at .*trt_calib_[0-9a-f]{16}" "says it calibrates (no table yet)"
has "4 calibration samples .* from $IMG" "counts the samples"
has "calibration table written: /.*/_opt_cache/trt_calib_[0-9a-f]{16} \(4 samples\)" \
    "says the table was written, with its path"
[ "$(count20)" -eq 20 ] || fail "generator: $(count20) output values, want 20"
TABLE=$(sed -n 's/.*calibration table written: \([^ ]*\) .*/\1/p' "$T/out.txt")
[ -f "$TABLE" ] || fail "the logged path $TABLE does not exist"
[ "$(cd "$T/sm/_opt_cache" && pwd -P)" = "$(dirname "$TABLE")" ] || fail "$TABLE not in the copy"
head -1 "$TABLE" | grep -q ' samples=4 ' || fail "header: $(head -1 "$TABLE")"
cp "$TABLE" "$T/table.first"

# ---- 2. INT8 from the table ----------------------------------------------------------
expect_rc 0 "$B/trt_int8_test" "${M[@]}" --image_dir="$IMG" --use_calib=true --samples=2
cat "$T/out.txt"
has "loading calibration table $TABLE; running INT8" "says it loads the table, with its path"
lacks "no calibration table" "does not calibrate again"
[ "$(count20)" -eq 20 ] || fail "trt_int8_test: $(count20) output values, want 20"
[ "$(grep -Ec '^image [0-9]+ \(.*\): top-1 class [0-9]+ \(' "$T/out.txt")" -eq 2 ] ||
    fail "want 2 top-1 lines"
cmp -s "$TABLE" "$T/table.first" || fail "loading changed the table"
INT8_OUT=$(sed -n '/^first 20 outputs:/,/^image 0/p' "$T/out.txt")

# ---- 3. --use_calib=false: FP32 with the documented warning -----------------------------
expect_rc 0 "$B/trt_int8_test" "${M[@]}" --image_dir="$IMG" --use_calib=false --samples=2
cat "$T/out.txt"
has "use_calib_mode=false.*running FP32" "warns that it runs FP32"
lacks "loading calibration table" "does not load the table"
[ "$(count20)" -eq 20 ] || fail "use_calib=false: $(count20) output values"
FP32_OUT=$(sed -n '/^first 20 outputs:/,/^image 0/p' "$T/out.txt")
[ "$INT8_OUT" != "$FP32_OUT" ] || fail "INT8 and FP32 outputs are identical"

# ---- 4. trt_fp32_test ----------------------------------------------------------------
expect_rc 0 "$B/trt_fp32_test" "${M[@]}" --warmup=1 --repeats=1
has "^run avg time is [0-9.]+ ms" "prints the time"
[ "$(count20)" -eq 20 ] || fail "trt_fp32_test: $(count20) output values"

# ---- 5. no --image_dir and no ../shared/fixtures/images: synthetic inputs ---------------
rm -rf "$T/sm/_opt_cache"
mkdir -p "$T/cwd/sub"
[ ! -e "$T/cwd/sub/../shared/fixtures/images" ] || fail "test setup"
(cd "$T/cwd/sub" && "$B/trt_gen_calib_table_test" "${M[@]}" --samples=2) >"$T/out.txt" 2>&1 ||
    { cat "$T/out.txt"; fail "synthetic calibration failed"; }
cat "$T/out.txt"
has "no image directory: feeding seeded synthetic inputs" "says it feeds synthetic inputs"
has "2 calibration samples .* from synthetic inputs" "counts synthetic samples"
has "calibration table written: " "synthetic: table written"
[ -f "$TABLE" ] || fail "synthetic: no table at $TABLE"

# ---- 6. bad flags --------------------------------------------------------------------
expect_rc 2 "$B/trt_int8_test" "${M[@]}" --use_calib=maybe
has "use_calib=maybe" "bad --use_calib is named"
expect_rc 2 "$B/trt_gen_calib_table_test" "${M[@]}" --use_calib=true
has "unknown flag --use_calib" "the generator takes no --use_calib"
expect_rc 1 "$B/trt_gen_calib_table_test" "${M[@]}" --image_dir="$T/cwd"
has "no images" "empty --image_dir is an error"

# a corrupt image during calibration: the demo fails and names it
mkdir -p "$T/bad"
cp "$IMG/owl.jpg" "$T/bad/a.jpg"
head -c 4000 "$IMG/hot_dog.jpg" >"$T/bad/b.jpg"
expect_rc 1 "$B/trt_gen_calib_table_test" "${M[@]}" --image_dir="$T/bad"
has "b.jpg: corrupt or truncated JPEG" "names the corrupt image"

echo "PASS: test_paddle_int8"
