/* Profile snapshots at the phases of a run, fetched from a profiler
 * speaking Go's /debug/pprof layout. What is fetched and the file names are
 * the run folder's layout (common/run.c); each file is written atomically
 * (npc_write_atomic), so a reader, or a report generated while the run goes
 * on, never sees half a profile; bodies are capped (npc_http_get). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

int lg_snapshot_take(const char *base_url, const char *dir, const char *phase,
                     long timeout_ms, lg_snapshot_result *res)
{
  memset(res, 0, sizeof *res);
  int rc = npc_mkdirs(dir);
  if (rc != 0) {
    snprintf(res->error, sizeof res->error, "%s: %s", dir, strerror(-rc));
    res->failed = 2;
    return -1;
  }
  size_t blen = strlen(base_url);
  while (blen > 0 && base_url[blen - 1] == '/')
    blen--;
  for (size_t i = 0; i < npc_run_nitems; i++) {
    const npc_run_item *it = &npc_run_items[i];
    char url[2048], name[256], whybuf[160];
    snprintf(url, sizeof url, "%.*s%s", (int)blen, base_url, it->path);
    snprintf(name, sizeof name, "%s.%s", phase, it->suffix);
    npc_http_response hr;
    const char *why = NULL;
    rc = npc_http_get(url, timeout_ms, NPC_HTTP_BODY_MAX, &hr);
    if (rc != 0) {
      why = hr.error;
    } else if (hr.status != 200) {
      char line[80];
      npc_http_first_line(&hr, line, sizeof line);
      snprintf(whybuf, sizeof whybuf, "HTTP %ld%s%s", hr.status,
               line[0] ? ": " : "", line);
      why = whybuf;
    } else if ((rc = npc_write_atomic_in(dir, name, hr.body, hr.len)) != 0) {
      snprintf(whybuf, sizeof whybuf, "write: %s", strerror(-rc));
      why = whybuf;
    }
    if (why == NULL) {
      res->fetched++;
    } else if (it->required) {
      res->failed++;
      if (res->error[0] == '\0')
        snprintf(res->error, sizeof res->error, "%.120s: %.70s", url, why);
    } else {
      res->missing++;
    }
    npc_http_response_free(&hr);
  }
  return res->failed == 0 ? 0 : -1;
}

void lg_snapshot_phase(const lg_options *o, lg_result *r, int phase_idx)
{
  const char *phase = lg_phase_name(phase_idx);
  r->phase_unix_ns[phase_idx] = lg_unix_ns();
  if (o->snapshot_url == NULL)
    return;
  lg_snapshot_result sr;
  lg_snapshot_take(o->snapshot_url, o->snapshot_dir, phase, 10000, &sr);
  r->snapshots_fetched += sr.fetched;
  r->snapshots_failed += sr.failed;
  if (sr.failed > 0) {
    fprintf(stderr, "loadgen: %s snapshot: %s\n", phase, sr.error);
    if (r->reason[0] == '\0')
      snprintf(r->reason, sizeof r->reason, "%s snapshot failed: %s", phase,
               sr.error);
  }
}
