# The two commands: `make run` and `make test`. Everything else is a helper.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
DATA       ?= var
LISTEN     ?= 127.0.0.1:8080
DOMAIN     ?= localhost
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# Layers whose libraries must export only symbols with the layer's prefix
# (scripts/check-layers.py; the include rules hold for every layer). http and
# server join once their symbols are renamed: `scripts/check-layers.py --report
# build` lists what is left.
SYMBOLS_ENFORCED ?= base crypto mls ap hub http store server client

.PHONY: all deps build build-asan wasm run demo test test-fast test-asan fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DAIM_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DAIM_WERROR=ON -DAIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_COMPILER=clang $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# The MLS library and crypto layer in WebAssembly, with the vectors runner for
# Node (build-wasm/; OpenSSL's libcrypto from Debian's source, built once).
wasm:
	@scripts/wasm-build.sh build-wasm

# make run: build, create ./var on first use, serve http://127.0.0.1:8080
run: build
	@scripts/run.sh $(BUILD)/bin/aimd $(DATA) $(DOMAIN) $(LISTEN)

# make demo: build, then two domains on loopback with TLS, alice@a.test and bob@b.test
# talking in a channel, every step and decrypted message printed; all removed afterwards.
demo: build
	@scripts/demo.sh $(BUILD)

# make test: everything, in the normal build and under ASan+UBSan, plus fuzz smoke runs.
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build build-asan
	@scripts/wasm-build.sh build-wasm
	@scripts/test-setup.sh
	@scripts/check-no-shared.sh
	@scripts/check-threat-ids.sh
	@scripts/check-layers.py --enforce-symbols "$(SYMBOLS_ENFORCED)" $(BUILD)
	@scripts/check-file-loops.py $(BUILD) server
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -LE nosan
	@$(MAKE) --no-print-directory fuzz-smoke

# Quicker loop while developing: the normal build only.
test-fast: build
	@scripts/check-no-shared.sh
	@scripts/check-threat-ids.sh
	@scripts/check-layers.py --enforce-symbols "$(SYMBOLS_ENFORCED)" $(BUILD)
	@scripts/check-file-loops.py $(BUILD) server
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DAIM_FUZZ=ON -DAIM_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)

fuzz-smoke: fuzz
	@scripts/fuzz-smoke.sh $(FUZZ_BUILD)/bin $(or $(FUZZ_SECONDS),10)

bench: build
	@scripts/bench.sh $(BUILD)/bin

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
