# Top-level build. Each component adds its rules in its own module.mk:
#   common/module.mk, profiler/module.mk (with profiler/cli/module.mk and
#   profiler/tests.mk), notifier-sim/module.mk, loadgen/module.mk
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

# Install missing Debian packages before anything asks pkg-config for flags,
# for the purpose of the goals asked (scripts/deps.sh): building and running
# the workflow needs only the "run" packages; the tests, the benchmarks and
# the docker path bring their own on top. Goals that need no toolchain skip
# the check.
NO_DEPS_GOALS := help clean clean-local deps format format-check
TEST_GOALS := test test-unit test-integration fuzz
BENCH_GOALS := bench bench-profiler bench-profiler-cpu bench-loadgen bench-notifier
GOALS := $(or $(MAKECMDGOALS),all)
DEPS_PURPOSES := run $(if $(filter $(TEST_GOALS) test-docker,$(GOALS)),test) \
	$(if $(filter $(BENCH_GOALS),$(GOALS)),bench) \
	$(if $(filter test-docker docker-base,$(GOALS)),docker)
# NPROF_SKIP_DEPS=1: the caller provides the packages (the docker build).
ifeq ($(NPROF_SKIP_DEPS),)
ifneq ($(filter-out $(NO_DEPS_GOALS),$(GOALS)),)
ifneq ($(shell scripts/deps.sh --check $(DEPS_PURPOSES) >/dev/null 2>&1 && echo ok),ok)
$(info deps: some packages are missing; running scripts/deps.sh $(strip $(DEPS_PURPOSES)))
DEPS_STATUS := $(shell scripts/deps.sh $(DEPS_PURPOSES) >&2 && echo ok)
ifneq ($(DEPS_STATUS),ok)
$(error deps: installing the Debian packages failed; run `scripts/deps.sh $(strip $(DEPS_PURPOSES))` to see why)
endif
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

# Component archives: the objects of a component but its main(), which its
# program, its unit tests and the programs that share it link.
$(BUILD)/ar/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# One way to declare a unit test: tests/unit/test_NAME.c, linked with the
# archives (or objects) and libraries of the component it tests.
#   $(eval $(call unit_test,NAME,ARCHIVES,LIBS,CFLAGS[,ORDER-ONLY PREREQS]))
# Adding a test is this one line (or one word in a component's list).
define unit_test
$(BUILD)/obj/tests/unit/test_$(1).o: EXTRA_CFLAGS = $(4) $$(call pc_cflags,cmocka)
$(BUILD)/obj/tests/unit/test_$(1).o: | $(5)
$(BUILD)/test/unit/test_$(1): $(BUILD)/obj/tests/unit/test_$(1).o $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) -o $$@ $$^ $$(LDFLAGS) $(3) $$(call pc_libs,cmocka)
UNIT_TESTS += $(BUILD)/test/unit/test_$(1)
.SECONDARY: $(BUILD)/obj/tests/unit/test_$(1).o
endef

# libFuzzer targets: clang, with ASan and UBSan, one set of flags for every
# component; their objects live apart from the gcc tree under $(FUZZ_DIR).
# A component sets FUZZ_EXTRA (its include flags) for its own objects with a
# pattern-specific variable, as for the gcc objects.
#   $(eval $(call fuzzer,NAME,OBJECTS,LIBS,CFLAGS[,ORDER-ONLY PREREQS]))
# builds $(FUZZ_DIR)/fuzz_NAME from tests/fuzz/fuzz_NAME.c (CFLAGS) and
# OBJECTS (fuzz objects of the code under test).
FUZZ_CC := clang
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 $(WARNINGS) -fno-omit-frame-pointer \
	-I$(BUILD)/gen -fsanitize=address,undefined -fno-sanitize-recover=all
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_EXTRA) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_DIR)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -fsanitize=fuzzer-no-link -c -o $@ $<
define fuzzer
$(FUZZ_DIR)/obj/tests/fuzz/fuzz_$(1).o: FUZZ_EXTRA = $(4)
$(FUZZ_DIR)/obj/tests/fuzz/fuzz_$(1).o $(2): | $(5)
$(FUZZ_DIR)/fuzz_$(1): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_$(1).o $(2)
	@mkdir -p $$(dir $$@)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$^ $(3)
FUZZERS += $(FUZZ_DIR)/fuzz_$(1)
endef

include common/module.mk
include profiler/module.mk
-include notifier-sim/module.mk
-include loadgen/module.mk

# The workflow's own end-to-end tests (make local, notifier-load-test,
# load-test, clean-local on the native path, for the notifier and for a
# service of the tests' own; SHARDS and the Kubernetes manifests); the
# docker path is `make test-docker`.
INTEGRATION_TESTS += tests/integration/workflow_native.sh \
	tests/integration/workflow_service.sh tests/integration/workflow_shards.sh \
	tests/integration/deploy_kubernetes.sh


.PHONY: all deps help clean format test test-unit test-integration test-sanitize \
	fuzz bench local clean-local notifier-load-test load-test docker-base test-docker \
	k8s-manifests \
	format-check

all: $(LIBS) $(BINS) ## build the library, the CLI and the programs into build/

DEPS ?= all
deps: ## install the Debian packages (DEPS=run|pprof|test|bench|docker|all; default all)
	scripts/deps.sh $(DEPS)

test: all $(UNIT_TESTS) $(TEST_PROGRAMS) ## formatting, all tests, then the unit tests under ASan+UBSan, then the fuzzers briefly
	$(MAKE) --no-print-directory format-check
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
	FUZZ_WORK=$(BUILD)/fuzz-work tests/run-fuzzers.sh $(FUZZ_SECONDS) $(FUZZERS)

bench: all $(BENCH_PROGRAMS) ## every benchmark, side by side with its baseline, as ratios
	tests/run.sh bench $(BENCHES)

# ---- the workflow ----
# Knobs go to the scripts in the environment, each quoted for the shell
# (values may hold quotes: DATA='user: "u{user}"', SERVICE='prog --flag x');
# the loadgen judges them (loadgen --check), the scripts pass them on.
TEST_COUNT ?= 1000
HOLD ?= 10s
RATE ?= 0
PUBLISH ?= 0
STREAMS_PER_CONN ?= 1
WORKFLOW_VARS := TEST_COUNT HOLD RATE PUBLISH STREAMS_PER_CONN MAX_BYTES_PER_USER \
	MAX_RETAINED_BYTES LOCAL_MODE LOADGEN_THREADS GRPC_PORT DEBUG_PORT DEBUG_URL \
	TARGET CALL PROTO PROTOSET IMPORT_PATH DATA DATA_FILE RPS DURATION CONCURRENCY \
	MAX_ERRORS LATENCY_FIELD USERS_VAR HEADERS TLS CACERT INSECURE SERVER_NAME \
	LOADGEN_ARGS SERVICE SERVICE_PORT SHARDS SHARD_TIMEOUT K8S_COLLECT K8S_SERVICE \
	K8S_IMAGE_REGISTRY K8S_RUN_ID K8S_LINGER
shell_quote = '$(subst ','\'',$(1))'
WORKFLOW_ENV = $(foreach v,$(WORKFLOW_VARS),$(v)=$(call shell_quote,$($(v))))

local: all ## start the notifier in dev mode (LOCAL_MODE=docker|native), or SERVICE='CMD ARGS' under libnprof
	@$(WORKFLOW_ENV) scripts/local.sh up

notifier-load-test: all ## TEST_COUNT=N users on the notifier (starts it if needed); snapshots and report
	@$(WORKFLOW_ENV) scripts/load-test.sh notifier

load-test: all ## TARGET=HOST:PORT CALL=PKG.SVC/METHOD PROTO=FILE DATA=TEXT TEST_COUNT=N: any service; snapshots and report
	@$(WORKFLOW_ENV) scripts/load-test.sh service

k8s-manifests: all ## TEST_COUNT=N SHARDS=K ...: the notifier and K loadgen shards (an Indexed Job) for Kubernetes, into build/k8s/
	@$(WORKFLOW_ENV) scripts/shards.sh k8s build/k8s

clean-local: ## stop what make local started, the notifier or a SERVICE (never deletes snapshots)
	@$(WORKFLOW_ENV) scripts/local.sh down

docker-base: ## build the docker base images from Debian's packages (debootstrap + docker import)
	scripts/docker-base.sh

test-docker: all ## the workflow on the docker path (installs docker.io and starts dockerd as root when missing)
	tests/run.sh integration tests/docker/workflow_docker.sh

format: ## clang-format every C and C++ file in place
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

format-check: ## fail when a C or C++ file is not as clang-format would write it
	@bad=$$(for f in $$(git ls-files '*.c' '*.h' '*.cc'); do \
		clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: run make format for:" $$bad; exit 1; fi; \
	echo "format-check: every C file is clang-formatted"

clean: ## remove build/ (never snapshots/)
	rm -rf build

help: ## this list
	@echo "targets:"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'
	@echo "knobs (make VAR=value):"
	@grep -hE '^#knob ' $(MAKEFILE_LIST) | sed 's/^#knob /  /'

#knob TEST_COUNT=1000          users the load test holds (streams, or callers for a unary method)
#knob HOLD=10s                 how long all users stay connected (a duration: 500ms, 4s, 2m30s), or forever (until Ctrl-C)
#knob RATE=0                   new users per second during the ramp (0: as fast as it goes; 2.5 is fine)
#knob PUBLISH=0                broadcasts sent once all users are connected (the notifier)
#knob STREAMS_PER_CONN=1       users per HTTP/2 connection (1: one connection per user)
#knob MAX_BYTES_PER_USER=      the report exits 3 above this cost per user (e.g. 40K)
#knob MAX_RETAINED_BYTES=      the report exits 3 above this heap retained after drain
#knob LOCAL_MODE=              docker or native (unset: docker when an engine answers)
#knob GRPC_PORT=50051          the notifier's gRPC port on 127.0.0.1
#knob DEBUG_PORT=8086          libnprof's debug port on 127.0.0.1 (the notifier's, or SERVICE's)
#knob SERVICE='CMD ARGS'       make local: your service, started natively under LD_PRELOAD=libnprof
#knob SERVICE_PORT=            make local waits until your service accepts on this port too
#knob TARGET=HOST:PORT         make load-test: your service's gRPC address
#knob CALL=PKG.SERVICE/METHOD  the method (unary or server streaming)
#knob PROTO=FILE  PROTOSET=FILE  its .proto (IMPORT_PATH=DIR:DIR for its imports), or a descriptor set
#knob DATA='TEXT'  DATA_FILE=F the request in protobuf text format; {user} is the user's number
#knob RPS=  DURATION=          unary: calls per second for how long (default HOLD; forever)
#knob CONCURRENCY=1000         unary: calls in flight at most
#knob MAX_ERRORS=              unary: the goal is at most this % of calls failed (default: none)
#knob LATENCY_FIELD=N          streams: the int64 unix-nanos field of the response, for delivery latency
#knob HEADERS='a: 1; b: 2'     metadata on every call (';'-separated)
#knob TLS=1  CACERT=F  INSECURE=1  SERVER_NAME=N  TLS, trusted CAs, no verification, SNI and :authority
#knob USERS_VAR=NAME           your service's /debug/vars count of connected users, for the report
#knob DEBUG_URL=               the debug server to snapshot (default http://127.0.0.1:DEBUG_PORT; none: no profiles)
#knob LOADGEN_ARGS=            more loadgen flags, passed as they are (loadgen --help)
#knob SHARDS=1                 loadgen processes sharing the users, one run: a coordinator snapshots once per phase, nprof merge
#knob SHARD_TIMEOUT=30s        a shard or the coordinator silent this long fails the run
#knob K8S_COLLECT=volume       make k8s-manifests: a shared volume (coordinator, snapshots) or cp (kubectl cp, no snapshots)
#knob K8S_IMAGE_REGISTRY=      the registry the images were pushed to (nprof/notifier:dev, nprof/loadgen:dev)
#knob K8S_RUN_ID=              the run's id and folder name (default: UTC time-TEST_COUNT)
#knob K8S_SERVICE=notifier     the notifier's Deployment and Service name (the shards' target, the allowed host)
#knob K8S_LINGER=3600          K8S_COLLECT=cp: seconds a finished shard waits to be copied out
#knob SANITIZER=               e.g. address,undefined: an instrumented build under build/san
#knob FUZZ_SECONDS=30          seconds per fuzzer for make fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
