/* Thin shims over Debian's libjpeg-turbo and libpng: decode a file or a memory buffer
 * to packed RGB8, encode RGB8 to PNG or JPEG. Errors come back as text in `error`
 * (never a longjmp across Swift, never an exit). */
#ifndef LOTR_IMAGE_IO_H
#define LOTR_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOTR_IMAGE_ERROR_SIZE 256
#define LOTR_IMAGE_MAX_SIDE 16384

/* Decodes a JPEG or PNG (chosen by its first bytes). On success returns a malloc'd
 * width*height*3 RGB buffer (free with lotr_image_free) and sets *width, *height. On
 * failure returns NULL with a message in error[LOTR_IMAGE_ERROR_SIZE]. */
uint8_t* lotr_image_decode_file(const char* path, uint32_t* width, uint32_t* height, char* error);
uint8_t* lotr_image_decode_memory(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error);

/* Returns 0, or -1 with a message. PNG is lossless; JPEG quality 1..100. */
int lotr_image_write_png(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, char* error);
int lotr_image_write_jpeg(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, int quality, char* error);

void lotr_image_free(uint8_t* pixels);

#ifdef __cplusplus
}
#endif
#endif
