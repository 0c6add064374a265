/* notifier: startup, signals, periodic ticks and shutdown. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "nprof.h"

/* SIGTERM/SIGINT: streams get this long to end with a status, then the
 * rest are cancelled (at most 1.5 s more): well inside a 5 s stop limit. */
#define SHUTDOWN_GRACE_MS 2500

static const char *real_getenv(const char *name)
{
  return getenv(name);
}

/* Self-pipe for SIGTERM/SIGINT. Written only by the handler, read only by
 * main. stop_signal is written in the handler and read after the pipe
 * said so. */
static int stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signal;

/* Async-signal-safe: stores the number, writes one byte, keeps errno. Runs
 * on the main thread, or on a thread some library started before main
 * could block the signals (that one must not die of the default action). */
static void on_stop_signal(int sig)
{
  int saved = errno;
  stop_signal = sig;
  ssize_t n = write(stop_pipe[1], "x", 1);
  (void)n; /* full pipe: a byte is already there, which is enough */
  errno = saved;
}

/* Debian builds abseil without NDEBUG, so every absl::Mutex that gRPC core
 * takes also runs deadlock detection (a graph update per acquisition, a
 * few percent of a broadcast's CPU here). gRPC's own release builds have
 * it off; turn it off the same way when the symbol is there, through
 * dlsym so that another abseil build merely skips this. */
static void absl_deadlock_detection_off(void)
{
  typedef void (*set_mode_fn)(int);
  /* absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore) */
  static const char *const names[] = {
      "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
      "_ZN4absl12lts_2022062329SetMutexDeadlockDetectionModeENS0_"
      "15OnDeadlockCycleE",
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    void *sym = dlsym(RTLD_DEFAULT, names[i]);
    if (sym != NULL) {
      set_mode_fn set_mode;
      memcpy(&set_mode, &sym, sizeof set_mode);
      set_mode(0); /* kIgnore */
      return;
    }
  }
}

int main(int argc, char **argv)
{
  ntf_config cfg;
  char err[256] = "";
  ntf_config_defaults(&cfg);
  int rc = ntf_config_parse(&cfg, argc, argv, real_getenv, err, sizeof err);
  if (rc == 1)
    return 0;
  if (rc < 0) {
    fprintf(stderr, "notifier: %s\n", err);
    ntf_config_usage(stderr);
    return 2;
  }

  /* Block the stop signals while gRPC and libnprof start their threads, so
   * those inherit the block; the handler catches them on the main thread
   * once it unblocks below (and on any thread started before main). */
  if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    perror("notifier: pipe2");
    return 1;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigfillset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  const char *debug = "off";
  if (cfg.mode == NTF_MODE_DEV) {
    nprof_options opts;
    nprof_options_init(&opts);
    opts.listen_addr = cfg.debug_addr;
    rc = nprof_start(&opts);
    if (rc < 0) {
      fprintf(stderr, "notifier: debug server on %s: %s\n", cfg.debug_addr,
              nprof_strerror(rc));
      return 1;
    }
    rc = ntf_stats_publish();
    if (rc < 0)
      fprintf(stderr, "notifier: /debug/vars: %s (continuing)\n",
              nprof_strerror(rc));
    debug = nprof_listen_address();
  }

  if (getenv("NOTIFIER_ABSL_DEADLOCK_DETECTION") == NULL)
    absl_deadlock_detection_off();
  grpc_init();
  ntf_server *srv;
  int port;
  rc = ntf_server_start(&cfg, &srv, &port);
  if (rc < 0) {
    fprintf(stderr, "notifier: cannot serve gRPC on %s: %s\n", cfg.grpc_addr,
            ntf_strerror(rc));
    grpc_shutdown();
    return 1;
  }
  const char *colon = strrchr(cfg.grpc_addr, ':');
  ntf_log("listening grpc=%.*s:%d debug=%s mode=%s threads=%d "
          "fanout_threads=%d max_streams=%ld "
          "queue_depth=%d tick=%lldms",
          (int)(colon - cfg.grpc_addr), cfg.grpc_addr, port,
          debug ? debug : "?", cfg.mode == NTF_MODE_DEV ? "dev" : "prod",
          cfg.threads,
          cfg.fanout_threads >= 0 ? cfg.fanout_threads : cfg.threads,
          cfg.max_streams, cfg.queue_depth, (long long)cfg.tick_interval_ms);

  pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
  uint64_t ticks = 0;
  int64_t next_tick = npc_mono_ns() + cfg.tick_interval_ms * 1000000;
  for (;;) {
    int timeout = -1;
    if (cfg.tick_interval_ms > 0) {
      int64_t left = (next_tick - npc_mono_ns()) / 1000000;
      timeout = left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
    }
    struct pollfd pfd = {.fd = stop_pipe[0], .events = POLLIN};
    int n = poll(&pfd, 1, timeout);
    if (n > 0)
      break;
    if (n == 0) {
      char payload[32];
      int len = snprintf(payload, sizeof payload, "tick %llu",
                         (unsigned long long)++ticks);
      ntf_server_broadcast(srv, payload, (size_t)len);
      /* A broadcast longer than the interval skips ticks, not piles up. */
      next_tick += cfg.tick_interval_ms * 1000000;
      if (next_tick < npc_mono_ns())
        next_tick = npc_mono_ns() + cfg.tick_interval_ms * 1000000;
    }
  }
  int sig = stop_signal;
  ntf_log("%s: shutting down (streams=%lld)",
          sig == SIGTERM ? "SIGTERM" : "SIGINT",
          (long long)atomic_load(&ntf_stats_g.streams));
  if (ntf_server_shutdown(srv, SHUTDOWN_GRACE_MS) < 0) {
    /* Streams were ended or cancelled; what is left of gRPC core goes
     * with the process. */
    ntf_log("stopped without cleanup");
    _exit(0);
  }
  grpc_shutdown();
  if (cfg.mode == NTF_MODE_DEV)
    nprof_stop();
  ntf_log("stopped: sent=%lld dropped=%lld publishes=%lld",
          (long long)atomic_load(&ntf_stats_g.sent),
          (long long)atomic_load(&ntf_stats_g.dropped),
          (long long)atomic_load(&ntf_stats_g.publishes));
  return 0;
}
