/*
 * One duration syntax for every program and the Makefile: Go's
 * time.ParseDuration, which the project's users already type for
 * `go tool pprof -seconds` and friends. Before this, a bare number meant
 * milliseconds to the notifier and seconds to the loadgen; now it is an
 * error unless it is 0, and the message says what to write.
 *
 * Numbers are accumulated in integer nanoseconds, not doubles, so "1.1s" is
 * exactly 1100000000 and overflow is detected rather than rounded away.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "npc.h"

typedef struct unit {
  const char *name;
  int64_t ns;
} unit;

/* Longest names first where one is a prefix of another ("ms" before "m"). */
static const unit units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* µs, U+00B5 */
    {"\xce\xbcs", 1000}, /* μs, U+03BC */
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", 60 * (int64_t)1000000000},
    {"h", 3600 * (int64_t)1000000000},
};

static const unit *match_unit(const char *s, size_t *len)
{
  const unit *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t n = strlen(units[i].name);
    if (n > best_len && strncmp(s, units[i].name, n) == 0) {
      best = &units[i];
      best_len = n;
    }
  }
  *len = best_len;
  return best;
}

int npc_duration_parse(const char *s, int64_t *ns)
{
  if (s == NULL || *s == '\0')
    return -EINVAL;
  if (strcmp(s, "0") == 0) {
    *ns = 0;
    return 0;
  }
  const char *p = s;
  uint64_t total = 0;
  while (*p != '\0') {
    /* The whole part, then an optional fraction: at least one digit. */
    uint64_t whole = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (whole > (UINT64_MAX - 9) / 10)
        return -ERANGE;
      whole = whole * 10 + (uint64_t)(*p++ - '0');
      digits++;
    }
    uint64_t frac = 0, scale = 1;
    if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9') {
        /* Digits past nanosecond precision of an hour are dropped, as Go
         * does once its fraction would overflow. */
        if (scale <= UINT64_MAX / 100) {
          frac = frac * 10 + (uint64_t)(*p - '0');
          scale *= 10;
        }
        p++;
        digits++;
      }
    }
    if (digits == 0)
      return -EINVAL;
    size_t ulen;
    const unit *u = match_unit(p, &ulen);
    if (u == NULL)
      return -EINVAL; /* a bare number, or an unknown unit */
    p += ulen;
    uint64_t unit_ns = (uint64_t)u->ns;
    if (whole > (uint64_t)INT64_MAX / unit_ns)
      return -ERANGE;
    uint64_t v = whole * unit_ns;
    /* frac/scale of a unit, without overflow: unit_ns <= 3.6e12 and scale
     * <= 1.8e17, so split the product. */
    long double f =
        (long double)frac * (long double)unit_ns / (long double)scale;
    v += (uint64_t)f;
    if (v > (uint64_t)INT64_MAX || total > (uint64_t)INT64_MAX - v)
      return -ERANGE;
    total += v;
  }
  *ns = (int64_t)total;
  return 0;
}

char *npc_duration_format(int64_t ns, char *buf, size_t size)
{
  if (size == 0)
    return buf;
  if (ns < 0) {
    snprintf(buf, size, "-");
    if (ns == INT64_MIN)
      ns = INT64_MAX; /* off by one nanosecond, never printed in practice */
    npc_duration_format(-ns, buf + 1, size > 1 ? size - 1 : 0);
    return buf;
  }
  if (ns == 0) {
    snprintf(buf, size, "0s");
    return buf;
  }
  if (ns < 1000000000) {
    /* Below a second Go prints one unit with a fraction: 1.5ms, 250us. */
    const char *name = "ns";
    int64_t div = 1;
    if (ns >= 1000000) {
      name = "ms";
      div = 1000000;
    } else if (ns >= 1000) {
      name = "us";
      div = 1000;
    }
    int64_t whole = ns / div, rest = ns % div;
    int width = div == 1000000 ? 6 : div == 1000 ? 3 : 0;
    if (rest == 0) {
      snprintf(buf, size, "%lld%s", (long long)whole, name);
    } else {
      char frac[16];
      snprintf(frac, sizeof frac, "%0*lld", width, (long long)rest);
      for (int i = (int)strlen(frac) - 1; i > 0 && frac[i] == '0'; i--)
        frac[i] = '\0';
      snprintf(buf, size, "%lld.%s%s", (long long)whole, frac, name);
    }
    return buf;
  }
  int64_t h = ns / (3600 * (int64_t)1000000000);
  int64_t m = ns / (60 * (int64_t)1000000000) % 60;
  int64_t sec = ns / 1000000000 % 60;
  int64_t rest = ns % 1000000000;
  char s[32];
  if (rest == 0) {
    snprintf(s, sizeof s, "%llds", (long long)sec);
  } else {
    char frac[16];
    snprintf(frac, sizeof frac, "%09lld", (long long)rest);
    for (int i = 8; i > 0 && frac[i] == '0'; i--)
      frac[i] = '\0';
    snprintf(s, sizeof s, "%lld.%ss", (long long)sec, frac);
  }
  if (h > 0)
    snprintf(buf, size, "%lldh%lldm%s", (long long)h, (long long)m, s);
  else if (m > 0)
    snprintf(buf, size, "%lldm%s", (long long)m, s);
  else
    snprintf(buf, size, "%s", s);
  return buf;
}
