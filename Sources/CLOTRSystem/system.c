#define _GNU_SOURCE
#include "lotr_system.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RETRY(expr) ({ long _r; do { _r = (long)(expr); } while (_r == -1 && errno == EINTR); _r; })

int64_t lotr_sys_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t lotr_sys_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
}

void lotr_sys_sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
}

ssize_t lotr_sys_read(int fd, void *buf, size_t len) { return RETRY(read(fd, buf, len)); }
ssize_t lotr_sys_write(int fd, const void *buf, size_t len) { return RETRY(write(fd, buf, len)); }

ssize_t lotr_sys_send(int fd, const void *buf, size_t len, int nonblocking) {
  return RETRY(send(fd, buf, len, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0)));
}

ssize_t lotr_sys_recv(int fd, void *buf, size_t len, int nonblocking) {
  return RETRY(recv(fd, buf, len, nonblocking ? MSG_DONTWAIT : 0));
}

int lotr_sys_close(int fd) { return close(fd); }
int lotr_sys_shutdown_write(int fd) { return shutdown(fd, SHUT_WR); }

int lotr_sys_poll(const int *fds, const short *events, short *revents, int count, int timeout_ms) {
  struct pollfd stack[64];
  struct pollfd *p = count <= 64 ? stack : calloc((size_t)count, sizeof *p);
  if (!p) return -1;
  for (int i = 0; i < count; i++) { p[i].fd = fds[i]; p[i].events = events[i]; p[i].revents = 0; }
  // EINTR: retried with the full timeout again; callers recompute deadlines each round.
  int r = (int)RETRY(poll(p, (nfds_t)count, timeout_ms));
  for (int i = 0; i < count; i++) revents[i] = r >= 0 ? p[i].revents : 0;
  if (p != stack) free(p);
  return r;
}

int lotr_sys_set_nonblocking(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return -1;
  int fdflags = fcntl(fd, F_GETFD);
  return fdflags < 0 ? -1 : fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC);
}

int lotr_sys_set_sndbuf(int fd, int bytes) {
  return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

static int fill_addr(struct sockaddr_un *addr, const char *path, char *err, size_t errlen) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) {
    snprintf(err, errlen, "socket path is longer than %zu bytes: %s", sizeof addr->sun_path - 1, path);
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr->sun_path, path);
  return 0;
}

int lotr_sys_unix_connect(const char *path, char *err, size_t errlen) {
  struct sockaddr_un addr;
  if (fill_addr(&addr, path, err, errlen) < 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
  if (RETRY(connect(fd, (struct sockaddr *)&addr, sizeof addr)) < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int lotr_sys_unix_listen(const char *path, unsigned mode, long gid, int backlog, char *err, size_t errlen) {
  struct sockaddr_un addr;
  if (fill_addr(&addr, path, err, errlen) < 0) return -1;
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      snprintf(err, errlen, "%s exists and is not a socket; refusing to replace it", path);
      errno = EEXIST;
      return -1;
    }
    // A socket file: live if someone accepts on it, stale if the connect is refused.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
    int r = (int)RETRY(connect(probe, (struct sockaddr *)&addr, sizeof addr));
    int e = errno;
    close(probe);
    if (r == 0 || (e != ECONNREFUSED && e != ENOENT)) {
      snprintf(err, errlen, "%s is in use by a running server (%s); refusing to take it over", path,
               r == 0 ? "it accepted a connection" : strerror(e));
      errno = EADDRINUSE;
      return -1;
    }
    if (e == ECONNREFUSED && unlink(path) < 0 && errno != ENOENT) {
      snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
      return -1;
    }
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) { snprintf(err, errlen, "socket: %s", strerror(errno)); return -1; }
  // The umask closes the window between bind and chmod; fchmod on a socket fd does not
  // change the file, so chmod the path after.
  mode_t old = umask(0777 & ~(mode_t)mode);
  int r = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  int e = errno;
  umask(old);
  if (r < 0) {
    snprintf(err, errlen, "cannot bind %s: %s", path, strerror(e));
    close(fd);
    errno = e;
    return -1;
  }
  if (chmod(path, (mode_t)mode) < 0 || (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0)) {
    e = errno;
    snprintf(err, errlen, "cannot set mode/group of %s: %s", path, strerror(e));
    unlink(path);
    close(fd);
    errno = e;
    return -1;
  }
  if (listen(fd, backlog) < 0) {
    e = errno;
    snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
    unlink(path);
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int lotr_sys_accept(int listen_fd) {
  return (int)RETRY(accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int lotr_sys_is_unix_listener(int fd, char *path, size_t pathlen) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) return 0;
  struct sockaddr_un addr;
  len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 || addr.sun_family != AF_UNIX) return 0;
  if (path && pathlen) {
    size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (n >= pathlen) n = pathlen - 1;
    memcpy(path, addr.sun_path, n);
    path[n] = 0;
    if (n && path[0] == 0) path[0] = '@';
  }
  return 1;
}

int lotr_sys_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
  *pid = cred.pid; *uid = cred.uid; *gid = cred.gid;
  return 0;
}

long lotr_sys_group_id(const char *name) {
  char buf[4096];
  struct group gr, *out = NULL;
  if (getgrnam_r(name, &gr, buf, sizeof buf, &out) != 0 || !out) {
    char *end = NULL;
    long v = strtol(name, &end, 10);
    return (end && *end == 0 && end != name && v >= 0) ? v : -1;
  }
  return (long)out->gr_gid;
}

int lotr_sys_listen_fds(int unset_env) {
  const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
  int n = 0;
  if (pid && fds) {
    char *end = NULL;
    long p = strtol(pid, &end, 10);
    if (end && *end == 0 && p == (long)getpid()) {
      long f = strtol(fds, &end, 10);
      if (end && *end == 0 && f > 0 && f < 1024) n = (int)f;
    }
  }
  if (unset_env) { unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES"); }
  for (int i = 0; i < n; i++) fcntl(3 + i, F_SETFD, FD_CLOEXEC);
  return n;
}

int lotr_sys_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path) return 0;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) { errno = EINVAL; return -1; }
  memcpy(addr.sun_path, path, n);
  if (path[0] == '@') addr.sun_path[0] = 0; // abstract namespace
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  long r = RETRY(sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, alen));
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? -1 : 1;
}

uint64_t lotr_sys_watchdog_usec(void) {
  const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
  if (!usec) return 0;
  if (pid) {
    char *end = NULL;
    long p = strtol(pid, &end, 10);
    if (!end || *end || p != (long)getpid()) return 0;
  }
  char *end = NULL;
  unsigned long long v = strtoull(usec, &end, 10);
  return (end && *end == 0) ? (uint64_t)v : 0;
}

void lotr_sys_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  (void)!write(signal_pipe[1], &b, 1); // async-signal-safe; a full pipe loses only duplicates
  errno = saved;
}

int lotr_sys_signal_pipe_setup(void) {
  lotr_sys_ignore_sigpipe();
  if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3; i++) if (sigaction(sigs[i], &sa, NULL) < 0) return -1;
  // A parent may have spawned us with these blocked (the mask is inherited across exec).
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < 3; i++) sigaddset(&set, sigs[i]);
  if (pthread_sigmask(SIG_UNBLOCK, &set, NULL) != 0) return -1;
  return signal_pipe[0];
}

int lotr_sys_signal_pipe_read(int fd) {
  unsigned char b;
  ssize_t n = RETRY(read(fd, &b, 1));
  return n == 1 ? (int)b : 0;
}

int lotr_sys_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
void lotr_sys_eventfd_signal(int fd) { uint64_t one = 1; (void)!RETRY(write(fd, &one, sizeof one)); }
void lotr_sys_eventfd_drain(int fd) { uint64_t v; (void)!RETRY(read(fd, &v, sizeof v)); }

long lotr_sys_peak_rss_kb(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

double lotr_sys_cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

struct lotr_sys_monitor { pthread_mutex_t mutex; pthread_cond_t cond; };

lotr_sys_monitor *lotr_sys_monitor_create(void) {
  lotr_sys_monitor *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  pthread_mutex_init(&m->mutex, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&m->cond, &attr);
  pthread_condattr_destroy(&attr);
  return m;
}

void lotr_sys_monitor_destroy(lotr_sys_monitor *m) {
  if (!m) return;
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->mutex);
  free(m);
}

void lotr_sys_monitor_lock(lotr_sys_monitor *m) { pthread_mutex_lock(&m->mutex); }
void lotr_sys_monitor_unlock(lotr_sys_monitor *m) { pthread_mutex_unlock(&m->mutex); }
void lotr_sys_monitor_broadcast(lotr_sys_monitor *m) { pthread_cond_broadcast(&m->cond); }

int lotr_sys_monitor_wait(lotr_sys_monitor *m, uint64_t timeout_ns) {
  if (timeout_ns == 0) { pthread_cond_wait(&m->cond, &m->mutex); return 1; }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns;
  ts.tv_sec += (time_t)(ns / 1000000000ull);
  ts.tv_nsec = (long)(ns % 1000000000ull);
  return pthread_cond_timedwait(&m->cond, &m->mutex, &ts) == 0;
}

int lotr_sys_thread_start(void *(*fn)(void *), void *arg, uint64_t *handle) {
  pthread_t t;
  int r = pthread_create(&t, NULL, fn, arg);
  if (r == 0) *handle = (uint64_t)t;
  return r;
}

void lotr_sys_thread_join(uint64_t handle) { pthread_join((pthread_t)handle, NULL); }
