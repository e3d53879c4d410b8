// CLOTRSystem: thin, prefixed wrappers over the Linux system calls lotrd and its clients
// use. Every call that can fail with EINTR is retried here, in one place; callers see
// -1 with errno set for real errors only. Nothing here allocates or keeps state.
#ifndef LOTR_SYSTEM_H
#define LOTR_SYSTEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// Clocks, in nanoseconds. The monotonic one is LOTR's monotonicNanoseconds() (same clock,
// same type) for the modules that do not depend on LOTR: LOTRClient and what builds on it.
int64_t lotr_sys_monotonic_ns(void);
int64_t lotr_sys_realtime_ns(void);
void lotr_sys_sleep_ns(uint64_t ns);

// I/O with EINTR retried. send uses MSG_NOSIGNAL | MSG_DONTWAIT where asked.
ssize_t lotr_sys_read(int fd, void *buf, size_t len);
ssize_t lotr_sys_write(int fd, const void *buf, size_t len);
ssize_t lotr_sys_send(int fd, const void *buf, size_t len, int nonblocking);
ssize_t lotr_sys_recv(int fd, void *buf, size_t len, int nonblocking);
int lotr_sys_close(int fd); // never retried: Linux closes the fd even on EINTR
int lotr_sys_shutdown_write(int fd);

// poll over parallel arrays (fds, events in, revents out); timeout in ms, -1 = forever.
int lotr_sys_poll(const int *fds, const short *events, short *revents, int count, int timeout_ms);
enum { LOTR_POLLIN = 0x001, LOTR_POLLOUT = 0x004, LOTR_POLLERR = 0x008, LOTR_POLLHUP = 0x010, LOTR_POLLNVAL = 0x020 };

int lotr_sys_set_nonblocking(int fd, int on);
int lotr_sys_set_sndbuf(int fd, int bytes);

// UNIX stream sockets. listen: binds `path` with `mode` (e.g. 0660) and group `gid`
// (-1 = leave), replacing a stale socket file (one nobody accepts on) and refusing a
// live one or a path that is not a socket. Returns fd, or -1 with a message in err.
int lotr_sys_unix_listen(const char *path, unsigned mode, long gid, int backlog, char *err, size_t errlen);
int lotr_sys_unix_connect(const char *path, char *err, size_t errlen);
int lotr_sys_accept(int listen_fd); // non-blocking, cloexec; -1/EAGAIN when none
// 1 when fd is a listening AF_UNIX SOCK_STREAM socket; its path copied to path (may be empty).
int lotr_sys_is_unix_listener(int fd, char *path, size_t pathlen);
int lotr_sys_peercred(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);
long lotr_sys_group_id(const char *name); // -1 when unknown

// sd_listen_fds(3) semantics without libsystemd: the count of fds from 3 when
// LISTEN_PID is ours (0 otherwise); unsets the variables when unset_env.
int lotr_sys_listen_fds(int unset_env);
// sd_notify(3) without libsystemd: sends `state` to $NOTIFY_SOCKET (path or @abstract).
// 0 when NOTIFY_SOCKET is unset, 1 when sent, -1 on error.
int lotr_sys_notify(const char *state);
// The watchdog interval in microseconds from WATCHDOG_USEC/WATCHDOG_PID, 0 if off.
uint64_t lotr_sys_watchdog_usec(void);

// Signals: ignores SIGPIPE and routes SIGTERM/SIGINT/SIGHUP through a self-pipe: the
// handler (any thread may take the signal: libraries such as OpenBLAS start threads before
// main, so masking cannot be relied on) writes the signal number to a non-blocking pipe
// whose read end is returned for poll(2). SA_RESTART; EINTR is retried anyway.
int lotr_sys_signal_pipe_setup(void);
int lotr_sys_signal_pipe_read(int fd); // the signal number, 0 when none pending
void lotr_sys_ignore_sigpipe(void);

// eventfd as a wake-up: create, signal (+1), drain.
int lotr_sys_eventfd(void);
void lotr_sys_eventfd_signal(int fd);
void lotr_sys_eventfd_drain(int fd);

// Peak resident set size of this process in KiB, and CPU seconds (user+system).
long lotr_sys_peak_rss_kb(void);
double lotr_sys_cpu_seconds(void);

// A mutex + condition variable pair on the monotonic clock.
typedef struct lotr_sys_monitor lotr_sys_monitor;
lotr_sys_monitor *lotr_sys_monitor_create(void);
void lotr_sys_monitor_destroy(lotr_sys_monitor *m);
void lotr_sys_monitor_lock(lotr_sys_monitor *m);
void lotr_sys_monitor_unlock(lotr_sys_monitor *m);
// Waits at most timeout_ns (0 = forever); 1 when signalled, 0 on timeout.
int lotr_sys_monitor_wait(lotr_sys_monitor *m, uint64_t timeout_ns);
void lotr_sys_monitor_broadcast(lotr_sys_monitor *m);

// Starts a joinable thread running fn(arg); 0 on success.
int lotr_sys_thread_start(void *(*fn)(void *), void *arg, uint64_t *handle);
void lotr_sys_thread_join(uint64_t handle);

#ifdef __cplusplus
}
#endif
#endif
