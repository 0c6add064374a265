# The nprof CLI (profiler/cli/), its unit tests, Go-made test profiles and
# the libFuzzer target for the profile decoder. Included by profiler/module.mk.

# libdw finds names in debug files, libdebuginfod fetches them by build ID;
# libstdc++ only for its C++ demangler.
CLI_PKGS := libcurl zlib libprotobuf-c libdw libdebuginfod
CLI_CFLAGS := -Iprofiler/cli $(NPC_CFLAGS) $(call pc_cflags,$(CLI_PKGS))
CLI_LIBS := $(call pc_libs,$(CLI_PKGS)) -lstdc++ -lm
CLI_PB_OBJ := $(BUILD)/obj/gen/profile.pb-c.o

# Modules without main(), archived: the binary and the unit tests link them.
CLI_MODULES := decode symbols units top fetch diff json vars timeline loadgen \
	analysis threshold doc chart flame html report compare merge options
CLI_A := $(BUILD)/ar/libnprofcli.a
$(CLI_A): $(CLI_MODULES:%=$(BUILD)/obj/profiler/cli/%.o) $(CLI_PB_OBJ)
CLI_LINK := $(CLI_A) $(NPC_A) $(CLI_LIBS) $(NPC_LIBS)

$(BUILD)/obj/profiler/cli/%.o: EXTRA_CFLAGS = $(CLI_CFLAGS)
# Explicit targets: a recipe-less pattern rule would not add prerequisites.
$(BUILD)/obj/profiler/cli/main.o $(CLI_MODULES:%=$(BUILD)/obj/profiler/cli/%.o): \
	$(BUILD)/gen/profile.pb-c.h

$(BUILD)/bin/nprof: $(BUILD)/obj/profiler/cli/main.o $(CLI_A) $(NPC_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(CLI_LINK)

BINS += $(BUILD)/bin/nprof

# ---- unit tests (cmocka): tests/unit/test_cli_<module>.c ----
# (test_cli_merge also links the loadgen, whose histograms it merges: it is
# declared in loadgen/module.mk.)
$(foreach t,$(filter-out cli_merge,$(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_cli_*.c))),\
  $(eval $(call unit_test,$(t),$(CLI_A) $(NPC_A),$(CLI_LIBS) $(NPC_LIBS),\
    $(CLI_CFLAGS),$(BUILD)/gen/profile.pb-c.h)))

# ---- integration: real Go profiles, go tool pprof as the reference ----
# Standard library only and GO111MODULE=off: no network, no module cache.
CLI_GOENV := GOCACHE=$(CURDIR)/build/gocache GOPATH=$(CURDIR)/build/gopath \
	GO111MODULE=off GOFLAGS= GOTOOLCHAIN=local

$(BUILD)/test/cli/goprof: tests/cli/goprof.go
	@mkdir -p $(dir $@)
	$(CLI_GOENV) go build -o $@ $<

TEST_PROGRAMS += $(BUILD)/test/cli/goprof
INTEGRATION_TESTS += tests/integration/cli_top.sh tests/integration/cli_errors.sh \
	tests/integration/cli_fetch.sh tests/integration/cli_libnprof.sh \
	tests/integration/cli_diff.sh tests/integration/cli_report.sh \
	tests/integration/cli_report_timeline.sh \
	tests/integration/cli_report_memory.sh tests/integration/cli_compare.sh \
	tests/integration/cli_debuginfod.sh tests/integration/cli_report_chromium.sh

# ---- libFuzzer: the profile decoder (plus top and the frame names on
# whatever it accepts) and the run folder's readers (JSON, vars, loadgen
# result with its histograms, timeline lines) ----
$(FUZZ_DIR)/obj/profiler/cli/%.o: FUZZ_EXTRA = $(CLI_CFLAGS)
$(eval $(call fuzzer,profile_decode,$(addprefix $(FUZZ_DIR)/obj/,\
  profiler/cli/decode.o profiler/cli/units.o profiler/cli/top.o profiler/cli/json.o \
  profiler/cli/symbols.o profiler/cli/options.o common/grow.o \
  common/file.o common/clock.o \
  gen/profile.pb-c.o),\
  $(CLI_LIBS),$(CLI_CFLAGS),$(BUILD)/gen/profile.pb-c.h))
$(eval $(call fuzzer,report_json,$(addprefix $(FUZZ_DIR)/obj/,\
  profiler/cli/json.o profiler/cli/vars.o profiler/cli/loadgen.o \
  profiler/cli/timeline.o common/file.o),-lm,$(CLI_CFLAGS)))
# nprof merge on shard results another host wrote.
$(eval $(call fuzzer,cli_merge,$(addprefix $(FUZZ_DIR)/obj/,\
  profiler/cli/merge.o profiler/cli/json.o profiler/cli/loadgen.o \
  profiler/cli/options.o profiler/cli/html.o profiler/cli/decode.o \
  profiler/cli/symbols.o gen/profile.pb-c.o common/grow.o common/file.o \
  common/json.o common/clock.o common/quantile.o),\
  $(CLI_LIBS),$(CLI_CFLAGS),$(BUILD)/gen/profile.pb-c.h))

# The known profile of tests/cli/testprof.h, written to a file.
$(BUILD)/obj/tests/cli/%.o: EXTRA_CFLAGS = $(CLI_CFLAGS)
$(BUILD)/obj/tests/cli/mkprofile.o: $(BUILD)/gen/profile.pb-c.h
$(BUILD)/test/cli/mkprofile: $(BUILD)/obj/tests/cli/mkprofile.o $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

TEST_PROGRAMS += $(BUILD)/test/cli/mkprofile

# A service with known allocations (tests/cli/alloc_service.c), preloaded
# by tests/cli/mkrundir.py --service; symbols kept, frame pointers on.
$(BUILD)/test/cli/alloc_service: tests/cli/alloc_service.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -g -O1 -o $@ $< -ldl

TEST_PROGRAMS += $(BUILD)/test/cli/alloc_service
