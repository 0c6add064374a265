# libnprof's tests (tests/unit/test_nprof_<module>.c), fuzz target and
# benchmark.

PROFILER_UNIT := heap util pprof endpoints custom cpu contention threadcreate trace \
	dump threads symbolize http vars stack
ifeq ($(SANITIZER),)
PROFILER_UNIT += malloc # owns malloc: not with a sanitizer runtime
endif

# -fno-optimize-sibling-calls: the tests name the frames they expect.
# -fno-builtin: malloc/free pairs must really reach the interposer.
# Internals (nprof__*) come from the static library.
PROFILER_TEST_CFLAGS := $(BASE_CFLAGS) $(CFLAGS) -fno-optimize-sibling-calls -fno-builtin \
	$(NPROF_CFLAGS) $(call pc_cflags,cmocka)
# TEST_LIB_DIR: where the test libraries are, for the tests that load them.
$(foreach t,$(filter-out malloc,$(PROFILER_UNIT)),$(eval $(call unit_test,nprof_$(t),\
  $(BUILD)/lib/libnprof.a,$(NPROF_LIBS),\
  -fno-optimize-sibling-calls -fno-builtin $(NPROF_CFLAGS) \
  -DTEST_LIB_DIR='"$(abspath $(BUILD)/test/lib)"',\
  $(BUILD)/gen/profile.pb-c.h)))

# test_nprof_malloc runs with another allocator's malloc_usable_size loaded ahead
# of libc (the lookup must still find libc's own).
comma := ,
ifeq ($(SANITIZER),)
$(BUILD)/test/lib/libfake_allocator.so: tests/unit/fake_allocator.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared \
		-Wl,-soname,libfake_allocator.so -o $@ $<
$(eval $(call unit_test,nprof_malloc,$(BUILD)/lib/libnprof.a,\
  -Wl$(comma)--no-as-needed -L$(BUILD)/test/lib -lfake_allocator \
  -Wl$(comma)-rpath$(comma)$(abspath $(BUILD)/test/lib) $(NPROF_LIBS),\
  -fno-optimize-sibling-calls -fno-builtin $(NPROF_CFLAGS),\
  $(BUILD)/gen/profile.pb-c.h $(BUILD)/test/lib/libfake_allocator.so))
endif

# Test programs link the shared library by absolute path.
$(BUILD)/test/bin/known_program: tests/profiler/known_program.c $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) -L$(BUILD)/lib -lnprof \
		-Wl,-rpath,$(abspath $(BUILD)/lib) -lpthread

$(BUILD)/test/bin/workload_program: tests/profiler/workload_program.c $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) -L$(BUILD)/lib -lnprof \
		-Wl,-rpath,$(abspath $(BUILD)/lib) -lpthread

# Grows its heap on command: the heap-dump test preloads libnprof into it.
$(BUILD)/test/bin/heap_grow_program: tests/profiler/heap_grow_program.c
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS)

$(BUILD)/test/bin/host_program: tests/profiler/host_program.c $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) $(PROFILER_TEST_CFLAGS) -o $@ $< $(LDFLAGS) -L$(BUILD)/lib -lnprof \
		-Wl,-rpath,$(abspath $(BUILD)/lib) -lpthread -ldl

# Shared libraries the symbolizer tests load: two of one layout (dlclose
# and dlopen at the same address), and one stripped like Debian's (its
# unstripped twin, same build ID, for pprof's PPROF_BINARY_PATH).
TEST_LIB_DIR := $(BUILD)/test/lib
$(TEST_LIB_DIR)/libnprof_dlswap_a.so $(TEST_LIB_DIR)/libnprof_dlswap_b.so: \
		$(TEST_LIB_DIR)/libnprof_dlswap_%.so: tests/profiler/dlswap_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -DWHICH=$* -o $@ $<

$(TEST_LIB_DIR)/unstripped/libnprof_stripped.so: tests/profiler/stripped_lib.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -g -O1 -fPIC -shared -Wl,--build-id -o $@ $<

$(TEST_LIB_DIR)/libnprof_stripped.so: $(TEST_LIB_DIR)/unstripped/libnprof_stripped.so
	strip --strip-all -o $@ $<

# Another malloc, preloaded before libnprof in the /debug/vars tests.
$(TEST_LIB_DIR)/libbump_malloc.so: tests/profiler/bump_malloc.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -o $@ $<

TEST_LIBS := $(TEST_LIB_DIR)/libbump_malloc.so $(TEST_LIB_DIR)/libnprof_dlswap_a.so \
	$(TEST_LIB_DIR)/libnprof_dlswap_b.so $(TEST_LIB_DIR)/libnprof_stripped.so
TEST_PROGRAMS += $(TEST_LIBS)
# Unit tests that load them (order-only: never linked in).
$(BUILD)/test/unit/test_nprof_symbolize $(BUILD)/test/unit/test_nprof_pprof: | $(TEST_LIBS)

# C++ names, for the symbolizer's demangling.
$(BUILD)/test/bin/cxx_program: tests/profiler/cxx_program.cc $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CXX) -g -O1 -o $@ $< $(LDFLAGS)

TEST_PROGRAMS += $(BUILD)/test/bin/known_program $(BUILD)/test/bin/cxx_program $(BUILD)/test/bin/workload_program \
	$(BUILD)/test/bin/heap_grow_program $(BUILD)/test/bin/host_program
INTEGRATION_TESTS += tests/integration/profiler_endpoints.py \
	tests/integration/profiler_safety.py \
	tests/integration/profiler_cpu_contention.py tests/integration/profiler_dump.py

# libFuzzer: the library's sources again, built by clang with the fuzzer's
# coverage instrumentation (no interposer: ASan owns malloc).
$(FUZZ_DIR)/obj/profiler/src/%.o: FUZZ_EXTRA = -DNPROF_SANITIZED=1 $(NPROF_CFLAGS)
PROFILER_FUZZ_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(filter-out \
	profiler/src/malloc.c profiler/src/interpose.c,$(wildcard profiler/src/*.c))) \
	$(FUZZ_DIR)/obj/gen/profile.pb-c.o $(NPROF_COMMON:%.c=$(FUZZ_DIR)/obj/%.o)
$(eval $(call fuzzer,symbol_request,$(PROFILER_FUZZ_OBJS),$(NPROF_LIBS),\
  -DNPROF_SANITIZED=1 $(NPROF_CFLAGS),$(BUILD)/gen/profile.pb-c.h))

# Benchmark: an allocation-heavy two-thread program, plain vs preloaded.
$(BUILD)/bench/alloc_bench: tests/bench/alloc_bench.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread

$(BUILD)/bench/cpu_bench $(BUILD)/bench/mutex_bench $(BUILD)/bench/realloc_bench \
		$(BUILD)/bench/align_bench $(BUILD)/bench/mallinfo_bench: \
		$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< -lpthread
# Their flags' one reader.
$(BUILD)/bench/alloc_bench $(BUILD)/bench/realloc_bench $(BUILD)/bench/align_bench: \
		tests/bench/bench_flags.h

HEAP_BENCH_PROGRAMS := $(BUILD)/bench/alloc_bench $(BUILD)/bench/realloc_bench \
	$(BUILD)/bench/align_bench
BENCH_PROGRAMS += $(HEAP_BENCH_PROGRAMS) $(BUILD)/bench/cpu_bench \
	$(BUILD)/bench/mutex_bench $(BUILD)/bench/mallinfo_bench
BENCHES += tests/bench/profiler_heap.py tests/bench/profiler_cpu.py

.PHONY: bench-profiler bench-profiler-cpu
bench-profiler: $(BUILD)/lib/libnprof.so $(HEAP_BENCH_PROGRAMS) ## heap profiler vs plain glibc: CPU (alternating pairs), instructions, realloc growth, large alignments (and heaptrack, gperftools)
	tests/bench/profiler_heap.py

bench-profiler-cpu: $(BUILD)/lib/libnprof.so $(BUILD)/bench/cpu_bench $(BUILD)/bench/mutex_bench ## CPU profiler overhead at 100 Hz (vs gperftools); uncontended mutex cost, contention profiling on vs off
	tests/bench/profiler_cpu.py

.PHONY: bench-mallinfo
bench-mallinfo: $(BUILD)/bench/mallinfo_bench ## what /debug/vars' malloc section (mallinfo2, malloc_info) costs on a fragmented heap
	$(BUILD)/bench/mallinfo_bench
