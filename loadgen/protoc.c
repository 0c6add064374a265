/* Debian's protoc does what protoc does best, so loadgen never parses a
 * .proto or the text format itself: `--descriptor_set_out` turns a .proto
 * and its imports into a FileDescriptorSet, `--encode` turns --data into
 * the request's bytes. Each run is a child process with its output capped
 * and its time bounded (a hung protoc is killed), run once per loadgen run,
 * never per user. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#define PROTOC_TIMEOUT_NS 30000000000ull /* 30 s: a large tree of imports */
#define ERR_KEEP 2048

/* protoc's stderr made into one line for our message. */
static void one_line(char *s, size_t n)
{
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
    n--;
  s[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\n')
      s[i] = ';';
}

/* Runs argv with in on its stdin, capturing stdout (at most cap bytes).
 * See lg_protoc_compile for the returns. */
static int run(char *const *argv, const uint8_t *in, size_t inlen, size_t cap,
               uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
  int result = LG_ENOMEM;
  int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
  uint8_t *buf = NULL;
  size_t len = 0, bcap = 0;
  char ebuf[ERR_KEEP + 1];
  size_t elen = 0;
  pid_t pid = -1;
  bool spawned = false;
  posix_spawn_file_actions_t fa;
  bool fa_ok = false;
  /* Writing to a protoc that has exited must not kill us with SIGPIPE:
   * blocked here, and a pending one consumed before unblocking. */
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);

  if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 ||
      pipe2(perr, O_CLOEXEC) != 0) {
    snprintf(err, errlen, "protoc: pipe: %s", strerror(errno));
    result = -errno;
    goto out;
  }
  if (posix_spawn_file_actions_init(&fa) != 0)
    goto out;
  fa_ok = true;
  posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
  posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
  posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  if (rc != 0) {
    snprintf(err, errlen,
             "cannot run %s: %s (install protobuf-compiler: scripts/deps.sh "
             "run; or set PROTOC)",
             argv[0], strerror(rc));
    result = LG_ENOENT;
    goto out;
  }
  spawned = true;
  close(pin[0]), pin[0] = -1;
  close(pout[1]), pout[1] = -1;
  close(perr[1]), perr[1] = -1;
  fcntl(pin[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (inlen == 0)
    close(pin[1]), pin[1] = -1;
  uint64_t deadline = lg_now_ns() + PROTOC_TIMEOUT_NS;
  while (pout[0] >= 0 || perr[0] >= 0) {
    struct pollfd pf[3] = {
        {pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
    uint64_t now = lg_now_ns();
    if (now >= deadline) {
      snprintf(err, errlen, "protoc did not finish in %llu s",
               (unsigned long long)(PROTOC_TIMEOUT_NS / 1000000000u));
      result = LG_ETIMEDOUT;
      goto out;
    }
    int pr = poll(pf, 3, (int)((deadline - now) / 1000000) + 1);
    if (pr < 0 && errno != EINTR) {
      result = -errno;
      goto out;
    }
    if (pin[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(pin[1], in + written, inlen - written);
      if (w > 0)
        written += (size_t)w;
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == inlen)
        close(pin[1]), pin[1] = -1;
    }
    if (pout[0] >= 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (len == bcap) {
        size_t ncap = bcap ? bcap * 2 : 4096;
        if (ncap > cap + 1)
          ncap = cap + 1;
        if (ncap <= len) {
          snprintf(err, errlen, "protoc wrote more than %zu bytes", cap);
          result = LG_ETOOBIG;
          goto out;
        }
        uint8_t *nb = realloc(buf, ncap);
        if (nb == NULL)
          goto out;
        buf = nb;
        bcap = ncap;
      }
      ssize_t r = read(pout[0], buf + len, bcap - len);
      if (r > 0)
        len += (size_t)r;
      else if (r == 0 || (errno != EAGAIN && errno != EINTR))
        close(pout[0]), pout[0] = -1;
    }
    if (perr[0] >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char tmp[1024];
      ssize_t r = read(perr[0], tmp, sizeof tmp);
      if (r > 0) {
        size_t keep = (size_t)r < ERR_KEEP - elen ? (size_t)r : ERR_KEEP - elen;
        memcpy(ebuf + elen, tmp, keep);
        elen += keep;
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(perr[0]), perr[0] = -1;
      }
    }
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  spawned = false;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    one_line(ebuf, elen);
    snprintf(err, errlen, "%s", elen ? ebuf : "protoc failed");
    result = LG_ETOOL;
    goto out;
  }
  if (len > cap) {
    snprintf(err, errlen, "protoc wrote more than %zu bytes", cap);
    result = LG_ETOOBIG;
    goto out;
  }
  *out = buf;
  *outlen = len;
  buf = NULL;
  result = 0;
out:
  if (spawned) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  for (int i = 0; i < 2; i++) {
    if (pin[i] >= 0)
      close(pin[i]);
    if (pout[i] >= 0)
      close(pout[i]);
    if (perr[i] >= 0)
      close(perr[i]);
  }
  if (fa_ok)
    posix_spawn_file_actions_destroy(&fa);
  free(buf);
  struct timespec zero = {0, 0};
  while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
    ;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return result;
}

static const char *protoc_path(void)
{
  const char *p = getenv("PROTOC");
  return p != NULL && p[0] ? p : "protoc";
}

int lg_protoc_compile(const char *proto, const char *const *import_paths,
                      size_t n, uint8_t **out, size_t *len, char *err,
                      size_t errlen)
{
  if (access(proto, R_OK) != 0) {
    snprintf(err, errlen, "--proto %s: %s", proto, strerror(errno));
    return LG_ENOENT;
  }
  char *argv[LG_MAX_IMPORT_PATHS + 8];
  size_t argc = 0;
  char *alloc[LG_MAX_IMPORT_PATHS + 1];
  size_t nalloc = 0;
  int rc = LG_ENOMEM;
  argv[argc++] = (char *)protoc_path();
  argv[argc++] = "--include_imports";
  argv[argc++] = "--descriptor_set_out=/dev/stdout";
  if (n == 0) {
    /* protoc wants the file inside an import path: its own folder. */
    const char *slash = strrchr(proto, '/');
    char *dir = slash == NULL ? strdup("-I.") : NULL;
    if (slash != NULL &&
        asprintf(&dir, "-I%.*s", (int)(slash - proto + 1), proto) < 0)
      dir = NULL;
    if (dir == NULL)
      goto out;
    alloc[nalloc++] = dir;
    argv[argc++] = dir;
  }
  for (size_t i = 0; i < n && i < LG_MAX_IMPORT_PATHS; i++) {
    char *a;
    if (asprintf(&a, "-I%s", import_paths[i]) < 0)
      goto out;
    alloc[nalloc++] = a;
    argv[argc++] = a;
  }
  argv[argc++] = (char *)proto;
  argv[argc] = NULL;
  rc = run(argv, NULL, 0, LG_PROTOC_OUT_MAX, out, len, err, errlen);
out:
  while (nalloc > 0)
    free(alloc[--nalloc]);
  return rc;
}

int lg_protoc_encode(const uint8_t *set, size_t setlen, const char *file,
                     const char *type, const char *text, uint8_t **out,
                     size_t *len, char *err, size_t errlen)
{
  const char *tmpdir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/loadgen-set.XXXXXX",
           tmpdir != NULL && tmpdir[0] ? tmpdir : "/tmp");
  int fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -errno;
  }
  int rc = 0;
  for (size_t off = 0; off < setlen;) {
    ssize_t w = write(fd, set + off, setlen - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      rc = -errno;
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
      break;
    }
    off += (size_t)w;
  }
  close(fd);
  char *set_arg = NULL, *type_arg = NULL;
  if (rc == 0 && (asprintf(&set_arg, "--descriptor_set_in=%s", path) < 0 ||
                  asprintf(&type_arg, "--encode=%s", type) < 0)) {
    set_arg = type_arg = NULL;
    rc = LG_ENOMEM;
  }
  if (rc == 0) {
    char *argv[] = {(char *)protoc_path(), set_arg, type_arg, (char *)file,
                    NULL};
    rc = run(argv, (const uint8_t *)text, strlen(text), LG_PROTOC_OUT_MAX, out,
             len, err, errlen);
  }
  free(set_arg);
  free(type_arg);
  unlink(path);
  return rc;
}
