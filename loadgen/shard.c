/* One run over several loadgen processes: which users, which share of the
 * rates and which source addresses are this shard's.
 *
 * Shard I of N takes users I*S/N .. (I+1)*S/N - 1 of --streams S: the
 * ranges tile 0..S-1 with no gap and no overlap, so user numbers ({user}),
 * the notifier's user ids and every per-user request are disjoint across
 * shards, and a shard's size differs from another's by at most one. The
 * rates (--rate, --rps) and --concurrency are split in the same proportion,
 * so N shards together ask what one process would.
 *
 * The index and the count come from the flags or, as a Kubernetes Indexed
 * Job provides them, from JOB_COMPLETION_INDEX and NPROF_SHARD_COUNT. A
 * half-given pair, an index out of range, or a flag the environment
 * contradicts is refused before anything starts: a shard that guessed would
 * hold another shard's users twice. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void lg_shard_users(uint32_t total, uint32_t index, uint32_t count,
                    uint32_t *first, uint32_t *n)
{
  uint32_t a = (uint32_t)((uint64_t)total * index / count);
  uint32_t b = (uint32_t)((uint64_t)total * (index + 1) / count);
  *first = a;
  *n = b - a;
}

/* The flag's value, else the environment's: both given must agree. */
static int pick(const char *flag, const char *flag_name, const char *env,
                const char *env_name, uint32_t min, uint32_t max, bool *set,
                uint32_t *out, char *err, size_t errlen)
{
  uint32_t f = 0, e = 0;
  bool has_env = env != NULL && env[0] != '\0';
  if (flag != NULL && lg_options_u32(flag, min, max, &f) != 0)
    return lg_options_fail(err, errlen, "%s %s: expected %" PRIu32 "..%" PRIu32,
                           flag_name, flag, min, max);
  if (has_env && lg_options_u32(env, min, max, &e) != 0)
    return lg_options_fail(err, errlen, "%s=%s: expected %" PRIu32 "..%" PRIu32,
                           env_name, env, min, max);
  if (flag != NULL && has_env && f != e)
    return lg_options_fail(err, errlen, "%s %s and %s=%s disagree", flag_name,
                           flag, env_name, env);
  *set = flag != NULL || has_env;
  *out = flag != NULL ? f : e;
  return 0;
}

bool lg_shard_run_id_valid(const char *id)
{
  size_t n = strlen(id);
  if (n == 0 || n > LG_RUN_ID_MAX)
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
      return false;
  return true;
}

int lg_shard_resolve(lg_options *o, const lg_shard_env *in, char *err,
                     size_t errlen)
{
  bool has_index, has_count;
  uint32_t index, count;
  int rc = pick(in->index_flag, "--shard-index",
                o->coordinate ? NULL : in->index_env, "JOB_COMPLETION_INDEX", 0,
                LG_SHARD_MAX - 1, &has_index, &index, err, errlen);
  if (rc == 0)
    rc = pick(in->count_flag, "--shard-count", in->count_env,
              "NPROF_SHARD_COUNT", 1, LG_SHARD_MAX, &has_count, &count, err,
              errlen);
  if (rc != 0)
    return rc;
  o->streams_total = o->streams;
  o->shard_index = 0;
  o->shard_count = 1;
  o->user_first = 0;
  if (o->coordinate) {
    if (in->index_flag != NULL)
      return lg_options_fail(
          err, errlen, "--coordinate runs no users: it takes no --shard-index");
    if (!has_count)
      return lg_options_fail(
          err, errlen,
          "--coordinate needs --shard-count N (or NPROF_SHARD_COUNT)");
    if (o->run_dir == NULL)
      return lg_options_fail(
          err, errlen,
          "--coordinate needs --run-dir DIR, the folder every shard "
          "shares");
  } else if (has_index != has_count) {
    if (has_index)
      return lg_options_fail(
          err, errlen,
          "shard index %" PRIu32 " (%s) needs --shard-count N (or "
          "NPROF_SHARD_COUNT)",
          index,
          in->index_flag != NULL ? "--shard-index" : "JOB_COMPLETION_INDEX");
    return lg_options_fail(
        err, errlen,
        "--shard-count %" PRIu32 " needs --shard-index I (or "
        "JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job sets it)",
        count);
  } else if (!has_index) {
    if (in->run_id_flag != NULL)
      return lg_options_fail(err, errlen,
                             "--run-id names a sharded run: it needs "
                             "--shard-count (or --coordinate)");
    return 0; /* one process, as always */
  } else if (index >= count) {
    return lg_options_fail(err, errlen,
                           "shard index %" PRIu32
                           " is not below the shard count %" PRIu32
                           " (indexes are 0..%" PRIu32 ")",
                           index, count, count - 1);
  }
  const char *id = in->run_id_flag;
  if (id == NULL && in->run_id_env != NULL && in->run_id_env[0] != '\0')
    id = in->run_id_env;
  /* Shard 0 of 1 is the whole run, as one process has always been,
   * unless a run id makes it the one shard of a coordinated run. */
  if (count == 1 && !o->coordinate && id == NULL)
    return 0;
  if (count > o->streams)
    return lg_options_fail(err, errlen,
                           "--streams %" PRIu32
                           " is fewer users than --shard-count %" PRIu32
                           ": every shard needs one",
                           o->streams, count);
  if (id == NULL)
    return lg_options_fail(
        err, errlen,
        "a sharded run needs --run-id ID (or NPROF_RUN_ID), the same "
        "for every shard, so their results are never mixed with "
        "another run's");
  if (!lg_shard_run_id_valid(id))
    return lg_options_fail(
        err, errlen,
        "--run-id %.80s: expected 1..%d letters, digits, '-', '_' or "
        "'.'",
        id, LG_RUN_ID_MAX);
  o->run_id = id;
  o->shard_count = count;
  if (o->coordinate)
    return 0;
  if (o->snapshot_url != NULL)
    return lg_options_fail(
        err, errlen,
        "a shard takes no snapshots: the coordinator (loadgen "
        "--coordinate) takes them once per phase for the whole run");
  if (o->publish > 0 && o->run_dir == NULL)
    return lg_options_fail(
        err, errlen,
        "--publish in a sharded run is the coordinator's: give every "
        "shard the --run-dir loadgen --coordinate watches");
  o->shard_index = index;
  uint32_t n;
  lg_shard_users(o->streams, index, count, &o->user_first, &n);
  /* This shard's share of what the flags ask of the whole run. */
  double share = (double)n / (double)o->streams;
  o->rate *= share;
  o->rps *= share;
  uint32_t c = (uint32_t)((double)o->concurrency * share + 0.5);
  o->concurrency = c > 0 ? c : 1;
  o->streams = n;
  return 0;
}

int lg_shard_source_plan(lg_options *o, uint32_t ports_per_addr, char *err,
                         size_t errlen)
{
  uint32_t per = o->source_addrs;
  if (per == 0) {
    /* The largest shard's need, so every shard's range is the same size
     * and shard I's is found without asking the others. */
    uint32_t most = (o->streams_total + o->shard_count - 1) / o->shard_count;
    uint32_t conns = (most + o->streams_per_conn - 1) / o->streams_per_conn;
    per = lg_plan_source_addrs(conns, ports_per_addr);
  }
  uint64_t last = (uint64_t)(o->shard_index + 1) * per;
  if (last > LG_SOURCE_ADDRS_MAX)
    return lg_options_fail(
        err, errlen,
        "%" PRIu32 " shards at %" PRIu32 " source addresses each need "
        "127.0.0.1..127.0.0.%" PRIu64 ", past 127.0.0.%d: use more "
        "--streams-per-conn or fewer shards on this host",
        o->shard_count, per, (uint64_t)o->shard_count * per,
        LG_SOURCE_ADDRS_MAX);
  o->source_addrs = per;
  o->source_first = o->shard_index * per;
  return 0;
}
