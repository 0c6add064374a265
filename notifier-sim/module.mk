# notifier-sim: the gRPC-core streaming notifier (build/bin/notifier), its
# unit tests, integration tests and benchmark.

NTF_PKGS := grpc libprotobuf-c
NTF_SRCS := $(wildcard notifier-sim/*.c)
NTF_OBJS := $(NTF_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/notifier.pb-c.o
# The modules unit tests link, archived: no gRPC, no libnprof (validate.c
# decodes requests with protobuf-c).
NTF_A := $(BUILD)/ar/libnotifier.a
$(NTF_A): $(addprefix $(BUILD)/obj/notifier-sim/, \
	error.o log.o note.o queue.o stream.o registry.o fanout.o config.o \
	validate.o) $(BUILD)/obj/gen/notifier.pb-c.o
NTF_CFLAGS := -Inotifier-sim -Iprofiler/include $(NPC_CFLAGS) $(call pc_cflags,$(NTF_PKGS))

$(BUILD)/obj/notifier-sim/%.o: EXTRA_CFLAGS = $(NTF_CFLAGS)
$(BUILD)/obj/notifier-sim/server.o $(BUILD)/obj/notifier-sim/validate.o: \
	$(BUILD)/gen/notifier.pb-c.h

$(BUILD)/bin/notifier: $(NTF_OBJS) $(NPC_A) $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(NTF_OBJS) $(LDFLAGS) $(NPC_A) $(NPROF_LINK) \
		$(call pc_libs,$(NTF_PKGS)) -lpthread

BINS += $(BUILD)/bin/notifier

# Unit tests: tests/unit/test_notifier_<module>.c, one program each.
$(foreach t,$(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_notifier_*.c)),\
  $(eval $(call unit_test,$(t),$(NTF_A) $(NPC_A),$(call pc_libs,libprotobuf-c) -lpthread,\
    -Inotifier-sim $(NPC_CFLAGS),$(BUILD)/gen/notifier.pb-c.h)))

# Fuzz target: request decoding and user-id checks (validate.c).
$(FUZZ_DIR)/obj/notifier-sim/%.o: FUZZ_EXTRA = -Inotifier-sim $(NPC_CFLAGS) \
	$(call pc_cflags,libprotobuf-c)
$(eval $(call fuzzer,notifier_request,$(addprefix $(FUZZ_DIR)/obj/,\
  notifier-sim/validate.o gen/notifier.pb-c.o),$(call pc_libs,libprotobuf-c),\
  -Inotifier-sim $(NPC_CFLAGS) $(call pc_cflags,libprotobuf-c),$(BUILD)/gen/notifier.pb-c.h))

# Integration tests start build/bin/notifier and talk to it with Debian's
# python3-grpcio (tests/notifier/ has the shared helpers).
INTEGRATION_TESTS += $(sort $(wildcard tests/integration/notifier_*))
TEST_PROGRAMS += $(BUILD)/bin/notifier

# Benchmark: RSS per connected user and broadcast latency (h2load + python).
BENCHES += tests/bench/notifier_bench
BENCH_PROGRAMS += $(BUILD)/bin/notifier

.PHONY: bench-notifier
bench-notifier: $(BUILD)/bin/notifier $(BUILD)/bin/loadgen ## notifier: RSS per user, broadcast p50/p99 (NOTIFIER_BENCH_USERS="1000 10000")
	TEST_TIMEOUT=$${TEST_TIMEOUT:-900} tests/run.sh bench tests/bench/notifier_bench
