# Top-level build. Each component adds its rules in its own module.mk:
#   profiler/module.mk, notifier-sim/module.mk, loadgen/module.mk, tests/module.mk
# Outputs go under $(BUILD) (default build/); `make SANITIZER=address,undefined`
# builds an instrumented tree under build/san/.
#
# `make help` lists the targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash

SANITIZER ?=
ifneq ($(SANITIZER),)
BUILD ?= build/san
else
BUILD ?= build
endif

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

# Install missing Debian packages before anything asks pkg-config for flags.
# Goals that need no toolchain skip the check.
NO_DEPS_GOALS := help clean clean-local deps format
ifneq ($(filter-out $(NO_DEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell scripts/deps.sh --check >/dev/null 2>&1 && echo ok),ok)
$(info deps: some packages are missing; running scripts/deps.sh)
DEPS_STATUS := $(shell scripts/deps.sh >&2 && echo ok)
ifneq ($(DEPS_STATUS),ok)
$(error deps: installing the Debian packages failed; run `make deps` to see why)
endif
endif
endif

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla
ifeq ($(CI),true)
WARNINGS += -Werror
endif
ifdef WERROR
WARNINGS += -Werror
endif

OPT ?= -O2
CFLAGS ?= -g $(OPT)
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARNINGS) -fno-omit-frame-pointer \
	-MMD -MP -I$(BUILD)/gen
LDFLAGS ?=

ifneq ($(SANITIZER),)
SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
BASE_CFLAGS += $(SAN_FLAGS) -DNPROF_SANITIZED=1
LDFLAGS += $(SAN_FLAGS)
endif

pc_cflags = $(shell pkg-config --cflags $(1))
pc_libs = $(shell pkg-config --libs $(1))

# Generated protobuf-c code: proto/x.proto -> $(BUILD)/gen/x.pb-c.{c,h}
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(dir $@)
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

# A component sets its own flags with a pattern-specific variable, e.g.
#   $(BUILD)/obj/loadgen/%.o: EXTRA_CFLAGS = $(call pc_cflags,libuv)
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -w -c -o $@ $<

# Filled in by the module files:
#   LIBS, BINS           products under $(BUILD)/lib and $(BUILD)/bin
#   UNIT_TESTS           cmocka programs, run by `make test` (and under ASan+UBSan)
#   TEST_PROGRAMS        helpers the integration tests start (built, not run)
#   INTEGRATION_TESTS    executable scripts under tests/integration/, run from
#                        the top folder by `make test`, each with a time limit
#   FUZZERS              libFuzzer programs, run briefly by `make test`
#   BENCH_PROGRAMS       programs the benchmarks need; BENCHES the scripts that
#                        `make bench` runs
BINS :=
LIBS :=
UNIT_TESTS :=
TEST_PROGRAMS :=
INTEGRATION_TESTS :=
FUZZERS :=
BENCH_PROGRAMS :=
BENCHES :=

include profiler/module.mk
-include notifier-sim/module.mk
-include loadgen/module.mk


.PHONY: all deps help clean format test test-unit test-integration test-sanitize \
	fuzz bench

all: $(LIBS) $(BINS) ## build the library, the CLI and the programs into build/

deps: ## install the Debian packages the project needs
	scripts/deps.sh

test: all $(UNIT_TESTS) $(TEST_PROGRAMS) ## all tests, then the unit tests under ASan+UBSan, then the fuzzers briefly
	tests/run.sh unit $(UNIT_TESTS) -- integration $(INTEGRATION_TESTS)
	$(MAKE) --no-print-directory SANITIZER=address,undefined test-unit
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

test-unit: $(UNIT_TESTS) ## unit tests only (honours SANITIZER=)
	tests/run.sh unit $(UNIT_TESTS)

test-integration: all $(TEST_PROGRAMS) ## integration tests only
	tests/run.sh integration $(INTEGRATION_TESTS)

FUZZ_SECONDS ?= 30
# Seconds per fuzzer within `make test`.
TEST_FUZZ_SECONDS ?= 10
fuzz: $(FUZZERS) ## run every libFuzzer target for FUZZ_SECONDS each
	tests/run-fuzzers.sh $(FUZZ_SECONDS) $(FUZZERS)

bench: all $(BENCH_PROGRAMS) ## every benchmark, side by side with its baseline, as ratios
	tests/run.sh bench $(BENCHES)

format: ## clang-format every C file in place
	clang-format -i $$(git ls-files '*.c' '*.h')

clean: ## remove build/ (never snapshots/)
	rm -rf build

help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
