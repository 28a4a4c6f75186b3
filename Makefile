# rwgate: the two commands of the quick start, plus benchmarks.
#   make demo   install what is missing, build, run the main job end to end
#   make test   install what is missing, build, run every test (unit, ASan+UBSan unit, integration)
#   make bench  install, build (Release), run the benchmarks
#   make bench-against BASE=REV  the same benchmarks on REV and on this tree: before/after
#   make soak   rwgate for SOAK_MINUTES under churn, watched for growth
#   make fuzz-long  each fuzz target for FUZZ_MINUTES
BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-bench
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 15
FUZZ_MINUTES ?= 10
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=
export DEMO_SECONDS

.PHONY: all deps build build-asan test test-unit test-asan test-integration fuzz fuzz-build fuzz-long fuzz-seeds soak package demo bench bench-against format check-format clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) -DRWGATE_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DRWGATE_WERROR=ON -DRWGATE_SANITIZE=address,undefined -DRWGATE_BENCH=OFF \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure -j $(JOBS)

test-integration: build
	ctest --test-dir $(BUILD) -L integration --output-on-failure

# libFuzzer targets over their corpora (regressions and captured seeds) plus FUZZ_SECONDS
# of new inputs each.
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DRWGATE_FUZZ=ON \
	  -DRWGATE_SANITIZE=address,undefined -DBUILD_TESTING=OFF -DRWGATE_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target decode_fuzz config_fuzz relabel_fuzz discovery_fuzz aws_xml_fuzz wal_fuzz web_config_fuzz trace_fuzz

fuzz: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The long run (not part of make test): FUZZ_MINUTES per target.
fuzz-long: fuzz-build
	scripts/fuzz $(FUZZ_BUILD) $$(( $(FUZZ_MINUTES) * 60 ))

# Seeds from real traffic (a Prometheus agent's requests, rwgate's segments and http_sd,
# the AWS emulator's answers) into tests/fuzz/corpus/*/capture-*; commit what changes.
fuzz-seeds: build
	scripts/fuzz-seeds $(BUILD)

# rwgate for SOAK_MINUTES (default 30) under fleet churn and a flapping sink, watched for
# growth (not part of make test): build/soak/soak.csv and soak.png; see scripts/soak.
soak: build
	scripts/soak $(BUILD)

# Every stage; any failure fails the target. Integration runs last, so its ctest summary
# closes the output.
test: check-format test-unit test-asan fuzz test-integration
	@echo "make test: all stages passed"

# The Debian package: $(BUILD)/rwgate_<version>_amd64.deb (deploy/CMakeLists.txt).
package: build
	cd $(BUILD) && cpack -G DEB

demo: build
	scripts/demo $(BUILD)

bench: deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BENCH_BUILD) -j $(JOBS)
	scripts/bench $(BENCH_BUILD)

bench-against: deps
	scripts/bench-against $(BASE) $(BENCH_BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

check-format: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h') || \
	  (echo "clang-format: run 'make format'"; exit 1)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) $(FUZZ_BUILD)
