#!/usr/bin/env bash
# The GPU benchmark, with no Node: builds llama-server from the llama.cpp source that
# node-llama-cpp bundles (CUDA when nvcc is there), generates the synthetic models
# (synthetic_gguf.py, from spec.json) and measures tagging-shaped requests at each slot count
# (bench.py). Writes $OUT/results.json, $OUT/results.md and the server logs.
#
#   test/bench/gpu/run.sh                                  # qwen3-vl-4b Q4_0 and Q8_0 at 1, 4, 8, 16, 32 slots
#   MODELS=qwen3-vl-8b:q4_0 SLOTS=1,8,32 test/bench/gpu/run.sh
#
# Environment: LLAMA_SERVER_BIN (skip the build), LLAMA_BUNDLE (default
# node_modules/node-llama-cpp/llama/gitRelease.bundle), CUDA_ARCH (default: the GPU's, from
# nvidia-smi), BUILD_DIR, MODELS, SLOTS, OUT, MODELS_DIR, GPU_LAYERS (0 on a CPU), THREADS,
# MAX_TOKENS, REQUESTS_PER_SLOT, MIN_REQUESTS, JOBS. Needs python3; for the build git, cmake,
# a C++ compiler (and nvcc for CUDA).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
OUT="${OUT:-$ROOT/data/gpu-bench}"
MODELS="${MODELS:-qwen3-vl-4b:q4_0,qwen3-vl-4b:q8_0}"
SLOTS="${SLOTS:-1,4,8,16,32}"
MODELS_DIR="${MODELS_DIR:-$OUT/models}"
BUILD_DIR="${BUILD_DIR:-$OUT/llama.cpp}"
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$OUT"

say() { printf '[gpu-bench] %s\n' "$*" >&2; }

server="${LLAMA_SERVER_BIN:-}"
if [ -z "$server" ]; then
  bundle="${LLAMA_BUNDLE:-$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle}"
  [ -f "$bundle" ] || { say "no llama.cpp source bundle at $bundle: set LLAMA_BUNDLE or LLAMA_SERVER_BIN"; exit 2; }
  for tool in git cmake c++; do command -v "$tool" >/dev/null || { say "$tool is missing (apt-get install git cmake g++)"; exit 2; }; done
  flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF
         -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DGGML_NATIVE=ON)
  # No AMX kernels: they crash the first decode of Q8_0/Q4_0 models on Sapphire Rapids (ggml-org/llama.cpp#20824).
  [ "$(uname -m)" = x86_64 ] && flags+=("-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
  nvcc="$(command -v nvcc || true)"
  [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
  if [ -n "$nvcc" ]; then
    arch="${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')}"
    [ -n "$arch" ] || { say "nvcc found but no GPU answered nvidia-smi: set CUDA_ARCH (e.g. 90)"; exit 2; }
    flags+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch" "-DCMAKE_CUDA_COMPILER=$nvcc")
    backend="cuda-$arch"
  else
    backend=cpu
  fi
  server="$BUILD_DIR/build-$backend/bin/llama-server"
  if [ ! -x "$server" ]; then
    say "building llama-server ($backend) from $bundle in $BUILD_DIR ..."
    [ -d "$BUILD_DIR/src/.git" ] || git clone --quiet "$bundle" "$BUILD_DIR/src"
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    started=$SECONDS
    cmake -S "$BUILD_DIR/src" -B "$BUILD_DIR/build-$backend" "${generator[@]}" "${flags[@]}" >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
    cmake --build "$BUILD_DIR/build-$backend" --target llama-server -j "$JOBS" >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
    say "built in $((SECONDS - started)) s: $server"
  fi
fi

gpu_layers="${GPU_LAYERS:-999}"
if [ "$gpu_layers" != 0 ] && ! command -v nvidia-smi >/dev/null; then
  say "no nvidia-smi: running on the CPU (GPU_LAYERS=0)"
  gpu_layers=0
fi

exec python3 "$HERE/bench.py" --server "$server" --models "$MODELS" --slots "$SLOTS" --models-dir "$MODELS_DIR" --out "$OUT" \
  --gpu-layers "$gpu_layers" --threads "${THREADS:-0}" --max-tokens "${MAX_TOKENS:-128}" \
  --requests-per-slot "${REQUESTS_PER_SLOT:-4}" --min-requests "${MIN_REQUESTS:-16}"
