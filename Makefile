# The README's commands. Every target builds what it needs first.
# Builds use all cores of the machine; ninja is installed by scripts/bootstrap.
BUILD        ?= build
BUILD_ASAN   ?= build-asan
BUILD_FUZZ   ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS         ?= $(shell nproc)

.PHONY: all build serve test test-sanitize fuzz bench-cold-start clean

all: build

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the HTTP server on the embedded default models.
serve: build
	$(BUILD)/snapformer serve

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
$(BUILD_ASAN)/build.ninja:
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSNAPFORMER_SANITIZE=ON -DSNAPFORMER_BENCH=OFF
test-sanitize: $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)

# libFuzzer (clang) on the safetensors header parser, the tokenizers, cached values and chat templates, FUZZ_SECONDS each.
$(BUILD_FUZZ)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPFORMER_FUZZ=ON
fuzz: $(BUILD_FUZZ)/build.ninja
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_safetensors fuzz_tokenizer fuzz_cached_response fuzz_jinja
	mkdir -p $(BUILD_FUZZ)/corpus-safetensors $(BUILD_FUZZ)/corpus-tokenizer $(BUILD_FUZZ)/corpus-cached-response $(BUILD_FUZZ)/corpus-jinja
	$(BUILD_FUZZ)/fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(BUILD_FUZZ)/corpus-safetensors fuzz/corpus/safetensors
	$(BUILD_FUZZ)/fuzz_tokenizer -max_total_time=$(FUZZ_SECONDS) -max_len=512 $(BUILD_FUZZ)/corpus-tokenizer fuzz/corpus/tokenizer
	$(BUILD_FUZZ)/fuzz_cached_response -max_total_time=$(FUZZ_SECONDS) -max_len=1024 $(BUILD_FUZZ)/corpus-cached-response fuzz/corpus/cached_response
	$(BUILD_FUZZ)/fuzz_jinja -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -timeout=10 $(BUILD_FUZZ)/corpus-jinja fuzz/corpus/jinja

bench-cold-start: build
	bench/cold_start.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
