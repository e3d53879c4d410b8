/* The crop warp's row (lotr_pixels.h) for x86-64 AVX2, 8 output pixels a step: source
 * points, floors and bilinear weights in 8-float vectors; the taps by masked VPGATHERDD
 * (per row of two taps: RGB8 and YUYV 2, GRAY8 1, NV12 2, I420 3) and the BT.601 contract
 * in int32 lanes; the same float operations as the reference in its order,
 * so the bits match it. Lanes whose tap is outside the frame are masked out of the gather
 * (never read) and read as black.
 *
 * A byte gather reads a 4-byte window from the first byte wanted, moved back near the end
 * of the plane, so it never touches a byte outside the plane; offsets are int32. Frames
 * narrower than 8 pixels (planes of fewer than 4 bytes) or planes of 2 GiB and more run
 * the reference. */
#include <stdint.h>

#include "pixels_config.h"

#if defined(__x86_64__)
#include "x86_target.h"
LOTR_AVX2_BEGIN

/* Bytes of a plane of `plane_bytes` (>= 4) from `off` on, for lanes in `mask`: the 4-byte
 * load starts at off or, near the plane's end, earlier (so it stays inside), and the word
 * is shifted so byte 0 is base[off]; bytes past the plane read 0. */
static inline __m256i window(const uint8_t* base, __m256i off, size_t plane_bytes, __m256i mask) {
  const __m256i start = _mm256_min_epi32(off, _mm256_set1_epi32((int32_t)plane_bytes - 4));
  const __m256i word = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int*)base, start, mask, 1);
  return _mm256_srlv_epi32(word, _mm256_slli_epi32(_mm256_sub_epi32(off, start), 3));
}

static inline __m256i byte_at(__m256i w, int shift) {
  return _mm256_and_si256(_mm256_srli_epi32(w, shift), _mm256_set1_epi32(0xff));
}

static inline __m256i clamp8(__m256i x) {
  return _mm256_min_epi32(_mm256_max_epi32(x, _mm256_setzero_si256()), _mm256_set1_epi32(255));
}

/* lotr_pixel_yuv_to_rgb in int32 lanes. */
static inline void yuv_to_rgb(__m256i y, __m256i u, __m256i v, __m256i rgb[3]) {
  const __m256i c = _mm256_mullo_epi32(_mm256_sub_epi32(y, _mm256_set1_epi32(16)), _mm256_set1_epi32(298));
  const __m256i d = _mm256_sub_epi32(u, _mm256_set1_epi32(128)), e = _mm256_sub_epi32(v, _mm256_set1_epi32(128));
  const __m256i c128 = _mm256_add_epi32(c, _mm256_set1_epi32(128));
  rgb[0] = clamp8(_mm256_srai_epi32(_mm256_add_epi32(c128, _mm256_mullo_epi32(e, _mm256_set1_epi32(409))), 8));
  rgb[1] = clamp8(_mm256_srai_epi32(
      _mm256_sub_epi32(_mm256_sub_epi32(c128, _mm256_mullo_epi32(d, _mm256_set1_epi32(100))),
                       _mm256_mullo_epi32(e, _mm256_set1_epi32(208))),
      8));
  rgb[2] = clamp8(_mm256_srai_epi32(_mm256_add_epi32(c128, _mm256_mullo_epi32(d, _mm256_set1_epi32(516))), 8));
}

/* The RGB (as floats) of pixels (x, y) of 8 lanes, black where outside the frame, for the
 * layouts whose two horizontal taps do not share a window (RGB8, YUYV: see row_taps). */
static inline void taps(const lotr_image* im, __m256i x, __m256i y, __m256 out[3]) {
  const __m256i inside = _mm256_and_si256(
      _mm256_and_si256(_mm256_cmpgt_epi32(x, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(y, _mm256_set1_epi32(-1))),
      _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)im->width), x),
                       _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)im->height), y)));
  const __m256i row0 = _mm256_mullo_epi32(y, _mm256_set1_epi32((int32_t)im->stride[0]));
  __m256i rgb[3];
  if (im->layout == LOTR_IMAGE_RGB8) {
    const __m256i off = _mm256_add_epi32(row0, _mm256_mullo_epi32(x, _mm256_set1_epi32(3)));
    const __m256i w = window(im->plane[0], off, (im->height - 1) * im->stride[0] + 3 * (size_t)im->width, inside);
    rgb[0] = byte_at(w, 0), rgb[1] = byte_at(w, 8), rgb[2] = byte_at(w, 16);
  } else { /* YUYV: the pair's 4 bytes, Y0 U Y1 V, always inside the plane */
    const __m256i off = _mm256_add_epi32(row0, _mm256_slli_epi32(_mm256_srli_epi32(x, 1), 2));
    const __m256i w = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int*)im->plane[0], off, inside, 1);
    const __m256i yshift = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(1)), 4);
    yuv_to_rgb(byte_at(_mm256_srlv_epi32(w, yshift), 0), byte_at(w, 8), byte_at(w, 24), rgb);
  }
  for (int ch = 0; ch < 3; ch++) out[ch] = _mm256_cvtepi32_ps(_mm256_and_si256(rgb[ch], inside));
}

static inline __m256i inside_x(const lotr_image* im, __m256i x) {
  return _mm256_and_si256(_mm256_cmpgt_epi32(x, _mm256_set1_epi32(-1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)im->width), x));
}

/* The two taps (x0, y) and (x0 + 1, y) of 8 lanes. For GRAY8, NV12 and I420 they share
 * their loads: both lumas sit in one 4-byte window of the Y plane, both chroma samples in
 * one window of each chroma plane, so a row costs 1 (GRAY8), 2 (NV12) or 3 (I420) gathers
 * instead of twice that. RGB8 and YUYV take each tap on its own (taps above). */
static inline void row_taps(const lotr_image* im, __m256i x0, __m256i y, __m256 t0[3], __m256 t1[3]) {
  const __m256i one = _mm256_set1_epi32(1), x1 = _mm256_add_epi32(x0, one);
  if (im->layout == LOTR_IMAGE_RGB8 || im->layout == LOTR_IMAGE_YUYV) {
    taps(im, x0, y, t0);
    taps(im, x1, y, t1);
    return;
  }
  const __m256i row_in = _mm256_and_si256(_mm256_cmpgt_epi32(y, _mm256_set1_epi32(-1)),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)im->height), y));
  const __m256i in0 = _mm256_and_si256(row_in, inside_x(im, x0)), in1 = _mm256_and_si256(row_in, inside_x(im, x1));
  const __m256i any = _mm256_or_si256(in0, in1);
  const __m256i xb = _mm256_max_epi32(x0, _mm256_setzero_si256()); /* x0, or x1 = 0 when x0 = -1 */
  const size_t w = im->width, h = im->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
  const __m256i luma = window(im->plane[0], _mm256_add_epi32(_mm256_mullo_epi32(y, _mm256_set1_epi32((int32_t)im->stride[0])), xb),
                              (h - 1) * im->stride[0] + w, any);
  const __m256i luma1 = _mm256_srlv_epi32(luma, _mm256_slli_epi32(_mm256_sub_epi32(x1, xb), 3));
  __m256i rgb0[3], rgb1[3];
  if (im->layout == LOTR_IMAGE_GRAY8) {
    rgb0[0] = rgb0[1] = rgb0[2] = byte_at(luma, 0);
    rgb1[0] = rgb1[1] = rgb1[2] = byte_at(luma1, 0);
  } else {
    const __m256i cr = _mm256_srli_epi32(y, 1), cb = _mm256_srli_epi32(xb, 1);
    const __m256i c1 = _mm256_sub_epi32(_mm256_srai_epi32(x1, 1), cb); /* x1's chroma sample: cb or cb + 1 */
    __m256i u0, v0, u1, v1;
    if (im->layout == LOTR_IMAGE_NV12) {
      const __m256i uv = window(im->plane[1], _mm256_add_epi32(_mm256_mullo_epi32(cr, _mm256_set1_epi32((int32_t)im->stride[1])),
                                                               _mm256_slli_epi32(cb, 1)),
                                (ch - 1) * im->stride[1] + 2 * cw, any);
      const __m256i uv1 = _mm256_srlv_epi32(uv, _mm256_slli_epi32(c1, 4));
      u0 = byte_at(uv, 0), v0 = byte_at(uv, 8), u1 = byte_at(uv1, 0), v1 = byte_at(uv1, 8);
    } else {
      const __m256i shift1 = _mm256_slli_epi32(c1, 3);
      const __m256i u = window(im->plane[1], _mm256_add_epi32(_mm256_mullo_epi32(cr, _mm256_set1_epi32((int32_t)im->stride[1])), cb),
                               (ch - 1) * im->stride[1] + cw, any);
      const __m256i v = window(im->plane[2], _mm256_add_epi32(_mm256_mullo_epi32(cr, _mm256_set1_epi32((int32_t)im->stride[2])), cb),
                               (ch - 1) * im->stride[2] + cw, any);
      u0 = byte_at(u, 0), v0 = byte_at(v, 0);
      u1 = byte_at(_mm256_srlv_epi32(u, shift1), 0), v1 = byte_at(_mm256_srlv_epi32(v, shift1), 0);
    }
    yuv_to_rgb(byte_at(luma, 0), u0, v0, rgb0);
    yuv_to_rgb(byte_at(luma1, 0), u1, v1, rgb1);
  }
  for (int c = 0; c < 3; c++) {
    t0[c] = _mm256_cvtepi32_ps(_mm256_and_si256(rgb0[c], in0));
    t1[c] = _mm256_cvtepi32_ps(_mm256_and_si256(rgb1[c], in1));
  }
}

/* The planes this layout reads, each with at least 4 bytes and int32 offsets. */
static int gatherable(const lotr_image* im) {
  if (im->width < 8 || im->height < 1) return 0;
  const int planes = im->layout == LOTR_IMAGE_I420 ? 3 : im->layout == LOTR_IMAGE_NV12 ? 2 : 1;
  for (int p = 0; p < planes; p++)
    if ((uint64_t)im->height * im->stride[p] + 4 * (uint64_t)im->width >= (uint64_t)INT32_MAX) return 0;
  return im->layout <= LOTR_IMAGE_I420;
}

void lotr_image_warp_row__avx2(const lotr_image* src, const float affine[6], float v, uint32_t out_width, float* dst,
                               const float mean[3], const float inv_std[3]) {
  if (!gatherable(src)) {
    lotr_image_warp_row__ref(src, affine, v, out_width, dst, mean, inv_std);
    return;
  }
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), limit = _mm256_set1_ps(1e7f);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 a0 = _mm256_set1_ps(affine[0]), a2 = _mm256_set1_ps(affine[2]);
  const __m256 a3 = _mm256_set1_ps(affine[3]), a5 = _mm256_set1_ps(affine[5]);
  const __m256 a1v = _mm256_set1_ps(affine[1] * v), a4v = _mm256_set1_ps(affine[4] * v); /* same product per pixel */
  const __m256 width = _mm256_set1_ps((float)out_width), inv255 = _mm256_set1_ps(1.0f / 255.0f);
  __m256 m[3], s[3], black[3];
  for (int c = 0; c < 3; c++) {
    m[c] = _mm256_set1_ps(mean[c]), s[c] = _mm256_set1_ps(inv_std[c]);
    black[c] = _mm256_set1_ps((0.0f - mean[c]) * inv_std[c]);
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (uint32_t j = 0; j < out_width; j += 8) {
    const __m256 jf = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32((int32_t)j), lane));
    const __m256 u = _mm256_sub_ps(_mm256_div_ps(_mm256_add_ps(jf, half), width), half);
    __m256 x = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a0, u), a1v), a2), half);
    __m256 y = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(a3, u), a4v), a5), half);
    const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(x, abs_mask), limit, _CMP_LT_OQ),
                                    _mm256_cmp_ps(_mm256_and_ps(y, abs_mask), limit, _CMP_LT_OQ));
    x = _mm256_and_ps(x, ok), y = _mm256_and_ps(y, ok); /* NaN / absurd lanes: a harmless point, blended black */
    const __m256 fx0 = _mm256_floor_ps(x), fy0 = _mm256_floor_ps(y);
    const __m256i x0 = _mm256_cvttps_epi32(fx0), y0 = _mm256_cvttps_epi32(fy0);
    const __m256i y1 = _mm256_add_epi32(y0, _mm256_set1_epi32(1));
    const __m256 fx = _mm256_sub_ps(x, fx0), fy = _mm256_sub_ps(y, fy0);
    const __m256 gx = _mm256_sub_ps(one, fx), gy = _mm256_sub_ps(one, fy);
    __m256 t00[3], t10[3], t01[3], t11[3];
    row_taps(src, x0, y0, t00, t10);
    row_taps(src, x0, y1, t01, t11);
    float out[3][8];
    for (int c = 0; c < 3; c++) {
      const __m256 top = _mm256_add_ps(_mm256_mul_ps(t00[c], gx), _mm256_mul_ps(t10[c], fx));
      const __m256 bottom = _mm256_add_ps(_mm256_mul_ps(t01[c], gx), _mm256_mul_ps(t11[c], fx));
      const __m256 sample = _mm256_add_ps(_mm256_mul_ps(top, gy), _mm256_mul_ps(bottom, fy));
      const __m256 value = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(sample, inv255), m[c]), s[c]);
      _mm256_storeu_ps(out[c], _mm256_blendv_ps(black[c], value, ok));
    }
    const uint32_t n = out_width - j < 8 ? out_width - j : 8;
    float* o = dst + (size_t)j * 3;
    for (uint32_t k = 0; k < n; k++) o[3 * k] = out[0][k], o[3 * k + 1] = out[1][k], o[3 * k + 2] = out[2][k];
  }
}

LOTR_AVX2_END
#endif /* __x86_64__ */
