// CLOTRVision: face detection with OpenCV-style boosted cascades (Haar and LBP features)
// on integral images, multi-scale. Plain C99, no dependencies; the cascade is parsed from
// OpenCV's XML in Swift (LOTRVision) and handed here as flat arrays.
#ifndef LOTR_VISION_H
#define LOTR_VISION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: pixels

/// Packed RGB8 to 8-bit luma with BT.601 weights in 14-bit fixed point (OpenCV's
/// RGB2GRAY: (4899 R + 9617 G + 1868 B + 8192) >> 14).
void lotr_vision_rgb8_to_gray(const uint8_t *rgb, size_t rgb_stride, uint32_t width, uint32_t height,
                              uint8_t *gray, size_t gray_stride);

/// Bilinear resize of an 8-bit image, pixel centres aligned (OpenCV INTER_LINEAR:
/// sx = (dx + 0.5) * sw / dw - 0.5, clamped at the border), 11-bit fixed-point weights.
void lotr_vision_resize_gray(const uint8_t *src, uint32_t sw, uint32_t sh, size_t sstride,
                             uint8_t *dst, uint32_t dw, uint32_t dh, size_t dstride);

/// Integral images of a w x h 8-bit image: sum[(y)(w+1) + x] = sum of img[0..y)[0..x)
/// ((w+1) x (h+1), first row and column zero). sqsum (same layout, squares) may be NULL.
/// int32 sums hold any image up to 8.4 Mpixel.
void lotr_vision_integral(const uint8_t *img, uint32_t w, uint32_t h, size_t stride,
                          int32_t *sum, int64_t *sqsum);

// MARK: cascade

enum { LOTR_CASCADE_HAAR = 0, LOTR_CASCADE_LBP = 1 };

/// A rectangle of a Haar feature (weight 0 = unused slot) or an LBP feature's cell
/// (x, y, w, h of the top-left cell of its 3x3 grid; weight unused).
typedef struct { int32_t x, y, w, h; float weight; } lotr_cascade_rect;

/// A tree node. left/right > 0: node index relative to the weak classifier's root;
/// <= 0: leaf -left / -right of that weak classifier. Haar: go left when
/// feature * variance_norm < threshold. LBP: go left when the code's bit is set in the
/// node's 256-bit subset.
typedef struct { int32_t left, right, feature; float threshold; } lotr_cascade_node;

typedef struct { int32_t first_weak, weak_count; float threshold; } lotr_cascade_stage;

/// Everything a cascade is, as flat arrays (copied by lotr_cascade_create).
typedef struct {
  int32_t kind;                 // LOTR_CASCADE_HAAR or LOTR_CASCADE_LBP
  int32_t window_w, window_h;   // training window (24x24 for the frontal faces)
  int32_t stage_count;
  const lotr_cascade_stage *stages;
  int32_t weak_count;
  const int32_t *weak_root;     // per weak classifier: index of its root in nodes
  const int32_t *weak_leaf;     // per weak classifier: index of its leaf 0 in leaves
  int32_t node_count;
  const lotr_cascade_node *nodes;
  int32_t leaf_count;
  const float *leaves;
  const int32_t *subsets;       // LBP: 8 words per node (node_count * 8); Haar: NULL
  int32_t feature_count;
  const lotr_cascade_rect *rects; // Haar: 3 per feature; LBP: 1 per feature
} lotr_cascade_desc;

typedef struct lotr_cascade lotr_cascade;

/// Copies and validates desc (indices in range). NULL with a message in error on failure.
lotr_cascade *lotr_cascade_create(const lotr_cascade_desc *desc, char *error, size_t error_size);
void lotr_cascade_free(lotr_cascade *cascade);

/// Runs the cascade on one window whose top-left is (x, y) of an integral image pair of
/// row stride `stride` (elements; sqsum unused for LBP, may be NULL). Returns 1 when every
/// stage passes, else -s for the first stage s that rejects (0 = the first stage).
/// The whole window must lie inside the image. Slow path (offsets computed per call):
/// for tests; the detector precomputes them per scale.
int32_t lotr_cascade_run_window(const lotr_cascade *cascade, const int32_t *sum, const int64_t *sqsum,
                                size_t stride, int32_t x, int32_t y);

/// One feature's raw value on a window (Haar: weighted rectangle sums, before variance
/// normalisation; LBP: the 8-bit code). For tests.
double lotr_cascade_feature_value(const lotr_cascade *cascade, int32_t feature, const int32_t *sum,
                                  size_t stride, int32_t x, int32_t y);

typedef struct { int32_t x, y, w, h; } lotr_vision_rect;

/// Per-detector scratch (scaled image, integrals, feature offsets), grown as needed and
/// reused, so a steady frame size allocates nothing per frame. Not shared across threads.
typedef struct lotr_vision_scratch lotr_vision_scratch;
lotr_vision_scratch *lotr_vision_scratch_create(void);
void lotr_vision_scratch_free(lotr_vision_scratch *scratch);

/// OpenCV's CascadeClassifier::detectMultiScale scan, before grouping: for factor = 1,
/// f, f^2, ...: the image resized by 1/factor (bilinear), integrals, every window position
/// with a step of 2 pixels (1 once factor > 2), skipping the next position after a
/// first-stage reject; a pass gives the rect (round(x factor), round(y factor),
/// round(window factor)). Scales whose window is below min_w x min_h are skipped; the scan
/// stops when the window exceeds max_w x max_h (0 = no limit) or the image.
/// Writes at most max_out rects; returns how many were found (may be more than max_out:
/// call again with room for them), or -1 when out of memory.
int64_t lotr_cascade_detect(const lotr_cascade *cascade, lotr_vision_scratch *scratch, const uint8_t *gray,
                            uint32_t width, uint32_t height, size_t stride, double scale_factor,
                            int32_t min_w, int32_t min_h, int32_t max_w, int32_t max_h,
                            lotr_vision_rect *out, size_t max_out);

#ifdef __cplusplus
}
#endif
#endif
