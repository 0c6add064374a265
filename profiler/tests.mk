# libnprof's tests, fuzz target and benchmark.

PROFILER_UNIT := heap util pprof endpoints custom cpu contention threadcreate trace
ifeq ($(SANITIZER),)
PROFILER_UNIT += malloc # owns malloc: not with a sanitizer runtime
endif
PROFILER_UNIT_BINS := $(PROFILER_UNIT:%=$(BUILD)/test/unit/test_%)
UNIT_TESTS += $(PROFILER_UNIT_BINS)

# -fno-optimize-sibling-calls: the tests name the frames they expect.
# -fno-builtin: malloc/free pairs must really reach the interposer.
PROFILER_TEST_CFLAGS := $(BASE_CFLAGS) $(CFLAGS) -fno-optimize-sibling-calls -fno-builtin \
	$(NPROF_CFLAGS) $(call pc_cflags,cmocka)

$(PROFILER_UNIT_BINS): $(BUILD)/test/unit/test_%: tests/unit/test_%.c \
		$(BUILD)/lib/libnprof.a $(BUILD)/gen/profile.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) $(NPROF_LINK_STATIC) \
		$(call pc_libs,cmocka)

# Test programs link the shared library by absolute path.
$(BUILD)/test/bin/known_program: tests/profiler/known_program.c $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) -L$(BUILD)/lib -lnprof \
		-Wl,-rpath,$(abspath $(BUILD)/lib) -lpthread

$(BUILD)/test/bin/workload_program: tests/profiler/workload_program.c $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) -L$(BUILD)/lib -lnprof \
		-Wl,-rpath,$(abspath $(BUILD)/lib) -lpthread

# C++ names, for the symbolizer's demangling.
$(BUILD)/test/bin/cxx_program: tests/profiler/cxx_program.cc $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CXX) -g -O1 -o $@ $< $(LDFLAGS)

TEST_PROGRAMS += $(BUILD)/test/bin/known_program $(BUILD)/test/bin/cxx_program $(BUILD)/test/bin/workload_program
INTEGRATION_TESTS += tests/integration/profiler_endpoints.py \
	tests/integration/profiler_cpu_contention.py

# libFuzzer: the library's sources again, built by clang with the fuzzer's
# coverage instrumentation (no interposer: ASan owns malloc).
FUZZ_CC := clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	-std=c17 -D_GNU_SOURCE -DNPROF_SANITIZED=1 -I$(BUILD)/gen $(NPROF_CFLAGS)
PROFILER_FUZZ_SRCS := $(filter-out profiler/src/malloc.c profiler/src/interpose.c,\
	$(wildcard profiler/src/*.c))
PROFILER_FUZZ_OBJS := $(PROFILER_FUZZ_SRCS:%.c=build/fuzz/obj/%.o) \
	build/fuzz/obj/gen/profile.pb-c.o

build/fuzz/obj/profiler/%.o: profiler/%.c $(BUILD)/gen/profile.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/obj/gen/profile.pb-c.o: $(BUILD)/gen/profile.pb-c.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -w -c -o $@ $<

build/fuzz/fuzz_symbol_request: tests/fuzz/fuzz_symbol_request.c $(PROFILER_FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(NPROF_LIBS)

FUZZERS += build/fuzz/fuzz_symbol_request

# Benchmark: an allocation-heavy two-thread program, plain vs preloaded.
$(BUILD)/bench/alloc_bench: tests/bench/alloc_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/bench/cpu_bench $(BUILD)/bench/mutex_bench: $(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

BENCH_PROGRAMS += $(BUILD)/bench/alloc_bench $(BUILD)/bench/cpu_bench \
	$(BUILD)/bench/mutex_bench
BENCHES += tests/bench/profiler_heap.py tests/bench/profiler_cpu.py

.PHONY: bench-profiler bench-profiler-cpu
bench-profiler: $(BUILD)/lib/libnprof.so $(BUILD)/bench/alloc_bench ## heap profiler overhead vs plain glibc (and heaptrack, gperftools)
	tests/bench/profiler_heap.py

bench-profiler-cpu: $(BUILD)/lib/libnprof.so $(BUILD)/bench/cpu_bench $(BUILD)/bench/mutex_bench ## CPU profiler overhead at 100 Hz (vs gperftools); uncontended mutex cost, contention profiling on vs off
	tests/bench/profiler_cpu.py
