# loadgen: libuv + nghttp2 + protobuf-c load generator (build/bin/loadgen),
# its unit tests, fuzz target, integration tests and benchmark.

LOADGEN_PKGS := libuv libnghttp2 libprotobuf-c libcurl
LOADGEN_CFLAGS := -Iloadgen $(NPC_CFLAGS) $(call pc_cflags,$(LOADGEN_PKGS))
LOADGEN_LIBS := $(call pc_libs,$(LOADGEN_PKGS)) -lpthread -lm

LOADGEN_SRCS := $(wildcard loadgen/*.c)
# Everything but main.c: the component archive the program and the unit
# tests link.
LOADGEN_A := $(BUILD)/ar/libloadgen.a
$(LOADGEN_A): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out loadgen/main.c,$(LOADGEN_SRCS))) \
	$(BUILD)/obj/gen/notifier.pb-c.o
LOADGEN_LINK := $(LOADGEN_A) $(NPC_A) $(LOADGEN_LIBS) $(NPC_LIBS)

$(BUILD)/obj/loadgen/%.o: EXTRA_CFLAGS = $(LOADGEN_CFLAGS)
$(LOADGEN_SRCS:%.c=$(BUILD)/obj/%.o): $(BUILD)/gen/notifier.pb-c.h

$(BUILD)/bin/loadgen: $(BUILD)/obj/loadgen/main.o $(LOADGEN_A) $(NPC_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(LDFLAGS) $(LOADGEN_LINK)

BINS += $(BUILD)/bin/loadgen

# Unit tests: tests/unit/test_loadgen_<module>.c, one program each.
$(foreach t,$(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_loadgen_*.c)),\
  $(eval $(call unit_test,$(t),$(LOADGEN_A) $(NPC_A),$(LOADGEN_LIBS) $(NPC_LIBS),\
    $(LOADGEN_CFLAGS),$(BUILD)/gen/notifier.pb-c.h)))

# Fuzz targets: tests/fuzz/fuzz_loadgen_<name>.c against the frame and
# message decoders.
$(FUZZ_DIR)/obj/loadgen/%.o: FUZZ_EXTRA = $(LOADGEN_CFLAGS)
LOADGEN_FUZZ_OBJS := $(addprefix $(FUZZ_DIR)/obj/,loadgen/frame.o loadgen/message.o \
	gen/notifier.pb-c.o)
$(foreach t,$(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_loadgen_*.c)),\
  $(eval $(call fuzzer,$(t),$(LOADGEN_FUZZ_OBJS),$(call pc_libs,libprotobuf-c),\
    $(LOADGEN_CFLAGS),$(BUILD)/gen/notifier.pb-c.h)))

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
