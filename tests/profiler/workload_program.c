/*
 * A program whose CPU use, threads and lock waits are known, for the CPU,
 * threadcreate, mutex, block and trace tests. It starts libnprof on
 * 127.0.0.1:0 (or KNOWN_LISTEN), prints "listening on ADDR" and runs until
 * its stdin closes (at most 300 s).
 *
 *   workload_program cpu      burn_seventy and burn_thirty (threads
 *                             "burn70", "burn30") share their CPU time
 *                             exactly 70/30: each burns in 1 ms quanta of
 *                             its own CPU clock and waits its turn (asleep)
 *                             when it is ahead of the ratio.
 *   workload_program locks    mutex and block rates 1; hold_lock keeps a
 *                             mutex 20 ms at a time while 2 threads in
 *                             wait_for_lock queue for it; hold_rwlock and
 *                             read_rwlock the same with an rwlock;
 *                             wait_on_cond waits on a condition variable
 *                             that times out every 10 ms; spawn_workers
 *                             starts 3 threads that stay ("worker"),
 *                             spawn_and_join 4 that exit at once.
 *   workload_program sigprof  installs its own SIGPROF handler; publishes
 *                             the variable sigprof.intact = 1 while the
 *                             handler is still the application's.
 */
#include "testprog.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_long quanta70, quanta30;
static atomic_int done;

/* Runs while quanta70 / quanta30 stays at 7 / 3 (burn_turn). Samples land
 * here: burn_quantum is inlined. */
__attribute__((noinline)) static void burn_seventy(void)
{
  while (!atomic_load(&done)) {
    if (burn_turn(atomic_load(&quanta70), 7, atomic_load(&quanta30), 3)) {
      burn_quantum();
      atomic_fetch_add(&quanta70, 1);
    } else {
      nap_us(200);
    }
  }
}

__attribute__((noinline)) static void burn_thirty(void)
{
  while (!atomic_load(&done)) {
    if (burn_turn(atomic_load(&quanta30), 3, atomic_load(&quanta70), 7)) {
      burn_quantum();
      atomic_fetch_add(&quanta30, 1);
    } else {
      nap_us(200);
    }
  }
}

THREAD_MAIN(burn_seventy)
THREAD_MAIN(burn_thirty)

/* ---- locks ---- */

static pthread_mutex_t the_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t the_rwlock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int park_pipe[2];

__attribute__((noinline)) static void hold_lock(void)
{
  while (!atomic_load(&done)) {
    pthread_mutex_lock(&the_lock);
    nap_us(20000);
    pthread_mutex_unlock(&the_lock);
    nap_us(2000);
  }
}

__attribute__((noinline)) static void wait_for_lock(void)
{
  while (!atomic_load(&done)) {
    pthread_mutex_lock(&the_lock);
    pthread_mutex_unlock(&the_lock);
    nap_us(500);
  }
}

__attribute__((noinline)) static void hold_rwlock(void)
{
  while (!atomic_load(&done)) {
    pthread_rwlock_wrlock(&the_rwlock);
    nap_us(20000);
    pthread_rwlock_unlock(&the_rwlock);
    nap_us(2000);
  }
}

__attribute__((noinline)) static void read_rwlock(void)
{
  while (!atomic_load(&done)) {
    pthread_rwlock_rdlock(&the_rwlock);
    pthread_rwlock_unlock(&the_rwlock);
    nap_us(500);
  }
}

__attribute__((noinline)) static void wait_on_cond(void)
{
  pthread_mutex_lock(&cond_lock);
  while (!atomic_load(&done)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 10 * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&never, &cond_lock, &until);
  }
  pthread_mutex_unlock(&cond_lock);
}

THREAD_MAIN(hold_lock)
THREAD_MAIN(wait_for_lock)
THREAD_MAIN(hold_rwlock)
THREAD_MAIN(read_rwlock)
THREAD_MAIN(wait_on_cond)

static void *quick_main(void *arg)
{
  return arg;
}

__attribute__((noinline)) static void spawn_workers(void)
{
  for (int i = 0; i < 3; i++)
    start_thread(park_main, &park_pipe[0], "worker");
}

__attribute__((noinline)) static void spawn_and_join(void)
{
  for (int i = 0; i < 4; i++) {
    pthread_t t;
    pthread_create(&t, NULL, quick_main, NULL);
    pthread_join(t, NULL);
  }
}

/* ---- sigprof ---- */

static void app_sigprof(int sig)
{
  (void)sig;
}

static void *sigprof_watch_main(void *arg)
{
  nprof_var *intact = arg;
  while (!atomic_load(&done)) {
    struct sigaction sa;
    sigaction(SIGPROF, NULL, &sa);
    nprof_var_set(intact, sa.sa_handler == app_sigprof);
    nap_us(20000);
  }
  return NULL;
}

int main(int argc, char **argv)
{
  alarm(300); /* never outlive a broken test */
  const char *mode = argc > 1 ? argv[1] : "cpu";
  if (pipe(park_pipe) != 0)
    return 1;
  if (strcmp(mode, "cpu") == 0) {
    start_thread(burn_seventy_main, NULL, "burn70");
    start_thread(burn_thirty_main, NULL, "burn30");
  } else if (strcmp(mode, "locks") == 0) {
    nprof_mutex_rate_set(1);
    nprof_block_rate_set(1);
    start_thread(hold_lock_main, NULL, "holder");
    start_thread(wait_for_lock_main, NULL, "waiter");
    start_thread(wait_for_lock_main, NULL, "waiter");
    start_thread(hold_rwlock_main, NULL, "rwholder");
    start_thread(read_rwlock_main, NULL, "reader");
    start_thread(wait_on_cond_main, NULL, "condwaiter");
    spawn_workers();
    spawn_and_join();
  } else if (strcmp(mode, "sigprof") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = app_sigprof;
    sigaction(SIGPROF, &sa, NULL);
    start_thread(sigprof_watch_main, nprof_var_new_int("sigprof.intact"), NULL);
  } else {
    fprintf(stderr, "usage: %s cpu|locks|sigprof\n", argv[0]);
    return 2;
  }
  serve_or_exit("KNOWN_LISTEN");
  printf("listening on %s\n", nprof_listen_address());
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof(buf), stdin) > 0)
    ;
  atomic_store(&done, 1);
  nprof_stop();
  printf("quanta %ld %ld\n", atomic_load(&quanta70), atomic_load(&quanta30));
  return 0;
}
