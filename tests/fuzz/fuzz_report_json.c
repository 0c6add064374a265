/* libFuzzer target: the readers nprof report and compare use on files from
 * a run folder, all outside input: the JSON parser (/debug/vars,
 * loadgen.json, run.json), what is read from the trees (vars figures, the
 * loadgen's counts and latency histograms, whose bucket indices and
 * counts come from the file), and timeline.jsonl's line reader (torn and
 * bad lines, over-long lines). Any bytes: figures or a clear error, never
 * a crash, and a failed parse leaves its output untouched. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_json *j = NULL;
  char err[CLI_ERRLEN];
  int rc = cli_json_parse((const char *)data, size, &j, err, sizeof(err));
  if (rc == 0) {
    double d;
    struct cli_vars v;
    struct cli_loadgen lg;
    (void)cli_json_number(j, "test_count", &d);
    cli_vars_read(j, "notifier.users", &v);
    cli_vars_read(cli_json_get(j, "vars"), NULL, &v);
    if (cli_loadgen_read(j, &lg) == 0) {
      for (int i = 0; i < CLI_NLAT; i++) {
        const struct cli_latency *l = &lg.latency[i];
        for (size_t k = 1; k < l->nbins; k++) {
          if (l->bins[k].lo < l->bins[k - 1].lo || l->bins[k].count <= 0)
            abort(); /* bins come out sorted, merged, nonzero */
        }
      }
      cli_loadgen_free(&lg);
    }
    cli_json_free(j);
  } else if (j != NULL) {
    abort(); /* failure must leave the output untouched */
  }
  /* The same bytes as a timeline: lines are samples, bad, or torn. */
  struct cli_timeline tl;
  memset(&tl, 0, sizeof(tl));
  if (cli_timeline_parse((const char *)data, size, "svc.users", &tl) == 0) {
    if (tl.n > CLI_TIMELINE_MAX_SAMPLES || tl.n + tl.bad > tl.lines)
      abort();
    for (size_t i = 1; i < tl.n; i++) {
      if (tl.samples[i].t < tl.samples[i - 1].t)
        abort(); /* by time */
    }
  }
  cli_timeline_free(&tl);
  return 0;
}
