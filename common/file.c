/*
 * Files written and read whole: the atomic replace every snapshot, report
 * and fetched profile goes through, and the capped reader every input file
 * goes through.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npc.h"

static int write_all(int fd, const char *p, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Opens a new hidden temporary beside `path` with O_EXCL. mkstemp would
 * make it 0600 and fixing that needs umask(2), which changes the umask of
 * every thread for a moment; open(2) with 0666 applies the umask itself. */
static int open_temp(const char *path, char *tmp, size_t size)
{
  const char *slash = strrchr(path, '/');
  int dirlen = slash != NULL ? (int)(slash - path + 1) : 0;
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned long long r;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
      r = (unsigned long long)getpid() * 2654435761u + (unsigned)attempt;
    int n = snprintf(tmp, size, "%.*s.%s.%06llx", dirlen, path, path + dirlen,
                     r & 0xffffff);
    if (n < 0 || (size_t)n >= size)
      return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST)
      return fd >= 0 ? fd : -errno;
  }
  return -EEXIST;
}

/* Syncs the directory holding `path`, so the rename itself is on disk. */
static int sync_dir(const char *path)
{
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX];
  if (slash == NULL)
    snprintf(dir, sizeof dir, ".");
  else if (slash == path)
    snprintf(dir, sizeof dir, "/");
  else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >=
           (int)sizeof dir)
    return -ENAMETOOLONG;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int rc = fsync(fd) != 0 && errno != EINVAL ? -errno : 0;
  close(fd);
  return rc;
}

int npc_write_atomic(const char *path, const void *data, size_t len)
{
  assert(path != NULL && (data != NULL || len == 0));
  if (path[0] == '\0')
    return -EINVAL;
  char tmp[PATH_MAX];
  int fd = open_temp(path, tmp, sizeof tmp);
  if (fd < 0)
    return fd;
  int result = write_all(fd, data, len);
  if (result == 0 && fsync(fd) != 0)
    result = -errno;
  if (close(fd) != 0 && result == 0)
    result = -errno;
  if (result == 0 && rename(tmp, path) != 0)
    result = -errno;
  if (result != 0) {
    unlink(tmp);
    return result;
  }
  /* The data is in place; a directory that cannot be synced (some file
   * systems refuse) does not undo that. */
  (void)sync_dir(path);
  return 0;
}

static int join_path(char path[PATH_MAX], const char *dir, const char *name)
{
  int n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int npc_write_atomic_in(const char *dir, const char *name, const void *data,
                        size_t len)
{
  char path[PATH_MAX];
  int rc = join_path(path, dir, name);
  return rc != 0 ? rc : npc_write_atomic(path, data, len);
}

int npc_write_atomic_rendered(const char *path, npc_render_fn *render,
                              const void *ud)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return -ENOMEM;
  render(f, ud);
  /* open_memstream reports a failed allocation as a stream error. */
  bool failed = ferror(f) != 0;
  int rc =
      fclose(f) != 0 || failed ? -ENOMEM : npc_write_atomic(path, buf, len);
  free(buf);
  return rc;
}

int npc_write_atomic_rendered_in(const char *dir, const char *name,
                                 npc_render_fn *render, const void *ud)
{
  char path[PATH_MAX];
  int rc = join_path(path, dir, name);
  return rc != 0 ? rc : npc_write_atomic_rendered(path, render, ud);
}

int npc_read_file(const char *path, size_t cap, char **out, size_t *lenp)
{
  assert(path != NULL && out != NULL && lenp != NULL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  char *buf = NULL;
  size_t len = 0, alloc = 0;
  int result = 0;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    result = -EISDIR;
    goto out;
  }
  for (;;) {
    if (len == alloc) {
      /* One byte past the cap tells "exactly at the cap" from "over it". */
      if (alloc > cap) {
        result = -EFBIG;
        goto out;
      }
      size_t na = alloc == 0 ? 4096 : alloc * 2;
      if (na > cap + 1)
        na = cap + 1;
      char *nb = realloc(buf, na + 1);
      if (nb == NULL) {
        result = -ENOMEM;
        goto out;
      }
      buf = nb;
      alloc = na;
    }
    ssize_t n = read(fd, buf + len, alloc - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      result = -errno;
      goto out;
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  if (len > cap) {
    result = -EFBIG;
    goto out;
  }
  if (buf == NULL && (buf = malloc(1)) == NULL) {
    result = -ENOMEM;
    goto out;
  }
  buf[len] = '\0';
  *out = buf;
  *lenp = len;
  buf = NULL;
out:
  free(buf);
  close(fd);
  return result;
}

int npc_mkdirs(const char *dir)
{
  char path[PATH_MAX];
  if (dir == NULL || dir[0] == '\0')
    return -EINVAL;
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
    return -ENAMETOOLONG;
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return -errno;
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return -errno;
  struct stat st;
  if (stat(path, &st) != 0)
    return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
