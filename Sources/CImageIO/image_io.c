#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "lotr_image_io.h"

struct jpeg_error_context {
  struct jpeg_error_mgr manager;
  jmp_buf jump;
  char* message;
};

static void jpeg_error_exit(j_common_ptr info) {
  struct jpeg_error_context* context = (struct jpeg_error_context*)info->err;
  char text[JMSG_LENGTH_MAX];
  info->err->format_message(info, text);
  snprintf(context->message, LOTR_IMAGE_ERROR_SIZE, "JPEG: %s", text);
  longjmp(context->jump, 1);
}

static void jpeg_quiet(j_common_ptr info) { (void)info; }

/* libjpeg's errors into `context`: message into `error`, then longjmp (the caller's setjmp). */
static struct jpeg_error_mgr* jpeg_errors_to(struct jpeg_error_context* context, char* error) {
  struct jpeg_error_mgr* manager = jpeg_std_error(&context->manager);
  context->manager.error_exit = jpeg_error_exit;
  context->manager.output_message = jpeg_quiet;
  context->message = error;
  return manager;
}

/* JPEG: reads the header only (info) or decodes into rgb (decode). A progressive file's
 * coefficient buffers are the decoder's only large allocation (about 2 bytes per sample),
 * bounded by the caller's pixel budget through the declared size. */
static int jpeg_run(const uint8_t* data, size_t size, uint8_t* rgb, uint32_t* width, uint32_t* height, char* error) {
  struct jpeg_decompress_struct info;
  struct jpeg_error_context context;
  info.err = jpeg_errors_to(&context, error);
  if (setjmp(context.jump)) {
    jpeg_destroy_decompress(&info);
    return -1;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  if (rgb == NULL) {
    *width = info.image_width;
    *height = info.image_height;
    jpeg_destroy_decompress(&info);
    return 0;
  }
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  if (info.output_width != *width || info.output_height != *height || info.output_components != 3) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "JPEG: decodes to %ux%u with %d components, not the declared %ux%u RGB",
             info.output_width, info.output_height, info.output_components, *width, *height);
    jpeg_destroy_decompress(&info);
    return -1;
  }
  const size_t stride = (size_t)info.output_width * 3;
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = rgb + stride * info.output_scanline;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return 0;
}

static int png_run(const uint8_t* data, size_t size, uint8_t* rgb, uint32_t* width, uint32_t* height, char* error) {
  png_image image;
  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data, size)) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: %s", image.message);
    return -1;
  }
  if (rgb == NULL) {
    *width = image.width;
    *height = image.height;
    png_image_free(&image);
    return 0;
  }
  if (image.width != *width || image.height != *height) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: size %ux%u is not the declared %ux%u", image.width, image.height,
             *width, *height);
    png_image_free(&image);
    return -1;
  }
  image.format = PNG_FORMAT_RGB;
  if (!png_image_finish_read(&image, NULL, rgb, 0, NULL)) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: %s", image.message);
    png_image_free(&image);
    return -1;
  }
  return 0;
}

static int image_run(const uint8_t* data, size_t size, uint8_t* rgb, uint32_t* width, uint32_t* height, char* error) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return jpeg_run(data, size, rgb, width, height, error);
  if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return png_run(data, size, rgb, width, height, error);
  snprintf(error, LOTR_IMAGE_ERROR_SIZE, "not a JPEG or PNG image");
  return -1;
}

int lotr_image_info(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error) {
  if (image_run(data, size, NULL, width, height, error) != 0) return -1;
  if (*width == 0 || *height == 0 || *width > LOTR_IMAGE_MAX_SIDE || *height > LOTR_IMAGE_MAX_SIDE) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "unsupported size %ux%u (each side 1...%d)", *width, *height, LOTR_IMAGE_MAX_SIDE);
    return -1;
  }
  return 0;
}

int lotr_image_decode_into(const uint8_t* data, size_t size, uint8_t* rgb, uint32_t width, uint32_t height, char* error) {
  if (rgb == NULL) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "no output buffer");
    return -1;
  }
  return image_run(data, size, rgb, &width, &height, error);
}

int lotr_image_write_png(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, char* error) {
  png_image image;
  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&image, path, 0, rgb, 0, NULL)) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: %s", image.message);
    return -1;
  }
  return 0;
}

int lotr_image_write_jpeg(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, int quality, char* error) {
  FILE* volatile file = fopen(path, "wb");
  if (file == NULL) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "cannot create: %s", strerror(errno));
    return -1;
  }
  struct jpeg_compress_struct info;
  struct jpeg_error_context context;
  info.err = jpeg_errors_to(&context, error);
  if (setjmp(context.jump)) {
    jpeg_destroy_compress(&info);
    fclose(file);
    return -1;
  }
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, file);
  info.image_width = width;
  info.image_height = height;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = (JSAMPROW)(rgb + (size_t)info.next_scanline * width * 3);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  if (fclose(file) != 0) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "cannot write: %s", strerror(errno));
    return -1;
  }
  return 0;
}

