// Boosted cascade evaluation as OpenCV's CascadeClassifier (cascadedetect.cpp) does it:
// Haar features normalised by the window's standard deviation, LBP features as 8-bit
// codes looked up in each node's 256-bit subset; ordered trees of any depth; a stage
// rejects when the sum of its weak classifiers' leaves falls below its threshold.
#include "lotr_vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lotr_cascade {
  int32_t kind, window_w, window_h;
  int32_t stage_count, weak_count, node_count, leaf_count, feature_count;
  lotr_cascade_stage *stages;
  int32_t *weak_root, *weak_leaf;
  lotr_cascade_node *nodes;
  float *leaves;
  int32_t *subsets;
  lotr_cascade_rect *rects;
};

struct lotr_vision_scratch {
  uint8_t *image; size_t image_cap;
  int32_t *sum; size_t sum_cap;
  int64_t *sqsum; size_t sqsum_cap;
  int32_t *offsets; size_t offsets_cap;
};

static void *dup_array(const void *src, size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (p && bytes) memcpy(p, src, bytes);
  return p;
}

void lotr_cascade_free(lotr_cascade *c) {
  if (!c) return;
  free(c->stages); free(c->weak_root); free(c->weak_leaf); free(c->nodes);
  free(c->leaves); free(c->subsets); free(c->rects); free(c);
}

#define FAIL(...) do { if (error && error_size) snprintf(error, error_size, __VA_ARGS__); lotr_cascade_free(c); return NULL; } while (0)

lotr_cascade *lotr_cascade_create(const lotr_cascade_desc *d, char *error, size_t error_size) {
  lotr_cascade *c = NULL;
  if (!d) FAIL("no cascade");
  if (d->kind != LOTR_CASCADE_HAAR && d->kind != LOTR_CASCADE_LBP) FAIL("unknown feature type %d", d->kind);
  if (d->window_w < 3 || d->window_h < 3 || d->window_w > 1024 || d->window_h > 1024)
    FAIL("window %dx%d out of range", d->window_w, d->window_h);
  if (d->stage_count <= 0 || d->weak_count <= 0 || d->node_count <= 0 || d->leaf_count <= 0 || d->feature_count <= 0)
    FAIL("empty cascade (%d stages, %d weak classifiers, %d nodes, %d leaves, %d features)",
         d->stage_count, d->weak_count, d->node_count, d->leaf_count, d->feature_count);
  for (int32_t s = 0; s < d->stage_count; s++) {
    const lotr_cascade_stage *st = &d->stages[s];
    if (st->first_weak < 0 || st->weak_count <= 0 || st->first_weak + st->weak_count > d->weak_count)
      FAIL("stage %d: weak classifiers %d+%d out of range", s, st->first_weak, st->weak_count);
  }
  for (int32_t w = 0; w < d->weak_count; w++) {
    int32_t root = d->weak_root[w], leaf = d->weak_leaf[w];
    if (root < 0 || root >= d->node_count) FAIL("weak classifier %d: root %d out of range", w, root);
    if (leaf < 0 || leaf >= d->leaf_count) FAIL("weak classifier %d: leaf %d out of range", w, leaf);
    int32_t end = w + 1 < d->weak_count ? d->weak_root[w + 1] : d->node_count;
    for (int32_t n = root; n < end && n < d->node_count; n++) {
      const lotr_cascade_node *node = &d->nodes[n];
      if (node->feature < 0 || node->feature >= d->feature_count) FAIL("node %d: feature %d out of range", n, node->feature);
      int32_t kids[2] = {node->left, node->right};
      for (int k = 0; k < 2; k++) {
        if (kids[k] > 0 && root + kids[k] >= d->node_count) FAIL("node %d: child %d out of range", n, kids[k]);
        if (kids[k] > 0 && root + kids[k] <= n) FAIL("node %d: child %d does not point forward", n, kids[k]);
        if (kids[k] <= 0 && leaf - kids[k] >= d->leaf_count) FAIL("node %d: leaf %d out of range", n, -kids[k]);
      }
    }
  }
  if (d->kind == LOTR_CASCADE_LBP && !d->subsets) FAIL("LBP cascade without subsets");
  int32_t per = d->kind == LOTR_CASCADE_HAAR ? 3 : 1;
  for (int32_t f = 0; f < d->feature_count; f++) {
    for (int32_t r = 0; r < per; r++) {
      const lotr_cascade_rect *rc = &d->rects[f * per + r];
      if (d->kind == LOTR_CASCADE_HAAR && rc->weight == 0) continue;
      int32_t k = d->kind == LOTR_CASCADE_HAAR ? 1 : 3;
      if (rc->x < 0 || rc->y < 0 || rc->w <= 0 || rc->h <= 0 || rc->x + k * rc->w > d->window_w ||
          rc->y + k * rc->h > d->window_h)
        FAIL("feature %d rect %d (%d %d %d %d) outside the %dx%d window", f, r, rc->x, rc->y, rc->w, rc->h,
             d->window_w, d->window_h);
    }
  }
  c = calloc(1, sizeof *c);
  if (!c) FAIL("out of memory");
  c->kind = d->kind; c->window_w = d->window_w; c->window_h = d->window_h;
  c->stage_count = d->stage_count; c->weak_count = d->weak_count; c->node_count = d->node_count;
  c->leaf_count = d->leaf_count; c->feature_count = d->feature_count;
  c->stages = dup_array(d->stages, sizeof *d->stages * (size_t)d->stage_count);
  c->weak_root = dup_array(d->weak_root, sizeof(int32_t) * (size_t)d->weak_count);
  c->weak_leaf = dup_array(d->weak_leaf, sizeof(int32_t) * (size_t)d->weak_count);
  c->nodes = dup_array(d->nodes, sizeof *d->nodes * (size_t)d->node_count);
  c->leaves = dup_array(d->leaves, sizeof(float) * (size_t)d->leaf_count);
  c->subsets = d->subsets ? dup_array(d->subsets, sizeof(int32_t) * 8 * (size_t)d->node_count) : NULL;
  c->rects = dup_array(d->rects, sizeof *d->rects * (size_t)(d->feature_count * per));
  if (!c->stages || !c->weak_root || !c->weak_leaf || !c->nodes || !c->leaves || !c->rects ||
      (d->subsets && !c->subsets))
    FAIL("out of memory");
  return c;
}

// MARK: per-scale offsets

// Offsets in an integral image of row stride S. Haar: per feature 3 rects x 4 corners
// (tl, tr, bl, br) then the variance-normalisation rect (1, 1, W-2, H-2) at the end.
// LBP: per feature the 4x4 grid of cell corners, row-major.
static size_t offsets_count(const lotr_cascade *c) {
  return c->kind == LOTR_CASCADE_HAAR ? (size_t)c->feature_count * 12 + 4 : (size_t)c->feature_count * 16;
}

static void compute_offsets(const lotr_cascade *c, size_t S, int32_t *o) {
  if (c->kind == LOTR_CASCADE_HAAR) {
    for (int32_t f = 0; f < c->feature_count; f++) {
      for (int r = 0; r < 3; r++) {
        const lotr_cascade_rect *rc = &c->rects[f * 3 + r];
        int32_t *p = o + f * 12 + r * 4;
        if (rc->weight == 0) { p[0] = p[1] = p[2] = p[3] = 0; continue; }
        p[0] = (int32_t)(rc->y * S + rc->x);
        p[1] = (int32_t)(rc->y * S + rc->x + rc->w);
        p[2] = (int32_t)((rc->y + rc->h) * S + rc->x);
        p[3] = (int32_t)((rc->y + rc->h) * S + rc->x + rc->w);
      }
    }
    int32_t *p = o + (size_t)c->feature_count * 12;
    int32_t x = 1, y = 1, w = c->window_w - 2, h = c->window_h - 2;
    p[0] = (int32_t)(y * S + x); p[1] = (int32_t)(y * S + x + w);
    p[2] = (int32_t)((y + h) * S + x); p[3] = (int32_t)((y + h) * S + x + w);
  } else {
    for (int32_t f = 0; f < c->feature_count; f++) {
      const lotr_cascade_rect *rc = &c->rects[f];
      for (int j = 0; j < 4; j++)
        for (int i = 0; i < 4; i++) o[f * 16 + j * 4 + i] = (int32_t)((rc->y + j * rc->h) * S + rc->x + i * rc->w);
    }
  }
}

#define RSUM(p, o) ((p)[(o)[0]] - (p)[(o)[1]] - (p)[(o)[2]] + (p)[(o)[3]])

static inline float haar_feature(const int32_t *p, const int32_t *o, const lotr_cascade_rect *rc) {
  float v = rc[0].weight * (float)RSUM(p, o) + rc[1].weight * (float)RSUM(p, o + 4);
  if (rc[2].weight != 0.0f) v += rc[2].weight * (float)RSUM(p, o + 8);
  return v;
}

// The 8-bit LBP code: each of the 8 outer cells >= the centre cell, clockwise from
// the top-left cell as the most significant bit (OpenCV's LBPEvaluator).
static inline int lbp_code(const int32_t *p, const int32_t *o) {
#define CELL(a, b, c_, d_) (p[o[a]] - p[o[b]] - p[o[c_]] + p[o[d_]])
  int32_t cv = CELL(5, 6, 9, 10);
  return (CELL(0, 1, 4, 5) >= cv ? 128 : 0) | (CELL(1, 2, 5, 6) >= cv ? 64 : 0) |
         (CELL(2, 3, 6, 7) >= cv ? 32 : 0) | (CELL(6, 7, 10, 11) >= cv ? 16 : 0) |
         (CELL(10, 11, 14, 15) >= cv ? 8 : 0) | (CELL(9, 10, 13, 14) >= cv ? 4 : 0) |
         (CELL(8, 9, 12, 13) >= cv ? 2 : 0) | (CELL(4, 5, 8, 9) >= cv ? 1 : 0);
#undef CELL
}

// The cascade at one window: p and q point at the window's top-left in sum / sqsum.
static int32_t run_at(const lotr_cascade *c, const int32_t *o, const int32_t *p, const int64_t *q) {
  float inv_norm = 1.0f;
  if (c->kind == LOTR_CASCADE_HAAR) {
    const int32_t *no = o + (size_t)c->feature_count * 12;
    int32_t s = RSUM(p, no);
    int64_t sq = RSUM(q, no);
    double area = (double)(c->window_w - 2) * (c->window_h - 2);
    double nf = area * (double)sq - (double)s * s;
    inv_norm = (float)(1.0 / (nf > 0 ? sqrt(nf) : 1.0));
  }
  for (int32_t si = 0; si < c->stage_count; si++) {
    const lotr_cascade_stage *st = &c->stages[si];
    float total = 0;
    for (int32_t w = st->first_weak; w < st->first_weak + st->weak_count; w++) {
      const lotr_cascade_node *root = &c->nodes[c->weak_root[w]];
      int32_t idx = 0;
      if (c->kind == LOTR_CASCADE_HAAR) {
        do {
          const lotr_cascade_node *n = root + idx;
          float v = haar_feature(p, o + n->feature * 12, &c->rects[n->feature * 3]) * inv_norm;
          idx = v < n->threshold ? n->left : n->right;
        } while (idx > 0);
      } else {
        do {
          const lotr_cascade_node *n = root + idx;
          int code = lbp_code(p, o + n->feature * 16);
          const int32_t *subset = c->subsets + (size_t)(n - c->nodes) * 8;
          idx = ((uint32_t)subset[code >> 5] & (1u << (code & 31))) ? n->left : n->right;
        } while (idx > 0);
      }
      total += c->leaves[c->weak_leaf[w] - idx];
    }
    if (total < st->threshold) return -si;
  }
  return 1;
}

int32_t lotr_cascade_run_window(const lotr_cascade *c, const int32_t *sum, const int64_t *sqsum, size_t stride,
                                int32_t x, int32_t y) {
  int32_t *o = malloc(sizeof(int32_t) * offsets_count(c));
  if (!o) return -1;
  compute_offsets(c, stride, o);
  size_t at = (size_t)y * stride + (size_t)x;
  int32_t r = run_at(c, o, sum + at, sqsum ? sqsum + at : NULL);
  free(o);
  return r;
}

double lotr_cascade_feature_value(const lotr_cascade *c, int32_t feature, const int32_t *sum, size_t stride,
                                  int32_t x, int32_t y) {
  if (feature < 0 || feature >= c->feature_count) return NAN;
  int32_t *o = malloc(sizeof(int32_t) * offsets_count(c));
  if (!o) return NAN;
  compute_offsets(c, stride, o);
  const int32_t *p = sum + (size_t)y * stride + (size_t)x;
  double v = c->kind == LOTR_CASCADE_HAAR ? haar_feature(p, o + feature * 12, &c->rects[feature * 3])
                                          : lbp_code(p, o + feature * 16);
  free(o);
  return v;
}

// MARK: multi-scale scan

lotr_vision_scratch *lotr_vision_scratch_create(void) { return calloc(1, sizeof(lotr_vision_scratch)); }

void lotr_vision_scratch_free(lotr_vision_scratch *s) {
  if (!s) return;
  free(s->image); free(s->sum); free(s->sqsum); free(s->offsets); free(s);
}

static int grow(void **p, size_t *cap, size_t bytes) {
  if (*cap >= bytes) return 1;
  void *n = realloc(*p, bytes);
  if (!n) return 0;
  *p = n; *cap = bytes;
  return 1;
}

int64_t lotr_cascade_detect(const lotr_cascade *c, lotr_vision_scratch *s, const uint8_t *gray, uint32_t width,
                            uint32_t height, size_t stride, double scale_factor, int32_t min_w, int32_t min_h,
                            int32_t max_w, int32_t max_h, lotr_vision_rect *out, size_t max_out) {
  if (!(scale_factor > 1.0001)) scale_factor = 1.1;
  if (max_w <= 0) max_w = INT32_MAX;
  if (max_h <= 0) max_h = INT32_MAX;
  int64_t found = 0;
  const int need_sq = c->kind == LOTR_CASCADE_HAAR;
  if (!grow((void **)&s->offsets, &s->offsets_cap, sizeof(int32_t) * offsets_count(c))) return -1;
  for (double factor = 1;; factor *= scale_factor) {
    int32_t win_w = (int32_t)lrint(c->window_w * factor), win_h = (int32_t)lrint(c->window_h * factor);
    int32_t sw = (int32_t)lrint(width / factor), sh = (int32_t)lrint(height / factor);
    int32_t range_w = sw - c->window_w, range_h = sh - c->window_h;
    if (range_w <= 0 || range_h <= 0) break;
    if (win_w > max_w || win_h > max_h) break;
    if (win_w < min_w || win_h < min_h) continue;

    const uint8_t *img = gray;
    size_t img_stride = stride;
    if (sw != (int32_t)width || sh != (int32_t)height) {
      if (!grow((void **)&s->image, &s->image_cap, (size_t)sw * sh)) return -1;
      lotr_vision_resize_gray(gray, width, height, stride, s->image, (uint32_t)sw, (uint32_t)sh, (size_t)sw);
      img = s->image;
      img_stride = (size_t)sw;
    }
    size_t S = (size_t)sw + 1, cells = S * ((size_t)sh + 1);
    if (!grow((void **)&s->sum, &s->sum_cap, sizeof(int32_t) * cells)) return -1;
    if (need_sq && !grow((void **)&s->sqsum, &s->sqsum_cap, sizeof(int64_t) * cells)) return -1;
    lotr_vision_integral(img, (uint32_t)sw, (uint32_t)sh, img_stride, s->sum, need_sq ? s->sqsum : NULL);
    compute_offsets(c, S, s->offsets);

    const int32_t step = factor > 2 ? 1 : 2;
    for (int32_t y = 0; y < range_h; y += step) {
      for (int32_t x = 0; x < range_w; x += step) {
        size_t at = (size_t)y * S + (size_t)x;
        int32_t r = run_at(c, s->offsets, s->sum + at, need_sq ? s->sqsum + at : NULL);
        if (r > 0) {
          if ((size_t)found < max_out)
            out[found] = (lotr_vision_rect){(int32_t)lrint(x * factor), (int32_t)lrint(y * factor), win_w, win_h};
          found++;
        } else if (r == 0) {
          x += step;
        }
      }
    }
  }
  return found;
}
