# kiln — the two commands: `make demo` and `make check`. Both set up, configure and build as
# needed.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all setup configure build demo check test lint bench bench-compare tsan clean

all: build

setup:
	@./scripts/setup.sh

$(BUILD_DIR)/build.ninja: | setup
	cmake -S . -B $(BUILD_DIR) -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 $(CMAKE_FLAGS)

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j$(JOBS)

demo: build
	$(BUILD_DIR)/bin/kiln-demo

lint:
	@./scripts/check_layering.sh
	@./scripts/check_format.sh

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

check: lint test

bench: build
	$(BUILD_DIR)/bin/kiln_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
	$(BUILD_DIR)/bin/kiln_warm_start --runs=9

# bench_peers builds the libtorch C++ peer (bench/libtorch_bench.cc) when CMake found Torch, and
# nothing otherwise; the compare scripts leave its rows out when the binary is missing.
bench-compare: build
	./scripts/setup.sh --peers
	ninja -C $(BUILD_DIR) -j$(JOBS) bench_peers
	/usr/bin/python3 bench/compare.py --kiln-bench $(BUILD_DIR)/bin/kiln_bench \
	  --libtorch-bench $(BUILD_DIR)/bin/libtorch_bench
	/usr/bin/python3 bench/compare_autodiff.py --kiln-bench $(BUILD_DIR)/bin/kiln_bench \
	  --libtorch-bench $(BUILD_DIR)/bin/libtorch_bench

# ThreadSanitizer run of the concurrency tests (kiln::function stress test and thread tests) in
# build-tsan/; builds only kiln_compiler_tests. Not part of `make check` (the build is slow).
TSAN_DIR ?= build-tsan
TSAN_FILTER ?= FunctionStressTest.*:*Thread*
tsan: setup
	cmake -S . -B $(TSAN_DIR) -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE=thread
	ninja -C $(TSAN_DIR) -j$(JOBS) kiln_compiler_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	  $(TSAN_DIR)/bin/kiln_compiler_tests --gtest_filter='$(TSAN_FILTER)'

clean:
	rm -rf $(BUILD_DIR)
