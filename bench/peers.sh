#!/usr/bin/env bash
# peers.sh — Kiln against its CPU peers on the same ResNet50, same input, same
# run: ROUNDS rounds, each running in turn `kiln bench` (FP32, cpu backend),
# ONNX Runtime (bench/ort_bench.js: npm onnxruntime-node, graph optimization
# `all`) and OpenCV DNN (bench/opencv_bench.py: Debian python3-opencv), plus
# kiln INT8 (when `kiln bench` has --precision and a calibration table exists)
# and ORT INT8: the Q/DQ model given by --ort_int8=FILE or, by default when
# kiln INT8 runs, Kiln's own INT8 plan exported with `kiln model export-onnx
# --int8 --split_residual` (same calibration table; every conv int8 in ORT). Engines are
# interleaved and their order rotates each round, so the ratios against kiln
# (measured in the same round) survive the host's noise. Outputs are checked
# against ORT (one run each) before any timing. See bench/README.md.
# Non-goals: GPU engines, accuracy (see kiln compare), asserting speed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: bench/peers.sh [--model=DIR] [--batch=1] [--rounds=5] [--seconds=3] [flags]
  --model=DIR        Paddle model (default models/ResNet50; made by scripts/make-models.sh
                     when it is the default and missing, else `kiln model generate --seed=1`)
  --batch=N          batch size for every engine (default 1)
  --rounds=N         interleaved rounds (default 5)
  --seconds=S        timed seconds per engine per round (default 3)
  --threads=N        threads for every engine (default 2)
  --bin=DIR          where kiln is (default build/bin)
  --backend=NAME     kiln's backend for fp32 and int8 (default cpu)
  --ort_int8=F.onnx  time this ONNX (e.g. an INT8 Q/DQ ResNet50) with ORT as ort-int8
                     (default: kiln's INT8 plan as Q/DQ, when kiln-int8 runs and this kiln
                     has `model export-onnx --int8`)
  --ort_int8_exact   export the Q/DQ model without --split_residual (Kiln's arithmetic:
                     residual convs stay float in ORT)
  --no_ort_int8      no ort-int8 unless --ort_int8 is given
  --calib_table=F    the kiln INT8 table (default: <model>/_opt_cache/trt_calib_* if present)
  --no_int8          skip kiln INT8 even when available
  --no_opencv        skip OpenCV DNN
  --keep=DIR         keep the exported ONNX, input, outputs and results in DIR
  --max_foreign=PCT  re-run an engine's turn when other processes took more than PCT% of
                     the CPU during it (default 10)
  --retries=N        at most N re-runs per turn (default 3); the last result is kept and
                     its foreign share shown in the table
  --wait=S           before timing and before each re-run, wait up to S s (default 120)
                     for 3 quiet seconds (at most PCT% busy)
EOF
}

MODEL=models/ResNet50
BATCH=1
ROUNDS=5
SECONDS_=3
THREADS=2
BIN=build/bin
BACKEND=cpu
ORT_INT8=
ORT_INT8_AUTO=1
ORT_INT8_SPLIT=(--split_residual)
CALIB=
NO_INT8=0
NO_OPENCV=0
KEEP=
MAX_FOREIGN=10
RETRIES=3
WAIT=120
for a in "$@"; do
  case "$a" in
    --model=*) MODEL=${a#*=} ;;
    --batch=*) BATCH=${a#*=} ;;
    --rounds=*) ROUNDS=${a#*=} ;;
    --seconds=*) SECONDS_=${a#*=} ;;
    --threads=*) THREADS=${a#*=} ;;
    --bin=*) BIN=${a#*=} ;;
    --backend=*) BACKEND=${a#*=} ;;
    --ort_int8=*) ORT_INT8=${a#*=} ;;
    --ort_int8_exact) ORT_INT8_SPLIT=() ;;
    --no_ort_int8) ORT_INT8_AUTO=0 ;;
    --calib_table=*) CALIB=${a#*=} ;;
    --no_int8) NO_INT8=1 ;;
    --no_opencv) NO_OPENCV=1 ;;
    --keep=*) KEEP=${a#*=} ;;
    --max_foreign=*) MAX_FOREIGN=${a#*=} ;;
    --retries=*) RETRIES=${a#*=} ;;
    --wait=*) WAIT=${a#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "peers.sh: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $MAX_FOREIGN =~ ^[0-9]+$ && $RETRIES =~ ^[0-9]+$ && $WAIT =~ ^[0-9]+$ ]] ||
  { echo "peers.sh: --max_foreign, --retries and --wait take integers" >&2; exit 2; }
for v in BATCH ROUNDS SECONDS_ THREADS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --${v,,} must be a positive integer" >&2; exit 2; }
done
KILN=$BIN/kiln
[ -x "$KILN" ] || { echo "peers.sh: no $KILN: build first (make build) or pass --bin=DIR" >&2; exit 2; }
[ -z "$ORT_INT8" ] || [ -f "$ORT_INT8" ] || { echo "peers.sh: no such file $ORT_INT8" >&2; exit 2; }
[ -z "$CALIB" ] || [ -f "$CALIB" ] || { echo "peers.sh: no such file $CALIB" >&2; exit 2; }

if [ -n "$KEEP" ]; then
  mkdir -p "$KEEP"
  work=$(cd "$KEEP" && pwd)
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

# --- prerequisites ------------------------------------------------------------
if [ ! -f "$MODEL/model" ] || [ ! -f "$MODEL/params" ]; then
  if [ "$MODEL" = models/ResNet50 ]; then
    KILN=$KILN scripts/make-models.sh
  else
    echo "peers.sh: no model in $MODEL: generating a seeded ResNet50 (seed 1)"
    "$KILN" model generate --arch=resnet50 --output_dir="$MODEL" --seed=1
  fi
fi
if [ ! -d tests/ort/node_modules/onnxruntime-node ]; then
  echo "peers.sh: installing tests/ort (onnxruntime-node, pinned)"
  (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
fi

# A python with cv2: Debian's python3-opencv lives in /usr/bin/python3's path,
# which a pyenv/venv `python3` may not see.
CVPY=
find_cv() {
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import cv2' >/dev/null 2>&1; then
      CVPY=$p
      return 0
    fi
  done
  return 1
}
if [ "$NO_OPENCV" = 0 ] && ! find_cv; then
  echo "peers.sh: installing Debian python3-opencv (used by bench/ only, not by Kiln)"
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  apt_cv() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    python3-opencv >/dev/null; }
  if ! apt_cv; then
    if $SUDO apt-get update -qq; then apt_cv || true; fi
  fi
  find_cv || { echo "peers.sh: no usable cv2: skipping OpenCV DNN" >&2; NO_OPENCV=1; }
fi
PY=${CVPY:-python3}

# kiln INT8: only when this kiln bench knows --precision and there is a table
KILN_INT8=0
int8_flags=(--precision=int8)
fp32_flags=()
if "$KILN" bench --help 2>&1 | grep -q -- '--precision'; then
  fp32_flags=(--precision=fp32)
fi
if [ "$NO_INT8" = 0 ] && [ ${#fp32_flags[@]} -gt 0 ]; then
  if [ -n "$CALIB" ]; then
    if "$KILN" bench --help 2>&1 | grep -q -- '--calib_table'; then
      int8_flags+=(--calib_table="$CALIB")
      KILN_INT8=1
    else
      echo "peers.sh: this kiln bench has no --calib_table: skipping kiln-int8" >&2
    fi
  elif compgen -G "$MODEL/_opt_cache/trt_calib_*" >/dev/null; then
    KILN_INT8=1
  else
    echo "peers.sh: no calibration table in $MODEL/_opt_cache: skipping kiln-int8" \
         "(make one with kiln calibrate or make demo)"
  fi
fi

# --- model, input, output check --------------------------------------------------
shape="${BATCH}x3x224x224"
echo "== exporting $MODEL to ONNX"
"$KILN" model export-onnx "$MODEL" --output="$work/model.onnx" >/dev/null
node tests/ort/make_input.js "$work/input.bin" $((BATCH * 3 * 224 * 224)) 1234 -2 2

echo "== outputs on the same input (seed 1234, uniform [-2,2)), one run each, against ORT FP32"
node bench/ort_bench.js "$work/model.onnx" "$work/input.bin" "$shape" --threads="$THREADS" \
  --seconds=0 --iterations=1 --warmup_ms=0 --save="$work/out_ort.bin" >/dev/null
kiln_out() { # dir, extra flags...
  local d=$1
  shift
  rm -rf "$d"
  "$KILN" run "$MODEL" --input="$work/input.bin" --shape="$shape" --backend="$BACKEND" \
    --threads="$THREADS" --save_outputs="$d" --print=0 "$@" >/dev/null || return 1
  compgen -G "$d/*.bin" | head -1
}
o=$(kiln_out "$work/out_kiln" --precision=fp32) || { echo "peers.sh: kiln run failed" >&2; exit 1; }
node tests/ort/compare.js "$o" "$work/out_ort.bin" 1e-3 "kiln fp32 vs ort fp32" ||
  { echo "peers.sh: kiln and ORT disagree: not timing" >&2; exit 1; }
if [ "$NO_OPENCV" = 0 ]; then
  "$PY" bench/opencv_bench.py "$work/model.onnx" "$work/input.bin" "$shape" --threads="$THREADS" \
    --seconds=0 --iterations=1 --warmup_ms=0 --save="$work/out_cv.bin" >/dev/null
  node tests/ort/compare.js "$work/out_cv.bin" "$work/out_ort.bin" 1e-3 "opencv fp32 vs ort fp32" ||
    { echo "peers.sh: OpenCV and ORT disagree: not timing" >&2; exit 1; }
fi
if [ "$KILN_INT8" = 1 ]; then
  run_int8=(--precision=int8)
  [ -z "$CALIB" ] || run_int8+=(--calib_table="$CALIB")
  if o=$(kiln_out "$work/out_kiln_int8" "${run_int8[@]}"); then
    kiln_int8_out=$o
    # INT8 is expected to differ: report only (rel err of softmax outputs)
    node tests/ort/compare.js "$o" "$work/out_ort.bin" 1 "kiln int8 vs ort fp32 (report only)" || true
  else
    echo "peers.sh: kiln run --precision=int8 --backend=$BACKEND failed: skipping kiln-int8" >&2
    KILN_INT8=0
  fi
fi
# ort-int8 by default: the same INT8 plan (passes, precision, table) as Q/DQ
if [ -z "$ORT_INT8" ] && [ "$ORT_INT8_AUTO" = 1 ] && [ "$KILN_INT8" = 1 ]; then
  if "$KILN" model --help 2>&1 | grep -q -- '--int8'; then
    qdq=(--int8 "${ORT_INT8_SPLIT[@]}")
    [ -z "$CALIB" ] || qdq+=(--calib_table="$CALIB")
    if "$KILN" model export-onnx "$MODEL" "${qdq[@]}" --output="$work/model_qdq.onnx"; then
      ORT_INT8=$work/model_qdq.onnx
    else
      echo "peers.sh: kiln model export-onnx --int8 failed: skipping ort-int8" >&2
    fi
  else
    echo "peers.sh: this kiln cannot export Q/DQ (model export-onnx --int8): skipping ort-int8"
  fi
fi
if [ -n "$ORT_INT8" ]; then
  node bench/ort_bench.js "$ORT_INT8" "$work/input.bin" "$shape" --threads="$THREADS" \
    --seconds=0 --iterations=1 --warmup_ms=0 --save="$work/out_ort_int8.bin" >/dev/null
  node tests/ort/compare.js "$work/out_ort_int8.bin" "$work/out_ort.bin" 1 \
    "ort int8 vs ort fp32 (report only)" || true
  if [ -n "${kiln_int8_out:-}" ]; then
    node tests/ort/compare.js "$work/out_ort_int8.bin" "$kiln_int8_out" 1 \
      "ort int8 vs kiln int8 (report only)" || true
  fi
fi

# --- engines ----------------------------------------------------------------------
engines=(kiln ort)
[ "$NO_OPENCV" = 1 ] || engines+=(opencv)
[ "$KILN_INT8" = 0 ] || engines+=(kiln-int8)
[ -z "$ORT_INT8" ] || engines+=(ort-int8)

# kiln bench's trtexec-style report -> one RESULT line
kiln_bench() { # engine name, extra flags...
  local name=$1 out
  shift
  out=$("$KILN" bench "$MODEL" --batch="$BATCH" --backend="$BACKEND" --threads="$THREADS" \
    --loadInputs="$work/input.bin" --warmUp=200 --iterations=10 --duration="$SECONDS_" "$@") ||
    return 1
  awk -v name="$name" -v b="$BATCH" '
    /^Throughput:/ { ips = $2 }
    /^Iterations:/ { it = $2 }
    /^Latency:/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "min") mn = $(i + 2)
        if ($i == "median") md = $(i + 2)
        if ($i == "mean") mean = $(i + 2)
        if ($i == "percentile(90%)") p90 = $(i + 2)
      }
    }
    END {
      if (mn == "" || md == "" || ips == "") exit 1
      printf "RESULT engine=%s batch=%s iters=%s min_ms=%s median_ms=%s p90_ms=%s mean_ms=%s images_per_s=%s\n",
             name, b, it, mn, md, p90, mean, ips
    }' <<<"$out"
}

run_engine() { # engine name -> one RESULT line on stdout
  local common=("$work/model.onnx" "$work/input.bin" "$shape" --threads="$THREADS"
    --seconds="$SECONDS_" --iterations=10 --warmup_ms=200)
  case "$1" in
    kiln) kiln_bench kiln "${fp32_flags[@]}" ;;
    kiln-int8) kiln_bench kiln-int8 "${int8_flags[@]}" ;;
    ort) node bench/ort_bench.js "${common[@]}" --engine=ort ;;
    ort-int8) node bench/ort_bench.js "$ORT_INT8" "${common[@]:1}" --engine=ort-int8 ;;
    opencv) "$PY" bench/opencv_bench.py "${common[@]}" ;;
  esac
}

# Foreign CPU: busy ticks of the whole machine (steal included) during one
# engine run, less the ticks of our own children (reaped by this subshell, so
# counted in its cutime/cstime), as a share of all ticks.
cpu_ticks() { awk '/^cpu /{b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6}' /proc/stat; }
own_ticks() { awk '{print $16 + $17}' "/proc/$1/stat"; } # cutime + cstime of shell $1
wait_quiet() { # until 3 consecutive seconds of at most MAX_FOREIGN% busy, or WAIT seconds
  local b0 t0 b1 t1 quiet=0 waited=0
  while ((quiet < 3 && waited < WAIT)); do
    read -r b0 t0 < <(cpu_ticks)
    sleep 1
    read -r b1 t1 < <(cpu_ticks)
    waited=$((waited + 1))
    if ((100 * (b1 - b0) <= MAX_FOREIGN * (t1 - t0))); then quiet=$((quiet + 1)); else quiet=0; fi
  done
  ((quiet >= 3)) || echo "peers.sh: the machine stayed busy for ${WAIT} s: going on" >&2
}
timed_engine() { # engine name -> RESULT line with foreign=PCT on stdout; retries when polluted
  local e=$1 me=$BASHPID try res b0 t0 o0 b1 t1 o1 pct
  for ((try = 1; try <= RETRIES + 1; try++)); do
    read -r b0 t0 < <(cpu_ticks)
    o0=$(own_ticks "$me")
    res=$(run_engine "$e") || return 1
    read -r b1 t1 < <(cpu_ticks)
    o1=$(own_ticks "$me")
    pct=$(((100 * (b1 - b0 - (o1 - o0))) / (t1 - t0 > 0 ? t1 - t0 : 1)))
    ((pct >= 0)) || pct=0
    if ((pct <= MAX_FOREIGN || try > RETRIES)); then
      echo "$res foreign=$pct"
      return 0
    fi
    echo "peers.sh: $e: other processes used ${pct}% of the CPU during its run: again" >&2
    wait_quiet
  done
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== $ROUNDS rounds x ${SECONDS_} s per engine, batch $BATCH, $THREADS threads:" \
     "${engines[*]} (order rotates each round); load average $load_before"
: >"$work/results.txt"
wait_quiet
n=${#engines[@]}
for ((r = 1; r <= ROUNDS; r++)); do
  order=()
  for ((k = 0; k < n; k++)); do order+=("${engines[$(((r - 1 + k) % n))]}"); done
  line="round $r/$ROUNDS:"
  for e in "${order[@]}"; do
    if ! res=$(timed_engine "$e"); then
      echo "peers.sh: $e failed in round $r" >&2
      exit 1
    fi
    echo "round=$r $res" >>"$work/results.txt"
    med=$(sed -n 's/.*median_ms=\([^ ]*\).*/\1/p' <<<"$res")
    line+=" $e ${med} ms (other ${res##*foreign=}%)"
  done
  echo "$line"
done

model_name=$(basename "$MODEL")
"$PY" bench/summarize.py "$work/results.txt" \
  "== $model_name, batch $BATCH, $ROUNDS rounds x ${SECONDS_} s per engine, $THREADS threads, $(nproc) cores; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
