# libnprof (shared and static) and the nprof CLI.

NPROF_PKGS := libunwind libdw libmicrohttpd zlib libprotobuf-c
NPROF_CFLAGS := -Iprofiler/include -Iprofiler/src -Icommon/include \
	$(call pc_cflags,$(NPROF_PKGS))
NPROF_LIBS := $(call pc_libs,$(NPROF_PKGS)) -lpthread -lm -ldl -lrt

NPROF_SRCS := $(wildcard profiler/src/*.c)
# Sanitizers bring their own malloc and intercept pthread: the interposers
# stay out of those builds.
ifneq ($(SANITIZER),)
NPROF_SRCS := $(filter-out profiler/src/malloc.c profiler/src/interpose.c,$(NPROF_SRCS))
endif
# Of common/, only its atomic file writes (heap dumps), its one-line logger,
# its clocks and its growing arrays: nothing of libcurl.
NPROF_COMMON := common/file.c common/log.c common/clock.c common/grow.c
NPROF_OBJS := $(NPROF_SRCS:%.c=$(BUILD)/obj/pic/%.o) $(BUILD)/obj/pic/gen/profile.pb-c.o \
	$(NPROF_COMMON:%.c=$(BUILD)/obj/pic/%.o)

# Library objects: position independent, hidden unless marked NPROF_EXTERN.
$(BUILD)/obj/pic/profiler/%.o: profiler/%.c $(BUILD)/gen/profile.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -DNPROF_BUILDING \
		-ftls-model=initial-exec -fno-plt $(NPROF_CFLAGS) -c -o $@ $<

$(BUILD)/obj/pic/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -Icommon/include \
		-c -o $@ $<

$(BUILD)/obj/pic/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -w \
		$(call pc_cflags,libprotobuf-c) -c -o $@ $<

$(BUILD)/lib/libnprof.so: $(NPROF_OBJS) profiler/libnprof.map
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $(NPROF_OBJS) -Wl,--version-script=profiler/libnprof.map \
		-Wl,-soname,libnprof.so -Wl,-z,nodelete $(LDFLAGS) $(NPROF_LIBS)

$(BUILD)/lib/libnprof.a: $(NPROF_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

LIBS += $(BUILD)/lib/libnprof.so $(BUILD)/lib/libnprof.a

# A program linked with libnprof: the shared library, found next to bin/.
NPROF_LINK := -L$(BUILD)/lib -lnprof -Wl,-rpath,'$$ORIGIN/../lib'
# Internals (nprof__*) for unit tests come from the static library.
NPROF_LINK_STATIC := $(BUILD)/lib/libnprof.a $(NPROF_LIBS)

-include profiler/cli/module.mk
-include profiler/tests.mk
