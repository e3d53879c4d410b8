/* lotr_v4l2.h — a thin, prefixed shim over libv4l2 (Debian: libv4l-dev) for Swift.
 *
 * Swift cannot see the VIDIOC_* request macros, nor comfortably use V4L2's unions, so
 * this header gives flat structs and one function per request. Every call returns 0 (or
 * a non-negative value) on success and -errno on failure; EINTR is retried in exactly one
 * place (lotr_v4l2_xioctl / lotr_v4l2_poll). Devices are opened through v4l2_open so
 * libv4l2's format emulation (e.g. MJPEG -> RGB24 on cameras that only send MJPEG) and
 * its mmap wrapper apply. */
#ifndef LOTR_V4L2_H
#define LOTR_V4L2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FourCCs and capability bits Swift uses (the macros are not importable). */
extern const uint32_t LOTR_V4L2_PIX_FMT_YUYV, LOTR_V4L2_PIX_FMT_GREY, LOTR_V4L2_PIX_FMT_MJPEG,
    LOTR_V4L2_PIX_FMT_JPEG, LOTR_V4L2_PIX_FMT_NV12, LOTR_V4L2_PIX_FMT_YUV420, LOTR_V4L2_PIX_FMT_RGB24;
extern const uint32_t LOTR_V4L2_CAP_VIDEO_CAPTURE, LOTR_V4L2_CAP_STREAMING, LOTR_V4L2_CAP_DEVICE_CAPS,
    LOTR_V4L2_CAP_VIDEO_CAPTURE_MPLANE, LOTR_V4L2_CAP_READWRITE;
extern const uint32_t LOTR_V4L2_FMT_FLAG_COMPRESSED, LOTR_V4L2_FMT_FLAG_EMULATED;
extern const uint32_t LOTR_V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, LOTR_V4L2_BUF_FLAG_ERROR;
/* The request codes, for callers that build their own structs. */
extern const unsigned long LOTR_VIDIOC_QUERYCAP, LOTR_VIDIOC_ENUM_FMT, LOTR_VIDIOC_S_FMT, LOTR_VIDIOC_G_FMT,
    LOTR_VIDIOC_ENUM_FRAMESIZES, LOTR_VIDIOC_ENUM_FRAMEINTERVALS, LOTR_VIDIOC_S_PARM, LOTR_VIDIOC_G_PARM,
    LOTR_VIDIOC_REQBUFS, LOTR_VIDIOC_QUERYBUF, LOTR_VIDIOC_QBUF, LOTR_VIDIOC_DQBUF, LOTR_VIDIOC_STREAMON,
    LOTR_VIDIOC_STREAMOFF, LOTR_VIDIOC_QUERYCTRL, LOTR_VIDIOC_S_CTRL;

/* O_RDWR | O_NONBLOCK | O_CLOEXEC through v4l2_open. Returns the fd or -errno. */
int lotr_v4l2_open(const char* path);
int lotr_v4l2_close(int fd);
/* v4l2_ioctl, retried on EINTR. 0 or -errno. */
int lotr_v4l2_xioctl(int fd, unsigned long request, void* arg);
/* poll(fd, POLLIN), retried on EINTR with the remaining time. Returns 1 with *revents
 * set, 0 on timeout, or -errno. */
int lotr_v4l2_poll(int fd, int timeout_ms, short* revents);
extern const short LOTR_POLLIN, LOTR_POLLERR, LOTR_POLLHUP, LOTR_POLLNVAL;

/* Whether the path is a character device (0 = no, 1 = yes, -errno if stat fails). */
int lotr_v4l2_is_char_device(const char* path);

typedef struct {
  char driver[16];
  char card[32];
  char bus_info[32];
  uint32_t version;
  uint32_t capabilities;  /* the whole physical device */
  uint32_t device_caps;   /* this node (capabilities when the driver has no DEVICE_CAPS) */
} lotr_v4l2_caps;
int lotr_v4l2_query_caps(int fd, lotr_v4l2_caps* caps);

typedef struct {
  uint32_t fourcc;
  uint32_t flags;         /* LOTR_V4L2_FMT_FLAG_* */
  char description[32];
} lotr_v4l2_fmtdesc;
/* Single-planar capture formats; -EINVAL past the last index. */
int lotr_v4l2_enum_format(int fd, uint32_t index, lotr_v4l2_fmtdesc* desc);

typedef struct {
  uint32_t type;          /* 1 discrete (width/height), 2 continuous, 3 stepwise (min/max/step) */
  uint32_t width, height;
  uint32_t min_width, max_width, step_width, min_height, max_height, step_height;
} lotr_v4l2_framesize;
int lotr_v4l2_enum_framesize(int fd, uint32_t fourcc, uint32_t index, lotr_v4l2_framesize* size);

typedef struct {
  uint32_t type;          /* 1 discrete (numerator/denominator seconds per frame), 2/3 ranges */
  uint32_t numerator, denominator;
  uint32_t min_numerator, min_denominator, max_numerator, max_denominator;
} lotr_v4l2_frameinterval;
int lotr_v4l2_enum_frameinterval(int fd, uint32_t fourcc, uint32_t width, uint32_t height, uint32_t index,
                                 lotr_v4l2_frameinterval* interval);

typedef struct {
  uint32_t fourcc, width, height;
  uint32_t bytes_per_line, size_image, field, colorspace;
} lotr_v4l2_format;
/* VIDIOC_S_FMT (progressive); *applied receives what the driver chose. */
int lotr_v4l2_set_format(int fd, uint32_t fourcc, uint32_t width, uint32_t height, lotr_v4l2_format* applied);
int lotr_v4l2_get_format(int fd, lotr_v4l2_format* format);

/* VIDIOC_S_PARM with timeperframe = numerator/denominator seconds; reads back what the
 * driver applied. -ENOTSUP when the driver cannot set the frame interval
 * (no V4L2_CAP_TIMEPERFRAME). */
int lotr_v4l2_set_frame_interval(int fd, uint32_t numerator, uint32_t denominator, uint32_t* applied_numerator,
                                 uint32_t* applied_denominator);
int lotr_v4l2_get_frame_interval(int fd, uint32_t* numerator, uint32_t* denominator);

/* VIDIOC_REQBUFS for MMAP buffers; *granted is what the driver allocated. count 0 frees. */
int lotr_v4l2_request_buffers(int fd, uint32_t count, uint32_t* granted);
/* VIDIOC_QUERYBUF + v4l2_mmap. */
int lotr_v4l2_map_buffer(int fd, uint32_t index, void** start, size_t* length);
int lotr_v4l2_unmap_buffer(void* start, size_t length);
int lotr_v4l2_queue_buffer(int fd, uint32_t index);

typedef struct {
  uint32_t index, bytes_used, flags, sequence;
  int64_t timestamp_ns;   /* the driver's timestamp (CLOCK_MONOTONIC when flags say so) */
} lotr_v4l2_buffer;
/* VIDIOC_DQBUF; -EAGAIN when none is ready (non-blocking). */
int lotr_v4l2_dequeue_buffer(int fd, lotr_v4l2_buffer* buffer);
int lotr_v4l2_stream_on(int fd);
int lotr_v4l2_stream_off(int fd);

/* A control by its exact name (e.g. vivid's "Disconnect"); returns its id or -errno
 * (-ENOENT when absent). */
int64_t lotr_v4l2_find_control(int fd, const char* name);
int lotr_v4l2_set_control(int fd, uint32_t id, int32_t value);

#ifdef __cplusplus
}
#endif
#endif
