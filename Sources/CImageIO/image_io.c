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

static uint8_t* decode_jpeg(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error) {
  struct jpeg_decompress_struct info;
  struct jpeg_error_context context;
  uint8_t* volatile pixels = NULL;
  info.err = jpeg_std_error(&context.manager);
  context.manager.error_exit = jpeg_error_exit;
  context.manager.output_message = jpeg_quiet;
  context.message = error;
  if (setjmp(context.jump)) {
    jpeg_destroy_decompress(&info);
    free(pixels);
    return NULL;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, (unsigned long)size);
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  if (info.output_width == 0 || info.output_height == 0 || info.output_width > LOTR_IMAGE_MAX_SIDE ||
      info.output_height > LOTR_IMAGE_MAX_SIDE || info.output_components != 3) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "JPEG: unsupported size %ux%u or %d components", info.output_width,
             info.output_height, info.output_components);
    jpeg_destroy_decompress(&info);
    return NULL;
  }
  const size_t stride = (size_t)info.output_width * 3;
  pixels = malloc(stride * info.output_height);
  if (pixels == NULL) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "out of memory for a %ux%u image", info.output_width, info.output_height);
    jpeg_destroy_decompress(&info);
    return NULL;
  }
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels + stride * info.output_scanline;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  *width = info.output_width;
  *height = info.output_height;
  jpeg_destroy_decompress(&info);
  return pixels;
}

static uint8_t* decode_png(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error) {
  png_image image;
  memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, data, size)) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: %s", image.message);
    return NULL;
  }
  if (image.width == 0 || image.height == 0 || image.width > LOTR_IMAGE_MAX_SIDE || image.height > LOTR_IMAGE_MAX_SIDE) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: unsupported size %ux%u", image.width, image.height);
    png_image_free(&image);
    return NULL;
  }
  image.format = PNG_FORMAT_RGB;
  uint8_t* pixels = malloc(PNG_IMAGE_SIZE(image));
  if (pixels == NULL) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "out of memory for a %ux%u image", image.width, image.height);
    png_image_free(&image);
    return NULL;
  }
  if (!png_image_finish_read(&image, NULL, pixels, 0, NULL)) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "PNG: %s", image.message);
    free(pixels);
    png_image_free(&image);
    return NULL;
  }
  *width = image.width;
  *height = image.height;
  return pixels;
}

uint8_t* lotr_image_decode_memory(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(data, size, width, height, error);
  if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return decode_png(data, size, width, height, error);
  snprintf(error, LOTR_IMAGE_ERROR_SIZE, "not a JPEG or PNG image");
  return NULL;
}

uint8_t* lotr_image_decode_file(const char* path, uint32_t* width, uint32_t* height, char* error) {
  FILE* file = fopen(path, "rb");
  if (file == NULL) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "cannot open: %s", strerror(errno));
    return NULL;
  }
  uint8_t* data = NULL;
  size_t size = 0, capacity = 0;
  for (;;) {
    if (size == capacity) {
      capacity = capacity ? capacity * 2 : 1 << 16;
      if (capacity > ((size_t)1 << 30)) {
        snprintf(error, LOTR_IMAGE_ERROR_SIZE, "file is larger than 1 GiB");
        free(data);
        fclose(file);
        return NULL;
      }
      uint8_t* grown = realloc(data, capacity);
      if (grown == NULL) {
        snprintf(error, LOTR_IMAGE_ERROR_SIZE, "out of memory reading the file");
        free(data);
        fclose(file);
        return NULL;
      }
      data = grown;
    }
    const size_t n = fread(data + size, 1, capacity - size, file);
    size += n;
    if (n == 0) break;
  }
  const int failed = ferror(file);
  fclose(file);
  if (failed) {
    snprintf(error, LOTR_IMAGE_ERROR_SIZE, "read error");
    free(data);
    return NULL;
  }
  uint8_t* pixels = lotr_image_decode_memory(data, size, width, height, error);
  free(data);
  return pixels;
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
  info.err = jpeg_std_error(&context.manager);
  context.manager.error_exit = jpeg_error_exit;
  context.manager.output_message = jpeg_quiet;
  context.message = error;
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

void lotr_image_free(uint8_t* pixels) { free(pixels); }
