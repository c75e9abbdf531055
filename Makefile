# Kiln — top-level entry points. On a fresh machine:
#   make demo    install deps, build, make the default model, run the demo
#   make test    install deps, build, run every test (ctest)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
PREFIX ?= /usr/local

.PHONY: all deps build demo models test test-asan fuzz-smoke install clean format

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

models: build
	@KILN=$(BUILD)/bin/kiln scripts/make-models.sh

demo: models
	@BIN=$(BUILD)/bin scripts/demo.sh

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS) -LE slow

# Each libFuzzer target for a short time (FUZZ_SECONDS each), from its seed corpus.
FUZZ_SECONDS ?= 30
fuzz-smoke: deps
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DKILN_FUZZ=ON -DCMAKE_C_COMPILER=clang -DBUILD_TESTING=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@scripts/fuzz-smoke.sh build-fuzz/bin $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cu')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
