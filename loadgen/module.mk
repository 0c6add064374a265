# loadgen: libuv + nghttp2 + OpenSSL + protobuf-c load generator
# (build/bin/loadgen), its unit tests, fuzz targets, integration tests and
# benchmarks.

LOADGEN_PKGS := libuv libnghttp2 libprotobuf-c libcurl openssl json-c
LOADGEN_CFLAGS := -Iloadgen $(NPC_CFLAGS) $(call pc_cflags,$(LOADGEN_PKGS))
LOADGEN_LIBS := $(call pc_libs,$(LOADGEN_PKGS)) -lpthread -lm

# Generated: the C for Debian's google/protobuf/descriptor.proto (to read
# the descriptor sets protoc writes), and proto/notifier.proto's own
# descriptor set as a byte array, so that the notifier's call needs no
# protoc at run time.
PROTOBUF_INCLUDE := /usr/include
LOADGEN_GEN_H := $(BUILD)/gen/notifier.pb-c.h $(BUILD)/gen/google/protobuf/descriptor.pb-c.h
$(BUILD)/gen/google/protobuf/descriptor.pb-c.c $(BUILD)/gen/google/protobuf/descriptor.pb-c.h: \
		$(PROTOBUF_INCLUDE)/google/protobuf/descriptor.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I$(PROTOBUF_INCLUDE) google/protobuf/descriptor.proto
$(BUILD)/gen/notifier.desc: proto/notifier.proto
	@mkdir -p $(dir $@)
	protoc --include_imports --descriptor_set_out=$@ -Iproto $<
$(BUILD)/gen/notifier_desc.c: $(BUILD)/gen/notifier.desc
	{ echo '#include <stddef.h>'; \
	  echo 'const unsigned char lg_notifier_desc[] = {'; \
	  od -An -v -tu1 $< | sed 's/\([0-9][0-9]*\)/\1,/g'; \
	  echo '};'; \
	  echo 'const size_t lg_notifier_desc_len = sizeof lg_notifier_desc;'; \
	} >$@.tmp && mv $@.tmp $@

LOADGEN_SRCS := $(wildcard loadgen/*.c)
LOADGEN_GEN_OBJS := $(BUILD)/obj/gen/notifier.pb-c.o \
	$(BUILD)/obj/gen/google/protobuf/descriptor.pb-c.o $(BUILD)/obj/gen/notifier_desc.o
# Everything but main.c: the component archive the program and the unit
# tests link.
LOADGEN_A := $(BUILD)/ar/libloadgen.a
$(LOADGEN_A): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out loadgen/main.c,$(LOADGEN_SRCS))) \
	$(LOADGEN_GEN_OBJS)
LOADGEN_LINK := $(LOADGEN_A) $(NPC_A) $(LOADGEN_LIBS) $(NPC_LIBS)

$(BUILD)/obj/loadgen/%.o: EXTRA_CFLAGS = $(LOADGEN_CFLAGS)
$(LOADGEN_SRCS:%.c=$(BUILD)/obj/%.o): $(LOADGEN_GEN_H)

$(BUILD)/bin/loadgen: $(BUILD)/obj/loadgen/main.o $(LOADGEN_A) $(NPC_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(LDFLAGS) $(LOADGEN_LINK)

BINS += $(BUILD)/bin/loadgen

# Unit tests: tests/unit/test_loadgen_<module>.c, one program each.
$(foreach t,$(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_loadgen_*.c)),\
  $(eval $(call unit_test,$(t),$(LOADGEN_A) $(NPC_A),$(LOADGEN_LIBS) $(NPC_LIBS),\
    $(LOADGEN_CFLAGS),$(LOADGEN_GEN_H))))

# nprof merge against the loadgen's own histograms and JSON: the merged
# percentiles must be those of one histogram of every shard's raw values.
$(eval $(call unit_test,cli_merge,$(CLI_A) $(LOADGEN_A) $(NPC_A),\
  $(CLI_LIBS) $(LOADGEN_LIBS) $(NPC_LIBS),$(CLI_CFLAGS) $(LOADGEN_CFLAGS),\
  $(LOADGEN_GEN_H) $(BUILD)/gen/profile.pb-c.h))

# Fuzz targets: tests/fuzz/fuzz_loadgen_<name>.c against every parser of
# what a server (or a user's file) sends: the framing, the response scan,
# the gRPC headers, descriptor sets and the request template's walk.
$(FUZZ_DIR)/obj/loadgen/%.o: FUZZ_EXTRA = $(LOADGEN_CFLAGS)
LOADGEN_FUZZ_OBJS := $(addprefix $(FUZZ_DIR)/obj/,loadgen/frame.o loadgen/message.o \
	loadgen/wire.o loadgen/response.o loadgen/grpc.o loadgen/descriptor.o \
	loadgen/template.o gen/notifier.pb-c.o gen/google/protobuf/descriptor.pb-c.o \
	gen/notifier_desc.o common/grow.o)
$(foreach t,$(filter-out loadgen_barrier,$(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_loadgen_*.c))),\
  $(eval $(call fuzzer,$(t),$(LOADGEN_FUZZ_OBJS),$(call pc_libs,libprotobuf-c),\
    $(LOADGEN_CFLAGS),$(LOADGEN_GEN_H))))
# The state files a sharded run's processes read from each other: the
# barrier rests on the clocks and files of the rest, so every module links.
LOADGEN_FUZZ_ALL := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,\
  $(filter-out loadgen/main.c,$(LOADGEN_SRCS)) $(NPC_SRCS)) \
  $(addprefix $(FUZZ_DIR)/obj/,gen/notifier.pb-c.o \
  gen/google/protobuf/descriptor.pb-c.o gen/notifier_desc.o)
$(eval $(call fuzzer,loadgen_barrier,$(LOADGEN_FUZZ_ALL),$(LOADGEN_LIBS) $(NPC_LIBS),\
  $(LOADGEN_CFLAGS),$(LOADGEN_GEN_H)))

# Programs the tests and benchmarks start: a trivial gRPC server in C on
# nghttp2 (the unary benchmark's target, fast enough that the client is
# measured, not the server).
$(BUILD)/obj/tests/bench/h2_trivial_server.o: EXTRA_CFLAGS = $(call pc_cflags,libnghttp2)
$(BUILD)/bin/h2_trivial_server: $(BUILD)/obj/tests/bench/h2_trivial_server.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(call pc_libs,libnghttp2)

# Integration tests (scripts; run from the top folder by tests/run.sh).
INTEGRATION_TESTS += $(sort $(wildcard tests/integration/loadgen_*.sh))

# Benchmarks: streams held (one connection each, multiplexed, TLS next to
# plaintext) and unary calls per second next to h2load.
LOADGEN_BENCHES := $(sort $(wildcard tests/bench/loadgen_*.sh))
BENCHES += $(LOADGEN_BENCHES)
BENCH_PROGRAMS += $(BUILD)/bin/loadgen $(BUILD)/bin/h2_trivial_server

.PHONY: bench-loadgen
bench-loadgen: $(BUILD)/bin/loadgen $(BUILD)/bin/h2_trivial_server ## loadgen benchmarks only
	tests/run.sh bench $(LOADGEN_BENCHES)
