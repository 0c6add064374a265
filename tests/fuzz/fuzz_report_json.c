/* libFuzzer target: the JSON reader nprof report uses for /debug/vars,
 * loadgen.json and run.json. Any bytes: a tree or a clear error, never a
 * crash, and every key lookup on the result must be safe. */
#include "cli.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_json *j = NULL;
  char err[CLI_ERRLEN];
  int rc = cli_json_parse((const char *)data, size, &j, err, sizeof(err));
  if (rc == 0) {
    double d;
    (void)cli_json_get(j, "process");
    (void)cli_json_number(j, "test_count", &d);
    cli_json_free(j);
  } else if (j != NULL) {
    abort(); /* failure must leave the output untouched */
  }
  return 0;
}
