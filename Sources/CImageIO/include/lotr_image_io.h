/* Thin shims over Debian's libjpeg-turbo and libpng: decode an encoded image in memory
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

/* Decoding is two calls so that the caller checks the declared size against its pixel
 * budget and owns the one output buffer (no second copy): lotr_image_info reads only the
 * header of a JPEG or PNG (chosen by its first bytes) and gives its size (each side
 * 1...LOTR_IMAGE_MAX_SIDE); lotr_image_decode_into decodes into rgb, width*height*3
 * bytes, and fails if the image does not decode to that size. Both return 0, or -1 with
 * a message in error[LOTR_IMAGE_ERROR_SIZE]. */
int lotr_image_info(const uint8_t* data, size_t size, uint32_t* width, uint32_t* height, char* error);
int lotr_image_decode_into(const uint8_t* data, size_t size, uint8_t* rgb, uint32_t width, uint32_t height, char* error);

/* Returns 0, or -1 with a message. PNG is lossless; JPEG quality 1..100. */
int lotr_image_write_png(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, char* error);
int lotr_image_write_jpeg(const char* path, const uint8_t* rgb, uint32_t width, uint32_t height, int quality, char* error);


#ifdef __cplusplus
}
#endif
#endif
