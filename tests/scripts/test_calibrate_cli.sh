#!/bin/bash
# test_calibrate_cli.sh — `kiln calibrate` on a temp copy of the real simple_model
# with the fixture photos: the table lands in <copy>/_opt_cache, its absolute path,
# sample count and time are printed, and `kiln run --precision=int8 --backend=ref`
# then runs every INT8 layer. Bad input (no images, no image files, a truncated
# JPEG, too few images, no --data, an unknown --algo) fails with a message and
# writes NO table. Bad tables at INT8 time: another model's (both keys named, how
# to regenerate), a corrupt line (its line number), a TensorRT table (accepted,
# with a warning).
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
expect_fail() { # expect_fail CMD...: any non-zero exit status
    "$@" >"$T/out.txt" 2>&1
    local rc=$?
    [ "$rc" -ne 0 ] || { cat "$T/out.txt"; fail "exit 0 (want non-zero): $*"; }
}
fresh_model() { # a writable copy of simple_model at $T/$1
    rm -rf "${T:?}/$1"
    cp -r "$FIX/paddle/simple_model" "$T/$1"
    chmod -R u+w "$T/$1"
}
no_table() { # no_table DIR WHAT: DIR/_opt_cache is absent or empty
    if [ -d "$1/_opt_cache" ] && [ -n "$(ls -A "$1/_opt_cache")" ]; then
        ls -la "$1/_opt_cache"
        fail "$2: a table was written"
    fi
}

# ---- the good path -----------------------------------------------------------------
M="$T/sm"
fresh_model sm
expect_rc 0 "$K" calibrate "$M" --data="$IMG" --samples=3
cat "$T/out.txt"
has '^calibration table: /.*/_opt_cache/trt_calib_[0-9a-f]{16}$' "absolute table path printed"
has '^samples: 3 .*time: [0-9.]+ s' "sample count and time printed"
TABLE=$(sed -n 's/^calibration table: //p' "$T/out.txt")
[ -f "$TABLE" ] || fail "printed path $TABLE does not exist"
[ "$(cd "$M/_opt_cache" && pwd -P)" = "$(dirname "$TABLE")" ] || fail "$TABLE not in $M/_opt_cache"
[ "$(find "$M/_opt_cache" -type f | wc -l)" -eq 1 ] || fail "more than one file in $M/_opt_cache"
head -1 "$TABLE" | grep -q '^#kiln-calib-table v1 .* samples=3 ' || fail "header: $(head -1 "$TABLE")"
KEY=${TABLE##*trt_calib_}
head -1 "$TABLE" | grep -q " key=$KEY " || fail "header key differs from the file name $KEY"
for tensor in image batch_norm_0.tmp_3; do
    grep -Eq "^$tensor: [0-9a-f]{8}$" "$TABLE" || fail "no line for $tensor"
done
cp "$TABLE" "$T/good_table"

expect_rc 0 "$K" run "$M" --precision=int8 --backend=ref --image="$IMG/owl.jpg" --print=3
cat "$T/out.txt"
has '^INT8 layers: ([1-9][0-9]*)/\1$' "every INT8 candidate runs INT8"
has "^output 'batch_norm_0.tmp_3' shape \[1,32,112,112\]" "prints the output"
# the same flag with an explicit --calib_table
expect_rc 0 "$K" run "$M" --precision=int8 --backend=ref --calib_table="$T/good_table" --print=1
has '^INT8 layers: [1-9]' "--calib_table works"

# --output, --batch, --algo: the table goes where asked, the header says how it was made
fresh_model opts
expect_rc 0 "$K" calibrate "$T/opts" --data="$IMG" --samples=3 --batch=2 --algo=minmax \
    --output="$T/elsewhere/my_table"
has "^calibration table: $T/elsewhere/my_table$" "--output: prints that path"
has '^samples: 3 +algorithm: minmax' "--batch=2: 3 samples (2 + 1)"
head -1 "$T/elsewhere/my_table" | grep -q ' algo=minmax samples=3 ' || fail "--output header"
no_table "$T/opts" "--output"
expect_rc 0 "$K" run "$T/opts" --precision=int8 --backend=ref --calib_table="$T/elsewhere/my_table"
has '^INT8 layers: [1-9]' "--output table loads"

# ---- bad input: non-zero exit, a message, no table -----------------------------------
mkdir -p "$T/empty" "$T/textonly" "$T/trunc"
echo "not an image" >"$T/textonly/readme.txt"
cp "$IMG/owl.jpg" "$IMG/rocket.jpg" "$T/trunc/"
head -c 4000 "$IMG/hot_dog.jpg" >"$T/trunc/b_truncated.jpg" # sorted between the good ones

fresh_model bad
expect_fail "$K" calibrate "$T/bad" --data="$T/empty"
has "no images .*$T/empty" "empty directory: names it"
no_table "$T/bad" "empty directory"

expect_fail "$K" calibrate "$T/bad" --data="$T/textonly"
has "no images .*$T/textonly" "directory of text files: names it"
no_table "$T/bad" "directory of text files"

expect_fail "$K" calibrate "$T/bad" --data="$T/trunc"
has "b_truncated.jpg" "truncated JPEG: names the file"
has "no table written" "truncated JPEG: says no table"
no_table "$T/bad" "truncated JPEG"

expect_fail "$K" calibrate "$T/bad" --data="$IMG" --samples=1000
has "asked for 1000 samples but .* holds only [0-9]+ images" "too few images: says so"
no_table "$T/bad" "--samples larger than available"

expect_fail "$K" calibrate "$T/bad"
has "--data=DIR\|LIST is required" "missing --data: says so"
no_table "$T/bad" "missing --data"

expect_fail "$K" calibrate "$T/bad" --data="$T/nonexistent"
has "$T/nonexistent" "missing directory: names it"
no_table "$T/bad" "missing directory"

expect_fail "$K" calibrate "$T/bad" --data="$IMG" --samples=2 --algo=kl
has "unknown calibration algorithm 'kl'" "unknown --algo: names it"
has "entropy, percentile, minmax or mse" "unknown --algo: lists the choices"
no_table "$T/bad" "unknown --algo"

expect_fail "$K" calibrate "$T/bad" --data="$IMG" --samples=2 --algo=percentile --percentile=101
has "percentile" "bad --percentile: says so"
no_table "$T/bad" "bad --percentile"

# ---- bad tables at INT8 time ---------------------------------------------------------
# a table written for another model (a generated ResNet50) under simple_model's name
R="$T/r50"
expect_rc 0 "$K" model generate --output_dir="$R" --seed=1
expect_rc 0 "$K" calibrate "$R" --data="$IMG" --samples=1 --backend=cpu
RTABLE=$(sed -n 's/^calibration table: //p' "$T/out.txt")
RKEY=${RTABLE##*trt_calib_}
if [ ! -f "$RTABLE" ] || [ "$RKEY" = "$KEY" ]; then
    fail "ResNet50 table $RTABLE (key $RKEY vs $KEY)"
fi
cp "$RTABLE" "$TABLE"
expect_fail "$K" run "$M" --precision=int8 --backend=ref
has "another model" "foreign table: says so"
has "key $RKEY" "foreign table: names the table's key"
has "key $KEY" "foreign table: names the model's key"
has "kiln calibrate" "foreign table: says how to regenerate"

# a corrupt scale: "zz" on line 2
sed '2s/: [0-9a-f]*$/: zz/' "$T/good_table" >"$TABLE"
expect_fail "$K" run "$M" --precision=int8 --backend=ref
has "trt_calib_$KEY:2: " "corrupt line: names the file and line 2"
has "zz" "corrupt line: quotes the value"
has "kiln calibrate" "corrupt line: says how to regenerate"

# a TensorRT-style table for simple_model's tensors: accepted, with a warning
{
    echo "TRT-7202-EntropyCalibration2"
    grep -v '^#' "$T/good_table"
} >"$TABLE"
expect_rc 0 "$K" run "$M" --precision=int8 --backend=ref --print=1
has "TensorRT table" "TensorRT table: warns"
has "cannot check" "TensorRT table: says it cannot be verified"
has '^INT8 layers: ([1-9][0-9]*)/\1$' "TensorRT table: runs INT8"

echo "PASS: test_calibrate_cli"
