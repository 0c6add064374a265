# The nprof CLI (profiler/cli/), its unit tests, Go-made test profiles and
# the libFuzzer target for the profile decoder. Included by profiler/module.mk.

CLI_PKGS := libcurl zlib libprotobuf-c
CLI_CFLAGS := -Iprofiler/cli $(call pc_cflags,$(CLI_PKGS))
CLI_LIBS := $(call pc_libs,$(CLI_PKGS)) -lm
CLI_PB_OBJ := $(BUILD)/obj/gen/profile.pb-c.o

# Modules without main(), shared by the binary, the unit tests and (rebuilt
# with clang) the fuzzer.
CLI_MODULES := decode units top fetch diff json html flame report
CLI_OBJS := $(CLI_MODULES:%=$(BUILD)/obj/profiler/cli/%.o)

$(BUILD)/obj/profiler/cli/%.o: EXTRA_CFLAGS = $(CLI_CFLAGS)
# Explicit targets: a recipe-less pattern rule would not add prerequisites.
$(BUILD)/obj/profiler/cli/main.o $(CLI_OBJS): $(BUILD)/gen/profile.pb-c.h

$(BUILD)/bin/nprof: $(BUILD)/obj/profiler/cli/main.o $(CLI_OBJS) $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

BINS += $(BUILD)/bin/nprof

# ---- unit tests (cmocka): tests/unit/test_cli_<module>.c ----
CLI_TEST_CFLAGS := $(CLI_CFLAGS) $(call pc_cflags,cmocka)
CLI_TEST_LIBS := $(CLI_LIBS) $(call pc_libs,cmocka)

$(BUILD)/obj/tests/unit/test_cli_%.o: EXTRA_CFLAGS = $(CLI_TEST_CFLAGS)
CLI_TEST_OBJS := $(addprefix $(BUILD)/obj/tests/unit/test_cli_,decode.o units.o top.o \
	diff.o flame.o html.o report_json.o)
$(CLI_TEST_OBJS): $(BUILD)/gen/profile.pb-c.h

$(BUILD)/test/unit/test_cli_decode: $(BUILD)/obj/tests/unit/test_cli_decode.o \
		$(BUILD)/obj/profiler/cli/decode.o $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_units: $(BUILD)/obj/tests/unit/test_cli_units.o \
		$(BUILD)/obj/profiler/cli/units.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_top: $(BUILD)/obj/tests/unit/test_cli_top.o \
		$(BUILD)/obj/profiler/cli/top.o $(BUILD)/obj/profiler/cli/units.o \
		$(BUILD)/obj/profiler/cli/decode.o $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_diff: $(BUILD)/obj/tests/unit/test_cli_diff.o \
		$(BUILD)/obj/profiler/cli/diff.o $(BUILD)/obj/profiler/cli/top.o \
		$(BUILD)/obj/profiler/cli/units.o $(BUILD)/obj/profiler/cli/decode.o \
		$(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_flame: $(BUILD)/obj/tests/unit/test_cli_flame.o \
		$(BUILD)/obj/profiler/cli/flame.o $(BUILD)/obj/profiler/cli/html.o \
		$(BUILD)/obj/profiler/cli/top.o $(BUILD)/obj/profiler/cli/units.o \
		$(BUILD)/obj/profiler/cli/decode.o $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_html: $(BUILD)/obj/tests/unit/test_cli_html.o \
		$(BUILD)/obj/profiler/cli/html.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

$(BUILD)/test/unit/test_cli_report_json: \
		$(BUILD)/obj/tests/unit/test_cli_report_json.o \
		$(BUILD)/obj/profiler/cli/json.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_TEST_LIBS)

UNIT_TESTS += $(BUILD)/test/unit/test_cli_decode $(BUILD)/test/unit/test_cli_units \
	$(BUILD)/test/unit/test_cli_top $(BUILD)/test/unit/test_cli_diff \
	$(BUILD)/test/unit/test_cli_flame $(BUILD)/test/unit/test_cli_html \
	$(BUILD)/test/unit/test_cli_report_json

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
	tests/integration/cli_report_chromium.sh

# ---- libFuzzer: the profile decoder, plus top on whatever it accepts ----
# clang objects live apart from the gcc ones: different compiler, different
# instrumentation.
FUZZ_CC := clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 $(WARNINGS) -I$(BUILD)/gen \
	$(CLI_CFLAGS) $(FUZZ_SAN)
FUZZ_CLI_OBJS := $(addprefix $(BUILD)/fuzz/obj/cli/,decode.o units.o top.o profile.pb-c.o)

$(BUILD)/fuzz/obj/cli/%.o: profiler/cli/%.c $(BUILD)/gen/profile.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/obj/cli/profile.pb-c.o: $(BUILD)/gen/profile.pb-c.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_profile_decode: tests/fuzz/fuzz_profile_decode.c \
		$(FUZZ_CLI_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(CLI_LIBS)

FUZZERS += $(BUILD)/fuzz/fuzz_profile_decode

$(BUILD)/fuzz/fuzz_report_json: tests/fuzz/fuzz_report_json.c \
		$(BUILD)/fuzz/obj/cli/json.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^

FUZZERS += $(BUILD)/fuzz/fuzz_report_json

# The known profile of tests/cli/testprof.h, written to a file.
$(BUILD)/obj/tests/cli/%.o: EXTRA_CFLAGS = $(CLI_CFLAGS)
$(BUILD)/obj/tests/cli/mkprofile.o: $(BUILD)/gen/profile.pb-c.h
$(BUILD)/test/cli/mkprofile: $(BUILD)/obj/tests/cli/mkprofile.o $(CLI_PB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

TEST_PROGRAMS += $(BUILD)/test/cli/mkprofile
