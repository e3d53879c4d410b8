/* The libv4l2 shim: one function per V4L2 request, flat structs, -errno returns, EINTR
 * retried in lotr_v4l2_xioctl and lotr_v4l2_poll only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "lotr_v4l2.h"

const uint32_t LOTR_V4L2_PIX_FMT_YUYV = V4L2_PIX_FMT_YUYV, LOTR_V4L2_PIX_FMT_GREY = V4L2_PIX_FMT_GREY,
               LOTR_V4L2_PIX_FMT_MJPEG = V4L2_PIX_FMT_MJPEG, LOTR_V4L2_PIX_FMT_JPEG = V4L2_PIX_FMT_JPEG,
               LOTR_V4L2_PIX_FMT_NV12 = V4L2_PIX_FMT_NV12, LOTR_V4L2_PIX_FMT_YUV420 = V4L2_PIX_FMT_YUV420,
               LOTR_V4L2_PIX_FMT_RGB24 = V4L2_PIX_FMT_RGB24;
const uint32_t LOTR_V4L2_CAP_VIDEO_CAPTURE = V4L2_CAP_VIDEO_CAPTURE, LOTR_V4L2_CAP_STREAMING = V4L2_CAP_STREAMING,
               LOTR_V4L2_CAP_DEVICE_CAPS = V4L2_CAP_DEVICE_CAPS,
               LOTR_V4L2_CAP_VIDEO_CAPTURE_MPLANE = V4L2_CAP_VIDEO_CAPTURE_MPLANE,
               LOTR_V4L2_CAP_READWRITE = V4L2_CAP_READWRITE;
const uint32_t LOTR_V4L2_FMT_FLAG_COMPRESSED = V4L2_FMT_FLAG_COMPRESSED,
               LOTR_V4L2_FMT_FLAG_EMULATED = V4L2_FMT_FLAG_EMULATED;
const uint32_t LOTR_V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
               LOTR_V4L2_BUF_FLAG_ERROR = V4L2_BUF_FLAG_ERROR;
const unsigned long LOTR_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP, LOTR_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT,
                    LOTR_VIDIOC_S_FMT = VIDIOC_S_FMT, LOTR_VIDIOC_G_FMT = VIDIOC_G_FMT,
                    LOTR_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES,
                    LOTR_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS, LOTR_VIDIOC_S_PARM = VIDIOC_S_PARM,
                    LOTR_VIDIOC_G_PARM = VIDIOC_G_PARM, LOTR_VIDIOC_REQBUFS = VIDIOC_REQBUFS,
                    LOTR_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF, LOTR_VIDIOC_QBUF = VIDIOC_QBUF,
                    LOTR_VIDIOC_DQBUF = VIDIOC_DQBUF, LOTR_VIDIOC_STREAMON = VIDIOC_STREAMON,
                    LOTR_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF, LOTR_VIDIOC_QUERYCTRL = VIDIOC_QUERYCTRL,
                    LOTR_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
const short LOTR_POLLIN = POLLIN, LOTR_POLLERR = POLLERR, LOTR_POLLHUP = POLLHUP, LOTR_POLLNVAL = POLLNVAL;

int lotr_v4l2_open(const char* path) {
  int fd;
  do fd = v4l2_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int lotr_v4l2_close(int fd) { return v4l2_close(fd) < 0 ? -errno : 0; }

int lotr_v4l2_xioctl(int fd, unsigned long request, void* arg) {
  int r;
  do r = v4l2_ioctl(fd, request, arg);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int lotr_v4l2_poll(int fd, int timeout_ms, short* revents) {
  const int64_t deadline = monotonic_ns() + (int64_t)timeout_ms * 1000000;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    const int r = poll(&p, 1, timeout_ms);
    if (r >= 0) {
      *revents = p.revents;
      return r > 0 ? 1 : 0;
    }
    if (errno != EINTR) return -errno;
    if (timeout_ms >= 0) {
      const int64_t left = deadline - monotonic_ns();
      timeout_ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
    }
  }
}

int lotr_v4l2_is_char_device(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return -errno;
  return S_ISCHR(st.st_mode) ? 1 : 0;
}

static void copy_text(char* dst, size_t size, const void* src, size_t src_size) {
  const size_t n = src_size < size - 1 ? src_size : size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

int lotr_v4l2_query_caps(int fd, lotr_v4l2_caps* caps) {
  struct v4l2_capability c;
  memset(&c, 0, sizeof(c));
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_QUERYCAP, &c);
  if (r < 0) return r;
  memset(caps, 0, sizeof(*caps));
  copy_text(caps->driver, sizeof(caps->driver), c.driver, sizeof(c.driver));
  copy_text(caps->card, sizeof(caps->card), c.card, sizeof(c.card));
  copy_text(caps->bus_info, sizeof(caps->bus_info), c.bus_info, sizeof(c.bus_info));
  caps->version = c.version;
  caps->capabilities = c.capabilities;
  caps->device_caps = (c.capabilities & V4L2_CAP_DEVICE_CAPS) ? c.device_caps : c.capabilities;
  return 0;
}

int lotr_v4l2_enum_format(int fd, uint32_t index, lotr_v4l2_fmtdesc* desc) {
  struct v4l2_fmtdesc f;
  memset(&f, 0, sizeof(f));
  f.index = index;
  f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_ENUM_FMT, &f);
  if (r < 0) return r;
  desc->fourcc = f.pixelformat;
  desc->flags = f.flags;
  copy_text(desc->description, sizeof(desc->description), f.description, sizeof(f.description));
  return 0;
}

int lotr_v4l2_enum_framesize(int fd, uint32_t fourcc, uint32_t index, lotr_v4l2_framesize* size) {
  struct v4l2_frmsizeenum s;
  memset(&s, 0, sizeof(s));
  s.index = index;
  s.pixel_format = fourcc;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s);
  if (r < 0) return r;
  memset(size, 0, sizeof(*size));
  size->type = s.type;
  if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
    size->width = s.discrete.width;
    size->height = s.discrete.height;
  } else {
    size->min_width = s.stepwise.min_width;
    size->max_width = s.stepwise.max_width;
    size->step_width = s.stepwise.step_width;
    size->min_height = s.stepwise.min_height;
    size->max_height = s.stepwise.max_height;
    size->step_height = s.stepwise.step_height;
  }
  return 0;
}

int lotr_v4l2_enum_frameinterval(int fd, uint32_t fourcc, uint32_t width, uint32_t height, uint32_t index,
                                 lotr_v4l2_frameinterval* interval) {
  struct v4l2_frmivalenum e;
  memset(&e, 0, sizeof(e));
  e.index = index;
  e.pixel_format = fourcc;
  e.width = width;
  e.height = height;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &e);
  if (r < 0) return r;
  memset(interval, 0, sizeof(*interval));
  interval->type = e.type;
  if (e.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
    interval->numerator = e.discrete.numerator;
    interval->denominator = e.discrete.denominator;
  } else {
    interval->min_numerator = e.stepwise.min.numerator;
    interval->min_denominator = e.stepwise.min.denominator;
    interval->max_numerator = e.stepwise.max.numerator;
    interval->max_denominator = e.stepwise.max.denominator;
  }
  return 0;
}

static void read_format(const struct v4l2_format* f, lotr_v4l2_format* out) {
  out->fourcc = f->fmt.pix.pixelformat;
  out->width = f->fmt.pix.width;
  out->height = f->fmt.pix.height;
  out->bytes_per_line = f->fmt.pix.bytesperline;
  out->size_image = f->fmt.pix.sizeimage;
  out->field = f->fmt.pix.field;
  out->colorspace = f->fmt.pix.colorspace;
}

int lotr_v4l2_set_format(int fd, uint32_t fourcc, uint32_t width, uint32_t height, lotr_v4l2_format* applied) {
  struct v4l2_format f;
  memset(&f, 0, sizeof(f));
  f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  f.fmt.pix.pixelformat = fourcc;
  f.fmt.pix.width = width;
  f.fmt.pix.height = height;
  f.fmt.pix.field = V4L2_FIELD_NONE;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_S_FMT, &f);
  if (r < 0) return r;
  read_format(&f, applied);
  return 0;
}

int lotr_v4l2_get_format(int fd, lotr_v4l2_format* format) {
  struct v4l2_format f;
  memset(&f, 0, sizeof(f));
  f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_G_FMT, &f);
  if (r < 0) return r;
  read_format(&f, format);
  return 0;
}

int lotr_v4l2_get_frame_interval(int fd, uint32_t* numerator, uint32_t* denominator) {
  struct v4l2_streamparm p;
  memset(&p, 0, sizeof(p));
  p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_G_PARM, &p);
  if (r < 0) return r;
  *numerator = p.parm.capture.timeperframe.numerator;
  *denominator = p.parm.capture.timeperframe.denominator;
  return (p.parm.capture.capability & V4L2_CAP_TIMEPERFRAME) ? 1 : 0;
}

int lotr_v4l2_set_frame_interval(int fd, uint32_t numerator, uint32_t denominator, uint32_t* applied_numerator,
                                 uint32_t* applied_denominator) {
  struct v4l2_streamparm p;
  memset(&p, 0, sizeof(p));
  p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  int r = lotr_v4l2_xioctl(fd, VIDIOC_G_PARM, &p);
  if (r < 0) return r;
  if (!(p.parm.capture.capability & V4L2_CAP_TIMEPERFRAME)) return -ENOTSUP;
  p.parm.capture.timeperframe.numerator = numerator;
  p.parm.capture.timeperframe.denominator = denominator;
  r = lotr_v4l2_xioctl(fd, VIDIOC_S_PARM, &p);
  if (r < 0) return r;
  *applied_numerator = p.parm.capture.timeperframe.numerator;
  *applied_denominator = p.parm.capture.timeperframe.denominator;
  return 0;
}

int lotr_v4l2_request_buffers(int fd, uint32_t count, uint32_t* granted) {
  struct v4l2_requestbuffers b;
  memset(&b, 0, sizeof(b));
  b.count = count;
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_REQBUFS, &b);
  if (r < 0) return r;
  *granted = b.count;
  return 0;
}

int lotr_v4l2_map_buffer(int fd, uint32_t index, void** start, size_t* length) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof(b));
  b.index = index;
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_QUERYBUF, &b);
  if (r < 0) return r;
  void* p = v4l2_mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, b.m.offset);
  if (p == MAP_FAILED) return -errno;
  *start = p;
  *length = b.length;
  return 0;
}

int lotr_v4l2_unmap_buffer(void* start, size_t length) { return v4l2_munmap(start, length) < 0 ? -errno : 0; }

int lotr_v4l2_queue_buffer(int fd, uint32_t index) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof(b));
  b.index = index;
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  return lotr_v4l2_xioctl(fd, VIDIOC_QBUF, &b);
}

int lotr_v4l2_dequeue_buffer(int fd, lotr_v4l2_buffer* buffer) {
  struct v4l2_buffer b;
  memset(&b, 0, sizeof(b));
  b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  b.memory = V4L2_MEMORY_MMAP;
  const int r = lotr_v4l2_xioctl(fd, VIDIOC_DQBUF, &b);
  if (r < 0) return r;
  buffer->index = b.index;
  buffer->bytes_used = b.bytesused;
  buffer->flags = b.flags;
  buffer->sequence = b.sequence;
  buffer->timestamp_ns = (int64_t)b.timestamp.tv_sec * 1000000000 + (int64_t)b.timestamp.tv_usec * 1000;
  return 0;
}

int lotr_v4l2_stream_on(int fd) {
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  return lotr_v4l2_xioctl(fd, VIDIOC_STREAMON, &type);
}

int lotr_v4l2_stream_off(int fd) {
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  return lotr_v4l2_xioctl(fd, VIDIOC_STREAMOFF, &type);
}

int64_t lotr_v4l2_find_control(int fd, const char* name) {
  struct v4l2_queryctrl q;
  memset(&q, 0, sizeof(q));
  q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
  for (;;) {
    const int r = lotr_v4l2_xioctl(fd, VIDIOC_QUERYCTRL, &q);
    if (r < 0) return r == -EINVAL ? -ENOENT : r;
    if (strncmp((const char*)q.name, name, sizeof(q.name)) == 0) return q.id;
    q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
  }
}

int lotr_v4l2_set_control(int fd, uint32_t id, int32_t value) {
  struct v4l2_control c = {.id = id, .value = value};
  return lotr_v4l2_xioctl(fd, VIDIOC_S_CTRL, &c);
}
