# lir — thin wrapper over CMake and the test runners. On a fresh Debian 12 machine (root):
#   make run    install what is missing, build, stream a completion from the default model (models/),
#               then lir serve with the dashboard at http://127.0.0.1:7373/ (SERVE=0: no server)
#   make test   install what is missing, build, run every test (what CI runs: .ci/run)
#   make bench  build and compare speed and memory with llama.cpp (bench/README.md)
# Other targets: deps, build, build-asan, build-cuda, unit, ggml-check, unit-asan, fuzz, parity, clean.

JOBS        ?= 2
BUILD_TYPE  ?= Release
FUZZ_SECS   ?= 60
RUN_MODEL   ?= models/kjv-11m-q8_0.gguf
RUN_PROMPT  ?= In the beginning
RUN_ARGS    ?= -n 64 --temp 0.8 --seed 1
SERVE       ?= 1
SERVE_ADDR  ?= 127.0.0.1:7373

.PHONY: all deps build build-asan build-cuda test unit ggml-check unit-asan fuzz parity run bench clean
.NOTPARALLEL: # stages run in order even under make -j (the builds parallelize inside cmake)

all: build

deps:
	@scripts/deps.sh

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build build -j$(JOBS)

build-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DLIR_SANITIZE_ADDRESS=ON -DLIR_SANITIZE_UNDEFINED=ON
	cmake --build build-asan -j$(JOBS) --target lir_tests

# The CUDA backend (-DLIR_CUDA=ON, sm_90) must compile; its tests (tests/backend/test_cuda.c) run
# on a GPU machine (they skip without one: build-cuda/lir_tests --filter 'cuda/*').
build-cuda:
	@if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then \
	  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLIR_CUDA=ON && \
	  cmake --build build-cuda -j$(JOBS) --target lir lir-cuda-bench; \
	else echo "make build-cuda: no nvcc (CUDA toolkit) on this machine: CUDA build skipped"; fi

# Each runner prints its own summary (Criterion's "Synthesis", node's "# tests/# pass/# fail");
# each stage's time is printed after it; the first failing stage stops the run.
TEST_STAGES = deps build build-cuda unit ggml-check build-asan unit-asan fuzz parity
test:
	@t0=$$(date +%s); for s in $(TEST_STAGES); do t=$$(date +%s); \
	  $(MAKE) --no-print-directory $$s || { echo "make test: FAILED in stage '$$s'" >&2; exit 1; }; \
	  echo "make test: $$s done in $$(( $$(date +%s) - t )) s"; done; \
	  echo "make test: all passed in $$(( $$(date +%s) - t0 )) s"

unit:
	@test -x build/lir_tests || { echo "make: build/lir_tests is missing (no tests built?)" >&2; exit 1; }
	@echo "== unit tests (Release) =="
	build/lir_tests --jobs $(JOBS)

unit-asan:
	@test -x build-asan/lir_tests || { echo "make: build-asan/lir_tests is missing" >&2; exit 1; }
	@echo "== unit tests (ASan + UBSan) =="
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp build-asan/lir_tests --jobs $(JOBS)

# The "ggml" kernel table (LIR_CPU_ISA=ggml) against llama.cpp's own ggml op by op (tests/ggml):
# ggml's headers come from the llama.cpp source bundle inside node-llama-cpp (same release as its
# prebuilt libraries), cloned once into out/llama.cpp.
GGML_BUNDLE = node_modules/node-llama-cpp/llama/gitRelease.bundle
ggml-check:
	@test -f $(GGML_BUNDLE) || { echo "make: $(GGML_BUNDLE) is missing (run make deps)" >&2; exit 1; }
	@test -f out/llama.cpp/ggml/include/ggml.h || { rm -rf out/llama.cpp && mkdir -p out && \
	  git clone -q $(GGML_BUNDLE) out/llama.cpp 2>/dev/null; }
	cmake -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLIR_GGML_SRC=$(CURDIR)/out/llama.cpp
	cmake --build build -j$(JOBS) --target lir_ggml_tests
	@echo "== the ggml kernel table against llama.cpp's ggml (tests/ggml) =="
	build/lir_ggml_tests --jobs $(JOBS)

fuzz:
	@if [ -x fuzz/run.sh ]; then echo "== fuzz ($(FUZZ_SECS) s) =="; fuzz/run.sh $(FUZZ_SECS); \
	 elif [ -e fuzz/run.sh ]; then echo "== fuzz ($(FUZZ_SECS) s) =="; bash fuzz/run.sh $(FUZZ_SECS); \
	 else echo "== fuzz: fuzz/run.sh not present, skipped =="; fi

parity:
	@echo "== parity with llama.cpp and real clients, the dashboard in chromium (node --test tests/parity/ tests/server/ tests/dashboard/) =="
	node --test tests/parity/ tests/server/ tests/dashboard/

# The main job: stream a completion from the default model (an 11M-parameter llama trained on the
# King James Bible, models/README.md), then serve models/ over HTTP with the dashboard at
# http://$(SERVE_ADDR)/ until Ctrl-C. SERVE=0: the completion only. Other models and prompts:
# make run RUN_MODEL=path.gguf RUN_PROMPT="..." RUN_ARGS="-n 128 --temp 0".
run: deps build
	@test -x build/lir || { echo "make: build/lir is missing" >&2; exit 1; }
	@test -f $(RUN_MODEL) || { echo "make: $(RUN_MODEL) is missing" >&2; exit 1; }
	build/lir run $(RUN_MODEL) "$(RUN_PROMPT)" $(RUN_ARGS)
	@if [ "$(SERVE)" != 0 ]; then \
	  echo "make run: serving $(dir $(RUN_MODEL)) — dashboard and APIs at http://$(SERVE_ADDR)/ (Ctrl-C stops)"; \
	  build/lir serve --models-dir $(dir $(RUN_MODEL)) --host $(firstword $(subst :, ,$(SERVE_ADDR))) \
	    --port $(lastword $(subst :, ,$(SERVE_ADDR))); fi

bench: deps build
	bench/run.sh

clean:
	rm -rf build build-asan build-fuzz out
