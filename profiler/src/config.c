/*
 * The environment, read once at start-up (the library's constructor, or
 * the first use), never on a request or per frame: getenv() is not safe
 * against an application's setenv() on another thread, and a figure that
 * changed under a running profile would mix two settings.
 */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static nprof__config config;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A private copy: the environment block may change under us. NULL when
 * unset or out of memory. */
static char *env_copy(const char *name)
{
  const char *v = getenv(name);
  return v ? strdup(v) : NULL;
}

static void read_env(void)
{
  nprof__t_internal++;
  config.allowed_hosts = env_copy("NPROF_ALLOWED_HOSTS");
  config.heap_wrappers = env_copy("NPROF_HEAP_WRAPPERS");
  config.cpu_hz = NPROF_DEFAULT_CPU_HZ;
  const char *hz = getenv("NPROF_CPU_HZ");
  long v;
  if (hz && nprof__parse_long(hz, 1, NPROF_MAX_CPU_HZ, &v) == 0)
    config.cpu_hz = v;
  else if (hz)
    nprof__log("NPROF_CPU_HZ=%s is not a rate in 1..%d; using %d", hz,
               NPROF_MAX_CPU_HZ, NPROF_DEFAULT_CPU_HZ);
  nprof__t_internal--;
}

const nprof__config *nprof__config_get(void)
{
  pthread_once(&once, read_env);
  return &config;
}

bool nprof__list_has(const char *list, const char *word, size_t len)
{
  while (list && *list) {
    list += strspn(list, " \t,");
    size_t n = strcspn(list, ",");
    size_t m = n;
    while (m && (list[m - 1] == ' ' || list[m - 1] == '\t'))
      m--;
    if (m && m == len && strncasecmp(list, word, len) == 0)
      return true;
    list += n;
  }
  return false;
}
