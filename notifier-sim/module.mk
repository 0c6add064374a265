# notifier-sim: the gRPC-core streaming notifier (build/bin/notifier), its
# unit tests, integration tests and benchmark.

NTF_PKGS := grpc libprotobuf-c
NTF_SRCS := $(wildcard notifier-sim/*.c)
NTF_OBJS := $(NTF_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/notifier.pb-c.o
# The modules unit tests link: no gRPC, no libnprof (validate.c decodes
# requests with protobuf-c).
NTF_CORE_OBJS := $(addprefix $(BUILD)/obj/notifier-sim/, \
	error.o log.o note.o queue.o stream.o registry.o fanout.o config.o \
	validate.o) $(BUILD)/obj/gen/notifier.pb-c.o

$(BUILD)/obj/notifier-sim/%.o: EXTRA_CFLAGS = -Inotifier-sim -Iprofiler/include \
	$(call pc_cflags,$(NTF_PKGS))
$(BUILD)/obj/notifier-sim/server.o $(BUILD)/obj/notifier-sim/validate.o: \
	$(BUILD)/gen/notifier.pb-c.h

$(BUILD)/bin/notifier: $(NTF_OBJS) $(BUILD)/lib/libnprof.so
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(NTF_OBJS) $(LDFLAGS) $(NPROF_LINK) \
		$(call pc_libs,$(NTF_PKGS)) -lpthread

BINS += $(BUILD)/bin/notifier

# Unit tests: tests/unit/test_notifier_<module>.c, one program each.
NTF_UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_notifier_*.c))
NTF_UNIT_TESTS := $(NTF_UNIT_NAMES:%=$(BUILD)/test/unit/%)

$(BUILD)/obj/tests/unit/test_notifier_%.o: EXTRA_CFLAGS = -Inotifier-sim \
	$(call pc_cflags,cmocka)

$(BUILD)/test/unit/test_notifier_%: $(BUILD)/obj/tests/unit/test_notifier_%.o \
		$(NTF_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(call pc_libs,cmocka libprotobuf-c) -lpthread

UNIT_TESTS += $(NTF_UNIT_TESTS)

# Fuzz target: request decoding and user-id checks (validate.c), built with
# clang, libFuzzer + ASan + UBSan; its objects live apart from the gcc tree
# under $(BUILD)/fuzz/.
NTF_FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 $(WARNINGS) \
	-fno-omit-frame-pointer -I$(BUILD)/gen -Inotifier-sim \
	$(call pc_cflags,libprotobuf-c) \
	-fsanitize=address,undefined -fno-sanitize-recover=all
NTF_FUZZ_OBJS := $(addprefix $(BUILD)/fuzz/obj/notifier-sim/, \
	validate.o notifier.pb-c.o)

$(BUILD)/fuzz/obj/notifier-sim/validate.o: notifier-sim/validate.c \
		notifier-sim/internal.h $(BUILD)/gen/notifier.pb-c.h
	@mkdir -p $(dir $@)
	clang $(NTF_FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/obj/notifier-sim/notifier.pb-c.o: $(BUILD)/gen/notifier.pb-c.c \
		$(BUILD)/gen/notifier.pb-c.h
	@mkdir -p $(dir $@)
	clang $(NTF_FUZZ_CFLAGS) -w -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_notifier_request: tests/fuzz/fuzz_notifier_request.c \
		$(NTF_FUZZ_OBJS) notifier-sim/internal.h
	@mkdir -p $(dir $@)
	clang $(NTF_FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(NTF_FUZZ_OBJS) \
		$(call pc_libs,libprotobuf-c)

FUZZERS += $(BUILD)/fuzz/fuzz_notifier_request

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

# Keep the test objects make would otherwise delete as intermediates.
.SECONDARY: $(NTF_UNIT_NAMES:%=$(BUILD)/obj/tests/unit/%.o)
