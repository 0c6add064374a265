/* run.json: what a run was asked to do (contracts: run.json), written by
 * the loadgen itself, atomically, before the first phase, so a report
 * reads the parameters the run really had rather than what a script
 * believed it passed. Header values are never written: only names (a
 * bearer token does not belong in a run folder). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static void duration(FILE *f, uint64_t ns)
{
  char buf[40];
  if (ns == LG_HOLD_FOREVER)
    npc_json_string(f, "forever");
  else
    npc_json_string(f, npc_duration_format((int64_t)ns, buf, sizeof buf));
}

void lg_run_json_write(FILE *f, const lg_options *o, uint64_t started_unix)
{
  const lg_call_spec *s = o->spec;
  char started[32];
  time_t t = (time_t)started_unix;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(f, "{\n  \"schema\": 1,\n  \"started\": ");
  npc_json_string(f, started);
  fputs(",\n  \"target\": ", f);
  npc_json_string(f, o->target);
  fputs(",\n  \"call\": ", f);
  npc_json_string(f, s != NULL ? s->path + 1 : LG_NOTIFIER_CALL);
  fputs(",\n  \"method_kind\": ", f);
  npc_json_string(f, s != NULL && s->unary ? "unary" : "server_streaming");
  fputs(",\n  \"proto\": ", f);
  npc_json_string(f, o->proto != NULL ? o->proto : o->protoset);
  fprintf(f, ",\n  \"test_count\": %u,\n  \"streams_per_conn\": %u", o->streams,
          o->streams_per_conn);
  fputs(",\n  \"hold\": ", f);
  duration(f, o->hold_ns);
  fprintf(f, ",\n  \"rate\": %g,\n  \"rps\": %g,\n  \"publish\": %u", o->rate,
          o->rps, o->publish);
  fputs(",\n  \"duration\": ", f);
  if (s != NULL && s->unary)
    duration(f, o->duration_ns);
  else
    fputs("null", f);
  fprintf(f, ",\n  \"tls\": %s,\n  \"headers\": [", o->tls ? "true" : "false");
  for (unsigned i = 0; i < o->metadata.n; i++) {
    if (i > 0)
      fputs(", ", f);
    npc_json_string(f, o->metadata.name[i]);
  }
  fputs("],\n  \"debug_url\": ", f);
  npc_json_string(f, o->debug_url);
  fputs(",\n  \"mode\": ", f);
  npc_json_string(f, o->run_mode);
  fputs(",\n  \"service\": ", f);
  npc_json_string(f, o->run_service);
  fputs(",\n  \"users_var\": ", f);
  npc_json_string(f, o->users_var);
  fprintf(f, ",\n  \"shard_count\": %u", o->shard_count);
  if (o->run_id != NULL) {
    fputs(",\n  \"run_id\": ", f);
    npc_json_string(f, o->run_id);
  }
  fputs("\n}\n", f);
}

int lg_run_begin(const lg_options *o, uint64_t started_unix,
                 lg_tl_source source, void *ud, lg_timeline **tl)
{
  int rc = npc_mkdirs(o->run_dir);
  if (rc == 0)
    rc = lg_run_json(o->run_dir, o, started_unix);
  if (rc != 0) {
    fprintf(stderr, "loadgen: %s/%s: %s\n", o->run_dir, NPC_RUN_PARAMS,
            strerror(-rc));
    return rc;
  }
  char path[4200], vars[2100];
  snprintf(path, sizeof path, "%s/%s", o->run_dir, NPC_RUN_TIMELINE);
  if (o->snapshot_url != NULL) {
    size_t n = strlen(o->snapshot_url);
    while (n > 0 && o->snapshot_url[n - 1] == '/')
      n--;
    snprintf(vars, sizeof vars, "%.*s/debug/vars", (int)n, o->snapshot_url);
  }
  rc = lg_timeline_start(tl, path, o->snapshot_url != NULL ? vars : NULL,
                         o->vars_interval_ns, source, ud);
  if (rc != 0)
    fprintf(stderr, "loadgen: %s: %s\n", path, strerror(-rc));
  return rc;
}

typedef struct {
  const lg_options *o;
  uint64_t started_unix;
} run_params;

static void render_params(FILE *f, const void *ud)
{
  const run_params *p = ud;
  lg_run_json_write(f, p->o, p->started_unix);
}

int lg_run_json(const char *dir, const lg_options *o, uint64_t started_unix)
{
  run_params p = {o, started_unix};
  return npc_write_atomic_rendered_in(dir, NPC_RUN_PARAMS, render_params, &p);
}
