# loadgen: libuv + nghttp2 + protobuf-c load generator (build/bin/loadgen),
# its unit tests, fuzz target, integration tests and benchmark.

LOADGEN_PKGS := libuv libnghttp2 libprotobuf-c libcurl
LOADGEN_CFLAGS := -Iloadgen $(call pc_cflags,$(LOADGEN_PKGS))
LOADGEN_LIBS := $(call pc_libs,$(LOADGEN_PKGS)) -lpthread -lm

LOADGEN_SRCS := $(wildcard loadgen/*.c)
# Everything but main.c, shared with the unit tests.
LOADGEN_CORE := $(filter-out loadgen/main.c,$(LOADGEN_SRCS))
LOADGEN_CORE_OBJS := $(LOADGEN_CORE:%.c=$(BUILD)/obj/%.o) \
	$(BUILD)/obj/gen/notifier.pb-c.o

$(BUILD)/obj/loadgen/%.o: EXTRA_CFLAGS = $(LOADGEN_CFLAGS)
$(LOADGEN_SRCS:%.c=$(BUILD)/obj/%.o): $(BUILD)/gen/notifier.pb-c.h

$(BUILD)/bin/loadgen: $(BUILD)/obj/loadgen/main.o $(LOADGEN_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(LOADGEN_LIBS)

BINS += $(BUILD)/bin/loadgen

# Unit tests: tests/unit/test_loadgen_<module>.c -> $(BUILD)/test/test_loadgen_<module>
LOADGEN_TEST_SRCS := $(wildcard tests/unit/test_loadgen_*.c)
LOADGEN_TESTS := $(LOADGEN_TEST_SRCS:tests/unit/%.c=$(BUILD)/test/%)

$(BUILD)/obj/tests/unit/test_loadgen_%.o: EXTRA_CFLAGS = $(LOADGEN_CFLAGS) \
	$(call pc_cflags,cmocka)
$(LOADGEN_TEST_SRCS:%.c=$(BUILD)/obj/%.o): $(BUILD)/gen/notifier.pb-c.h

$(BUILD)/test/test_loadgen_%: $(BUILD)/obj/tests/unit/test_loadgen_%.o \
		$(LOADGEN_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(LOADGEN_LIBS) $(call pc_libs,cmocka)

UNIT_TESTS += $(LOADGEN_TESTS)

# Fuzz targets: clang, libFuzzer + ASan + UBSan, objects kept apart from the
# gcc tree under $(BUILD)/fuzz/.
LOADGEN_FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -std=c17 \
	-D_GNU_SOURCE -I$(BUILD)/gen $(LOADGEN_CFLAGS)
LOADGEN_FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_loadgen_*.c)
LOADGEN_FUZZERS := $(LOADGEN_FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
LOADGEN_FUZZ_LIB := loadgen/frame.c loadgen/message.c \
	$(BUILD)/gen/notifier.pb-c.c

$(BUILD)/fuzz/fuzz_loadgen_%: tests/fuzz/fuzz_loadgen_%.c $(LOADGEN_FUZZ_LIB) \
		$(BUILD)/gen/notifier.pb-c.h loadgen/internal.h
	@mkdir -p $(dir $@)
	clang $(LOADGEN_FUZZ_FLAGS) -o $@ $< $(LOADGEN_FUZZ_LIB) \
		$(call pc_libs,libprotobuf-c)

FUZZERS += $(LOADGEN_FUZZERS)

# Integration tests (scripts; run from the top folder by tests/run.sh).
INTEGRATION_TESTS += $(sort $(wildcard tests/integration/loadgen_*.sh))

# Benchmark: 10,000 streams one connection each, 100,000 multiplexed, and
# h2load holding the same 10,000 connections.
LOADGEN_BENCHES := $(sort $(wildcard tests/bench/loadgen_*.sh))
BENCHES += $(LOADGEN_BENCHES)
BENCH_PROGRAMS += $(BUILD)/bin/loadgen

.PHONY: bench-loadgen
bench-loadgen: $(BUILD)/bin/loadgen ## loadgen benchmark only
	tests/run.sh bench $(LOADGEN_BENCHES)
