#!/usr/bin/env bash
# bench/gpu_check.sh: everything stoker claims about the GPU, measured in one go on a machine with
# one CUDA GPU, written into one JSON file whose path is the last line printed.
#
# Order (all before step 5 runs on any machine, GPU or not):
#   1 architecture: the GPU's compute capability from nvidia-smi (else "native"; without a GPU
#     80;90 so the build still runs)      2 configure (Release, CUDA ON, tests, bench)
#   3 build only what the checks need       4 data: Fashion-MNIST -> HDF5 (a synthetic 28x28x1
#     stand-in when the idx files are missing) and 224x224x3 synthetic HDF5
#   5 device probe (the first device call): no device -> "no CUDA device", exit 3
#   6 every GPU test (ring, feeder, CUDA backend vs CPU, mixed precision, planner on real free
#     VRAM, trainer feeder path vs serial path), with skips listed
#   7 H2D GB/s pinned vs pageable (64 MB) and the feeder's copy rate; overlap seen in CUDA events
#   8 `stoker train --device cuda` with --feeder on and off: seed model on Fashion-MNIST, convnet on
#     224x224x3; samples/s, input stall %, feeder H2D GB/s; the same models on the CPU for CUDA vs
#     CPU samples/s
#
#   bench/gpu_check.sh                            # build dir build-gpu, JSON build-gpu/gpu_check.json
#   BUILD=/tmp/b OUT=/tmp/g.json bench/gpu_check.sh
#   N224=1024 bench/gpu_check.sh                  # fewer 224x224x3 rows (default 4096)
#   ALL_TESTS=1 bench/gpu_check.sh                # also build everything and run the whole ctest suite
# Budget: about 8 minutes on a 16-core machine with one H100/H200 (build ~3, tests ~1, runs ~3).
# Exit codes: 0 every check ran and passed; 1 a test or a run failed (the JSON says which);
# 2 configure or build failed; 3 no CUDA device (steps 1-4 ran).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-gpu}"
OUT="${OUT:-$BUILD/gpu_check.json}"
DATA="${DATA:-$BUILD/gpu_check_data}"
JOBS="${JOBS:-$(nproc)}"
FM_DIR="${FM_DIR:-/usr/share/datasets/fashion-mnist}"
N224="${N224:-4096}"          # rows of the 224x224x3 synthetic set (GPU runs)
N224_CPU="${N224_CPU:-128}"   # rows for the CPU convnet run (it is ~100x slower)
BENCH_MIN_TIME="${BENCH_MIN_TIME:-0.5}"
EXIT_FAIL=1 EXIT_BUILD=2 EXIT_NO_DEVICE=3

mkdir -p "$BUILD" "$DATA" "$(dirname "$OUT")"
LOG="$BUILD/gpu_check.log"
: >"$LOG"
T0=$(date +%s)
say() { echo "== $*" | tee -a "$LOG"; }

# ---- the JSON file: flat "key": value pairs, written once at the end (finish) ----
JSON=()
json_str() {
  local v="${2//\\/\\\\}"
  v="${v//\"/\\\"}"
  v="${v//$'\n'/ }"
  JSON+=("\"$1\": \"$v\"")
}
json_num() {  # a number, or null when empty / not a number
  if [[ "${2:-}" =~ ^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then JSON+=("\"$1\": $2"); else JSON+=("\"$1\": null"); fi
}
json_raw() { JSON+=("\"$1\": $2"); }  # already JSON (true/false, a list)
json_list() {  # key, then items (strings)
  local key="$1" out="" item
  shift
  for item in "$@"; do out+="${out:+, }\"${item//\"/\\\"}\""; done
  JSON+=("\"$key\": [$out]")
}
finish() {
  local code="$1" msg="$2"
  json_num exit_code "$code"
  json_str result "$msg"
  json_num seconds "$(( $(date +%s) - T0 ))"
  json_str log "$LOG"
  {
    echo "{"
    local i n=${#JSON[@]}
    for ((i = 0; i < n; ++i)); do echo "  ${JSON[i]}$([ $((i + 1)) -lt "$n" ] && echo ,)"; done
    echo "}"
  } >"$OUT"
  say "$msg"
  echo "$OUT"
  exit "$code"
}
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.3f", a / b }'; }
# The value of "key": in a one-line JSON object (first match); empty when absent.
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2" | head -1 | tr -d ' "'; }

json_str started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
json_str commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
json_str host "$(hostname)"

# ---- 1. architecture ----
gpu_line=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu_line=$(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>>"$LOG" | head -1)
fi
if [ -n "${ARCH:-}" ]; then
  :
elif [[ "$gpu_line" =~ ,\ *([0-9]+)\.([0-9]+)$ ]]; then
  ARCH="${BASH_REMATCH[1]}${BASH_REMATCH[2]}"
elif [ -n "$gpu_line" ]; then
  ARCH=native
else
  ARCH="80;90"  # no GPU visible: build for A100 and H100/H200 so steps 2-4 still run
fi
say "GPU: ${gpu_line:-none visible to nvidia-smi}; CUDA architectures: $ARCH"
json_str nvidia_smi "${gpu_line:-}"
json_str cuda_architectures "$ARCH"

# ---- 2. configure ----
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
t=$(date +%s)
if ! cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DSTOKER_CUDA=ON \
      -DSTOKER_TESTS=ON -DSTOKER_BENCH=ON "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" >>"$LOG" 2>&1; then
  tail -20 "$LOG"
  finish $EXIT_BUILD "configure FAILED (see $LOG)"
fi

# ---- 3. build what the checks need ----
# Every test binary with a GPU case (grep -l cuda_device_available tests/), plus the CPU-side
# protocol and memory tests of the same parts. ALL_TESTS=1 also runs the whole ctest suite.
GPU_TESTS=(cuda_check_test pinned_ring_test device_feeder_test feeder_overlap_test device_gpu_test cuda_blas_test
           cuda_backend_test trainer_feeder_test train_test train_feeder_test process_rss_test)
if ! cmake --build "$BUILD" -j "$JOBS" --target stoker gpu_probe device_feeder_bench "${GPU_TESTS[@]}" >>"$LOG" 2>&1; then
  grep -E "error|FAILED" "$LOG" | head -20
  finish $EXIT_BUILD "build FAILED (see $LOG)"
fi
json_num build_s "$(( $(date +%s) - t ))"
say "build ok in $(( $(date +%s) - t )) s"
STOKER="$BUILD/cli/stoker"

# ---- 4. data ----
t=$(date +%s)
FM="$DATA/fashion_mnist.h5"
if [ ! -s "$FM" ]; then
  if [ -f "$FM_DIR/train-images-idx3-ubyte.gz" ]; then
    "$STOKER" convert "$FM_DIR" "$FM" --chunk-rows 1024 >>"$LOG" 2>&1 || finish $EXIT_FAIL "stoker convert of $FM_DIR FAILED (see $LOG)"
  else
    "$STOKER" make-dataset "$FM" --n 60000 --test-n 10000 --size 28x28 --channels 1 --classes 10 >>"$LOG" 2>&1 ||
      finish $EXIT_FAIL "make-dataset (Fashion-MNIST stand-in) FAILED (see $LOG)"
    echo "synthetic" >"$FM.source"
  fi
fi
if [ -f "$FM.source" ]; then
  json_str fashion_mnist_source "synthetic 60000x28x28x1 stand-in ($FM_DIR not installed)"
else
  json_str fashion_mnist_source "$FM_DIR"
fi
S224="$DATA/synth224_$N224.h5"
S224_CPU="$DATA/synth224_$N224_CPU.h5"
for pair in "$S224:$N224" "$S224_CPU:$N224_CPU"; do
  f="${pair%%:*}" n="${pair##*:}"
  if [ ! -s "$f" ]; then
    "$STOKER" make-dataset "$f" --n "$n" --test-n 64 --size 224x224 --channels 3 --classes 10 >>"$LOG" 2>&1 ||
      finish $EXIT_FAIL "make-dataset $f FAILED (see $LOG)"
  fi
done
json_num data_s "$(( $(date +%s) - t ))"
json_num synth224_rows "$N224"
say "data ready in $(( $(date +%s) - t )) s ($DATA)"

# ---- 5. the device probe: the first device call ----
probe=$("$BUILD/bench/gpu_probe" 2>&1)
probe_rc=$?
echo "$probe" | tee -a "$LOG"
json_str device "$probe"
if [ "$probe_rc" -ne 0 ]; then
  finish $EXIT_NO_DEVICE "no CUDA device (${probe#no CUDA device: }); configure, build and data ran, the GPU checks need a machine with one"
fi
status=0

# ---- 6. GPU tests ----
t=$(date +%s)
failed=() skipped=()
passed=0
for name in "${GPU_TESTS[@]}"; do
  out="$BUILD/$name.out"
  "$BUILD/tests/$name" >"$out" 2>&1
  rc=$?
  cat "$out" >>"$LOG"
  passed=$(( passed + $(grep -cE '^\[       OK \]' "$out") ))
  while IFS= read -r s; do skipped+=("$s"); done < <(sed -n 's/^\[  SKIPPED \] \([^ ]*\) (.*/\1/p' "$out")
  if [ "$rc" -ne 0 ]; then
    while IFS= read -r f; do failed+=("$f"); done < <(sed -n 's/^\[  FAILED  \] \([^ ,]*\).*(.*/\1/p' "$out")
    [ "$rc" -gt 1 ] && failed+=("$name (exit $rc)")
    status=$EXIT_FAIL
  fi
done
if [ "${ALL_TESTS:-0}" = 1 ]; then
  cmake --build "$BUILD" -j "$JOBS" >>"$LOG" 2>&1 || finish $EXIT_BUILD "full build FAILED (see $LOG)"
  if ctest --test-dir "$BUILD" -j "$JOBS" --timeout 600 >"$BUILD/ctest.out" 2>&1; then json_str ctest "all passed"
  else json_str ctest "$(grep -E 'tests passed|tests failed' "$BUILD/ctest.out")"; status=$EXIT_FAIL; fi
  cat "$BUILD/ctest.out" >>"$LOG"
fi
json_num tests_passed "$passed"
json_list tests_failed "${failed[@]}"
# With a device only tests about its absence should skip (e.g. ReportsWhenNoDeviceIsPresent).
json_list tests_skipped "${skipped[@]}"
json_num tests_s "$(( $(date +%s) - t ))"
say "GPU tests: $passed passed, ${#failed[@]} failed, ${#skipped[@]} skipped"

# Overlap seen in CUDA events (device_gpu_test): copy C, kernel 2C, 8 batches of 256 MB.
line=$(grep -m1 -E "^copy [0-9.]+ ms, kernel" "$BUILD/device_gpu_test.out" 2>/dev/null)
if [[ "$line" =~ copy\ ([0-9.]+)\ ms,\ kernel\ ([0-9.]+)\ ms:\ ([0-9]+)\ batches\ in\ ([0-9.]+)\ ms\ \(serial\ ([0-9.]+),\ overlapped\ ([0-9.]+)\) ]]; then
  json_num overlap_copy_ms "${BASH_REMATCH[1]}"
  json_num overlap_kernel_ms "${BASH_REMATCH[2]}"
  json_num overlap_batches "${BASH_REMATCH[3]}"
  json_num overlap_total_ms "${BASH_REMATCH[4]}"
  json_num overlap_serial_ms "${BASH_REMATCH[5]}"
  json_num overlap_ideal_ms "${BASH_REMATCH[6]}"
  # 1: fully overlapped (total == ideal), 0: serial.
  json_num overlap_fraction "$(awk -v t="${BASH_REMATCH[4]}" -v s="${BASH_REMATCH[5]}" -v o="${BASH_REMATCH[6]}" \
    'BEGIN { if (s - o > 0) printf "%.3f", (s - t) / (s - o) }')"
fi

# ---- 7. H2D: pinned vs pageable 64 MB, and the feeder's own copy rate ----
h2d="$BUILD/h2d.json"
"$BUILD/bench/device_feeder_bench" --benchmark_filter='BM_H2D|BM_FeederCopy' --benchmark_min_time="$BENCH_MIN_TIME" \
  --benchmark_format=json >"$h2d" 2>>"$LOG" || status=$EXIT_FAIL
cat "$h2d" >>"$LOG"
# bytes_per_second of the first benchmark whose name starts with $1.
bench_bps() {
  awk -v want="$1" '/"name":/ { name = $0; sub(/.*"name": *"/, "", name); sub(/".*/, "", name) }
    /"bytes_per_second":/ && index(name, want) == 1 { v = $0; sub(/.*: */, "", v); sub(/,.*/, "", v); print v; exit }' "$h2d"
}
gb() { awk -v b="${1:-}" 'BEGIN { if (b != "") printf "%.2f", b / 1e9 }'; }
pinned=$(gb "$(bench_bps BM_H2D/1)")
pageable=$(gb "$(bench_bps BM_H2D/0)")
feeder_copy=$(gb "$(bench_bps BM_FeederCopy)")
json_num h2d_pinned_gbps "$pinned"
json_num h2d_pageable_gbps "$pageable"
json_num h2d_feeder_gbps "$feeder_copy"
json_num h2d_feeder_vs_pinned "$(ratio "$feeder_copy" "$pinned")"
say "H2D 64 MB: pinned $pinned GB/s, pageable $pageable GB/s, feeder $feeder_copy GB/s"

# ---- 8. stoker train: feeder vs serial on CUDA, and the CPU ----
# train LABEL DATA MODEL BATCH EPOCHS DEVICE FEEDER: figures of the last epoch (steady state).
train() {
  local label="$1" data="$2" model="$3" batch="$4" epochs="$5" device="$6" feeder="$7"
  local log="$DATA/$label.jsonl" t1
  t1=$(date +%s)
  if ! "$STOKER" train --data "$data" --model "$model" --batch "$batch" --epochs "$epochs" --device "$device" \
        --feeder "$feeder" --progress line --log "$log" >"$BUILD/$label.out" 2>&1; then
    cat "$BUILD/$label.out" >>"$LOG"
    json_str "${label}_error" "$(tail -3 "$BUILD/$label.out")"
    status=$EXIT_FAIL
    say "$label FAILED"
    return
  fi
  cat "$BUILD/$label.out" >>"$LOG"
  local last
  last=$(tail -1 "$log")
  json_num "${label}_samples_per_s" "$(field samples_per_s "$last")"
  json_num "${label}_stall_pct" "$(field stall_pct "$last")"
  json_num "${label}_loss" "$(field loss "$last")"
  json_num "${label}_feeder_h2d_gbps" "$(field h2d_gbps "$last")"
  json_num "${label}_feeder_gpu_idle_s" "$(field gpu_idle_s "$last")"
  json_num "${label}_epoch_s" "$(field seconds "$last")"
  json_num "${label}_run_s" "$(( $(date +%s) - t1 ))"
  eval "SPS_$label=\$(field samples_per_s \"\$last\")"
  eval "STALL_$label=\$(field stall_pct \"\$last\")"
  say "$label: $(field samples_per_s "$last") samples/s, stall $(field stall_pct "$last")%"
}
json_str stall_definition "feeder runs: GPU idle between releasing batch i and starting batch i+1 (CUDA events on the compute stream) / epoch time; serial and cpu runs: time the trainer waited for the pipeline / epoch time"
train fm_seed_cuda_feeder "$FM" seed 256 2 cuda on
train fm_seed_cuda_serial "$FM" seed 256 2 cuda off
train fm_seed_cpu "$FM" seed 256 1 cpu off
train c224_convnet_cuda_feeder "$S224" convnet 64 2 cuda on
train c224_convnet_cuda_serial "$S224" convnet 64 2 cuda off
train c224_convnet_cpu "$S224_CPU" convnet 32 1 cpu off

json_num fm_seed_feeder_vs_serial "$(ratio "${SPS_fm_seed_cuda_feeder:-}" "${SPS_fm_seed_cuda_serial:-}")"
json_num fm_seed_cuda_vs_cpu "$(ratio "${SPS_fm_seed_cuda_feeder:-}" "${SPS_fm_seed_cpu:-}")"
json_num c224_convnet_feeder_vs_serial "$(ratio "${SPS_c224_convnet_cuda_feeder:-}" "${SPS_c224_convnet_cuda_serial:-}")"
json_num c224_convnet_cuda_vs_cpu "$(ratio "${SPS_c224_convnet_cuda_feeder:-}" "${SPS_c224_convnet_cpu:-}")"

# Targets (reported, not enforced): stall < 2% with the feeder; feeder H2D >= 90% of pinned peak.
below2() { awk -v v="${1:-}" 'BEGIN { print (v != "" && v + 0 < 2) ? "true" : "false" }'; }
json_raw target_stall_below_2pct_fm_seed "$(below2 "${STALL_fm_seed_cuda_feeder:-}")"
json_raw target_stall_below_2pct_c224_convnet "$(below2 "${STALL_c224_convnet_cuda_feeder:-}")"
json_raw target_h2d_90pct_of_pinned "$(awk -v f="$feeder_copy" -v p="$pinned" 'BEGIN { print (f != "" && p != "" && f >= 0.9 * p) ? "true" : "false" }')"

if [ "$status" -eq 0 ]; then finish 0 "GPU check passed"; fi
finish "$status" "GPU check: some tests or runs FAILED (see the JSON and $LOG)"
