# The README's two commands: `make demo` and `make test`. Both install what is missing
# (scripts/install-deps.sh) and build with meson + ninja.
.PHONY: demo test build bench fuzz clean

demo:
	bash scripts/install-deps.sh
	bash scripts/build.sh
	./build/vigil demo

test:
	bash scripts/test.sh

build:
	bash scripts/install-deps.sh
	bash scripts/build.sh

bench:
	bash scripts/install-deps.sh --test
	bash scripts/build.sh
	bash bench/ws_fanout.sh
	bash bench/ingest.sh
	bash bench/tiers.sh
	bash bench/picture_lane.sh
	bash bench/fmp4_mux.sh
	bash bench/passthrough_fanout.sh
	bash bench/rtsp_fanout.sh
	bash bench/hls_fanout.sh
	bash bench/hls_glass.sh
	bash bench/rtsp_glass.sh
	bash bench/cameras_per_core.sh
	bash bench/glass_to_glass.sh
	bash bench/weaklink.sh
	/usr/bin/python3 bench/ptz_latency.py build/vigil

# make test runs each libFuzzer target 2 s; this runs each FUZZ_SECONDS (default 60) on its
# corpus, new findings kept in build-fuzz/fuzz-corpus/.
FUZZ_SECONDS ?= 60
fuzz:
	bash scripts/install-deps.sh --test
	bash scripts/build.sh --tsan-fuzz
	set -e; for f in build-fuzz/fuzz_*; do [ -f "$$f" ] || continue; t=$${f#build-fuzz/fuzz_}; \
	    mkdir -p build-fuzz/fuzz-corpus/$$t; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -error_exitcode=1 \
	        build-fuzz/fuzz-corpus/$$t tests/fuzz/corpus/$$t; done

clean:
	rm -rf build build-asan build-tsan build-fuzz
