/*
 * Value formatting as pprof's measurement package does it, so a column of
 * `nprof top` reads the same as `go tool pprof -top` on the same file; and
 * the units the reports write for people (IEC bytes, milliseconds).
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

struct unit {
  const char *name;
  double factor;
};

/* pprof scales memory in 1024 steps but writes "kB", "MB" (not KiB). */
static const struct unit byte_units[] = {
    {"B", 1.0},
    {"kB", 1024.0},
    {"MB", 1024.0 * 1024},
    {"GB", 1024.0 * 1024 * 1024},
    {"TB", 1024.0 * 1024 * 1024 * 1024},
    {"PB", 1024.0 * 1024 * 1024 * 1024 * 1024},
};

static const struct unit time_units[] = {
    {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"hrs", 3600e9},
};

/* The unit table for a profile unit name and the factor of that name in it
 * (a profile may count in "milliseconds" as well as "nanoseconds"). */
static const struct unit *unit_table(const char *unit, size_t *n, double *from)
{
  static const struct {
    const char *alias;
    int time;
    double factor;
  } aliases[] = {
      {"b", 0, 1.0},
      {"byte", 0, 1.0},
      {"bytes", 0, 1.0},
      {"kb", 0, 1024.0},
      {"kilobytes", 0, 1024.0},
      {"mb", 0, 1048576.0},
      {"megabytes", 0, 1048576.0},
      {"ns", 1, 1.0},
      {"nanosecond", 1, 1.0},
      {"nanoseconds", 1, 1.0},
      {"us", 1, 1e3},
      {"microseconds", 1, 1e3},
      {"ms", 1, 1e6},
      {"milliseconds", 1, 1e6},
      {"s", 1, 1e9},
      {"sec", 1, 1e9},
      {"seconds", 1, 1e9},
  };

  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
    if (strcasecmp(unit, aliases[i].alias) == 0) {
      *from = aliases[i].factor;
      if (aliases[i].time) {
        *n = sizeof(time_units) / sizeof(time_units[0]);
        return time_units;
      }
      *n = sizeof(byte_units) / sizeof(byte_units[0]);
      return byte_units;
    }
  }
  return NULL;
}

/* The largest unit of `table` that leaves `base` (in the table's base unit)
 * at least 1, as pprof's autoScale; the base unit for 0. */
static const struct unit *pick(const struct unit *table, size_t n, double base)
{
  const struct unit *best = &table[0];

  for (size_t i = 0; i < n; i++) {
    if (table[i].factor >= best->factor && base / table[i].factor >= 1.0)
      best = &table[i];
  }
  return best;
}

const char *cli_unit_auto(int64_t value, const char *unit)
{
  size_t n = 0;
  double from = 1.0;
  const struct unit *table = unit_table(unit != NULL ? unit : "", &n, &from);
  if (table == NULL)
    return NULL;
  return pick(table, n, fabs((double)value) * from)->name;
}

const char *cli_unit_for_range(int64_t min, int64_t max, const char *unit)
{
  /* Magnitudes, saturating: the caller's values may be negative (diffs). */
  if (min < 0)
    min = min == INT64_MIN ? INT64_MAX : -min;
  if (max < 0)
    max = max == INT64_MIN ? INT64_MAX : -max;
  if (min == 0)
    min = max;
  const char *min_unit = cli_unit_auto(min, unit);
  const char *max_unit = cli_unit_auto(max, unit);
  if (min_unit == NULL || max_unit == NULL)
    return NULL;
  /* Different units and a wide range: scale the smallest value up 100x so
   * it still shows as at least 0.01 of the larger unit (pprof's
   * selectOutputUnit). */
  if (strcmp(min_unit, max_unit) != 0 && min <= INT64_MAX / 100 &&
      min * 100 < max)
    return cli_unit_auto(100 * min, unit);
  return min_unit;
}

int cli_format_value(int64_t value, const char *unit, const char *to, char *buf,
                     size_t len)
{
  assert(buf != NULL && len > 0);
  /* Doubles keep INT64_MIN's magnitude, which llabs() would not. */
  double v = fabs((double)value), from = 1.0;
  size_t n = 0;
  const struct unit *table = unit_table(unit != NULL ? unit : "", &n, &from);
  const struct unit *target = NULL;
  if (table != NULL) {
    for (size_t i = 0; to != NULL && i < n; i++) {
      if (strcmp(table[i].name, to) == 0)
        target = &table[i];
    }
    if (target == NULL)
      target = pick(table, n, v * from);
    v = v * from / target->factor;
  }
  if (value < 0)
    v = -v;
  int w = snprintf(buf, len, "%.2f", v);
  if (w < 0 || (size_t)w >= len)
    return w;
  if (w >= 3 && strcmp(buf + w - 3, ".00") == 0) {
    w -= 3;
    buf[w] = '\0';
  }
  if (strcmp(buf, "0") == 0 || strcmp(buf, "-0") == 0)
    return snprintf(buf, len, "0");
  if (target == NULL)
    return w;
  return w + snprintf(buf + w, len - (size_t)w, "%s", target->name);
}

int cli_format_percent(int64_t value, int64_t total, char *buf, size_t len)
{
  double ratio = 0;

  assert(buf != NULL && len > 0);
  if (total != 0)
    ratio = fabs((double)value / (double)total) * 100;
  if (ratio >= 99.95 && ratio <= 100.05)
    return snprintf(buf, len, "  100%%");
  if (ratio >= 1.0)
    return snprintf(buf, len, "%5.2f%%", ratio);
  /* %g is what pprof uses below 1%: "0.42%", "0.0012%", "    0%". */
  return snprintf(buf, len, "%5.2g%%", ratio);
}

/* ---- for people: the report's own units ---- */

const char *cli_fmt_bytes(double v, bool sign, char *buf, size_t len)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};

  if (isnan(v)) {
    snprintf(buf, len, "n/a");
    return buf;
  }
  const char *s = v < 0 ? "-" : sign && v > 0 ? "+" : "";
  double a = fabs(v);
  size_t u = 0;
  while (a >= 1024 && u < 4) {
    a /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%s%.0f B", s, a);
  else
    snprintf(buf, len, "%s%.1f %s", s, a, units[u]);
  return buf;
}

const char *cli_fmt_count(double v, bool sign, char *buf, size_t len)
{
  if (isnan(v))
    snprintf(buf, len, "n/a");
  else
    snprintf(buf, len, sign && v > 0 ? "+%.0f" : "%.0f", v);
  return buf;
}

const char *cli_fmt_ms(double ms, char *buf, size_t len)
{
  double a = fabs(ms);

  if (isnan(ms))
    snprintf(buf, len, "n/a");
  else if (a == 0)
    snprintf(buf, len, "0 ms");
  else if (a < 1)
    snprintf(buf, len, "%.0f us", ms * 1000);
  else if (a < 10)
    snprintf(buf, len, "%.2f ms", ms);
  else if (a < 1000)
    snprintf(buf, len, "%.1f ms", ms);
  else
    snprintf(buf, len, "%.2f s", ms / 1000);
  return buf;
}

const char *cli_fmt_pct(double pct, char *buf, size_t len)
{
  if (isnan(pct) || isinf(pct))
    snprintf(buf, len, "n/a");
  else
    snprintf(buf, len, "%+.1f%%", pct);
  return buf;
}

int cli_parse_size(const char *s, double *out)
{
  static const struct {
    const char *suffix;
    double factor;
  } sfx[] = {{"", 1},
             {"B", 1},
             {"K", 1024},
             {"KB", 1024},
             {"KiB", 1024},
             {"k", 1024},
             {"kB", 1024},
             {"M", 1048576},
             {"MB", 1048576},
             {"MiB", 1048576},
             {"G", 1073741824.},
             {"GB", 1073741824.},
             {"GiB", 1073741824.}};

  if (s == NULL || !(*s >= '0' && *s <= '9'))
    return CLI_EUSAGE;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || !isfinite(v) || v < 0)
    return CLI_EUSAGE;
  for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
    if (strcmp(end, sfx[i].suffix) == 0) {
      *out = v * sfx[i].factor;
      return 0;
    }
  }
  return CLI_EUSAGE;
}
