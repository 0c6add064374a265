# common/: the helpers the programs share (atomic writes, capped reads,
# durations, capped HTTP fetches, one-line logging, the clocks, JSON
# strings, growing arrays, histogram quantiles, the run folder's layout),
# archived as $(BUILD)/ar/libnpc.a for the CLI, the loadgen and the
# notifier to link.

NPC_CFLAGS := -Icommon/include $(call pc_cflags,libcurl)
NPC_LIBS := $(call pc_libs,libcurl) -lpthread
NPC_SRCS := $(wildcard common/*.c)
NPC_A := $(BUILD)/ar/libnpc.a

$(BUILD)/obj/common/%.o: EXTRA_CFLAGS = $(NPC_CFLAGS)
$(NPC_A): $(NPC_SRCS:%.c=$(BUILD)/obj/%.o)

$(foreach t,file duration http log clock run json quantile grow,\
  $(eval $(call unit_test,npc_$(t),$(NPC_A),$(NPC_LIBS),$(NPC_CFLAGS))))

# Fuzzed: the duration parser reads what users type.
$(FUZZ_DIR)/obj/common/%.o: FUZZ_EXTRA = $(NPC_CFLAGS)
$(eval $(call fuzzer,npc_duration,$(FUZZ_DIR)/obj/common/duration.o,,$(NPC_CFLAGS)))
