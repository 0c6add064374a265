/* notifier-sim/registry.c: users by id, several streams per user, counts,
 * --max-streams, snapshots and the dense array's swap-remove. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static int releases;

static int no_send(ntf_stream *s, ntf_note *n)
{
  (void)s;
  ntf_note_unref(n);
  return 0;
}
static void no_finish(ntf_stream *s)
{
  (void)s;
}
static void release(ntf_stream *s)
{
  releases++;
  free(s);
}
static const ntf_stream_ops ops = {no_send, no_finish, release};

static ntf_stream *mk(const char *user)
{
  size_t len = strlen(user);
  ntf_stream *s = malloc(ntf_stream_size(len));
  assert_non_null(s);
  assert_int_equal(ntf_stream_init(s, user, len, 4, &ops), 0);
  return s;
}

static bool contains(ntf_stream **v, size_t n, ntf_stream *s)
{
  for (size_t i = 0; i < n; i++)
    if (v[i] == s)
      return true;
  return false;
}

static void drop_snapshot(ntf_stream **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    ntf_stream_unref(v[i]);
  free(v);
}

static void test_users_and_streams(void **state)
{
  (void)state;
  ntf_registry r;
  ntf_registry_counts c;
  assert_int_equal(ntf_registry_init(&r, 0), 0);
  ntf_stream *a1 = mk("alice"), *a2 = mk("alice"), *b = mk("bob");
  assert_int_equal(ntf_registry_add(&r, a1, &c), 0);
  assert_int_equal(c.streams, 1);
  assert_int_equal(c.users, 1);
  assert_int_equal(c.user_delta, 1);
  assert_int_equal(ntf_registry_add(&r, a2, &c), 0);
  assert_int_equal(c.streams, 2);
  assert_int_equal(c.users, 1);
  assert_int_equal(c.user_delta, 0);
  assert_int_equal(ntf_registry_add(&r, b, &c), 0);
  assert_int_equal(c.users, 2);

  ntf_stream **v;
  size_t n;
  assert_int_equal(ntf_registry_snapshot(&r, "alice", 5, &v, &n), 0);
  assert_int_equal(n, 2);
  assert_true(contains(v, n, a1) && contains(v, n, a2));
  drop_snapshot(v, n);
  assert_int_equal(ntf_registry_snapshot(&r, "ali", 3, &v, &n), 0);
  assert_int_equal(n, 0); /* prefixes do not match */
  assert_null(v);
  assert_int_equal(ntf_registry_snapshot(&r, NULL, 0, &v, &n), 0);
  assert_int_equal(n, 3);
  drop_snapshot(v, n);

  assert_int_equal(ntf_registry_remove(&r, a1, &c), 0);
  assert_int_equal(c.user_delta, 0);
  assert_int_equal(ntf_registry_remove(&r, a1, &c), NTF_ECLOSED);
  assert_int_equal(ntf_registry_remove(&r, a2, &c), 0);
  assert_int_equal(c.user_delta, -1);
  assert_int_equal(c.users, 1);
  assert_int_equal(ntf_registry_snapshot(&r, "alice", 5, &v, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(ntf_registry_remove(&r, b, &c), 0);
  assert_int_equal(c.streams, 0);
  assert_int_equal(c.users, 0);

  releases = 0;
  ntf_stream_unref(a1);
  ntf_stream_unref(a2);
  ntf_stream_unref(b);
  assert_int_equal(releases, 3);
  ntf_registry_close(&r);
}

static void test_snapshot_holds_references(void **state)
{
  (void)state;
  ntf_registry r;
  assert_int_equal(ntf_registry_init(&r, 0), 0);
  ntf_stream *s = mk("carol");
  ntf_registry_add(&r, s, NULL);
  ntf_stream **v;
  size_t n;
  ntf_registry_snapshot(&r, NULL, 0, &v, &n);
  releases = 0;
  ntf_registry_remove(&r, s, NULL);
  ntf_stream_unref(s);           /* the owner leaves */
  assert_int_equal(releases, 0); /* the snapshot still holds it */
  ntf_note *note = ntf_note_new(1, "x", 1);
  assert_int_equal(ntf_stream_offer(v[0], note), NTF_OFFER_QUEUED);
  drop_snapshot(v, n);
  assert_int_equal(releases, 1);
  assert_int_equal(atomic_load(&note->refs), 1); /* the queue let go */
  ntf_note_unref(note);
  ntf_registry_close(&r);
}

static void test_max_streams(void **state)
{
  (void)state;
  ntf_registry r;
  assert_int_equal(ntf_registry_init(&r, 2), 0);
  ntf_stream *s[3] = {mk("a"), mk("b"), mk("c")};
  assert_int_equal(ntf_registry_add(&r, s[0], NULL), 0);
  assert_int_equal(ntf_registry_add(&r, s[1], NULL), 0);
  assert_int_equal(ntf_registry_add(&r, s[2], NULL), NTF_EFULL);
  assert_int_equal(s[2]->all_index, SIZE_MAX);
  ntf_registry_remove(&r, s[0], NULL);
  assert_int_equal(ntf_registry_add(&r, s[2], NULL), 0);
  size_t users;
  assert_int_equal(ntf_registry_count(&r, &users), 2);
  assert_int_equal(users, 2);
  ntf_registry_remove(&r, s[1], NULL);
  ntf_registry_remove(&r, s[2], NULL);
  for (int i = 0; i < 3; i++)
    ntf_stream_unref(s[i]);
  ntf_registry_close(&r);
}

/* Thousands of users (the table grows) and removals in a scrambled order
 * (swap-remove moves streams around): every snapshot is exactly the set
 * still registered, and every lookup still finds its user. */
static void test_many_users_swap_remove(void **state)
{
  (void)state;
  enum { N = 5000 };
  ntf_registry r;
  assert_int_equal(ntf_registry_init(&r, 0), 0);
  static ntf_stream *s[N];
  static bool live[N];
  char id[32];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "user-%d", i % 2500); /* two streams per user */
    s[i] = mk(id);
    assert_int_equal(ntf_registry_add(&r, s[i], NULL), 0);
    live[i] = true;
  }
  size_t users;
  assert_int_equal(ntf_registry_count(&r, &users), N);
  assert_int_equal(users, 2500);
  assert_true(r.nbuckets >= 2500);
  size_t left = N;
  for (int k = 0; k < N; k += 3) {
    int i = (k * 7919) % N;
    if (!live[i])
      continue;
    assert_int_equal(ntf_registry_remove(&r, s[i], NULL), 0);
    live[i] = false;
    left--;
  }
  ntf_stream **v;
  size_t n;
  assert_int_equal(ntf_registry_snapshot(&r, NULL, 0, &v, &n), 0);
  assert_int_equal(n, left);
  for (size_t j = 0; j < n; j++) {
    assert_int_equal(v[j]->all_index, j);
    int i = -1;
    for (int t = 0; t < N; t++)
      if (s[t] == v[j])
        i = t;
    assert_true(i >= 0 && live[i]);
  }
  drop_snapshot(v, n);
  for (int i = 0; i < N; i++) {
    if (!live[i])
      continue;
    snprintf(id, sizeof id, "user-%d", i % 2500);
    assert_int_equal(ntf_registry_snapshot(&r, id, strlen(id), &v, &n), 0);
    assert_true(n >= 1 && contains(v, n, s[i]));
    drop_snapshot(v, n);
  }
  for (int i = 0; i < N; i++) {
    if (live[i])
      ntf_registry_remove(&r, s[i], NULL);
    ntf_stream_unref(s[i]);
  }
  assert_int_equal(ntf_registry_count(&r, &users), 0);
  assert_int_equal(users, 0);
  ntf_registry_close(&r);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_users_and_streams),
      cmocka_unit_test(test_snapshot_holds_references),
      cmocka_unit_test(test_max_streams),
      cmocka_unit_test(test_many_users_swap_remove),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
