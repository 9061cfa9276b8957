/* ggml_oracle.c — see ggml_oracle.h. Each call builds a one-op graph in a fresh context. */
#include "ggml_oracle.h"

#include <string.h>
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

static ggml_backend_t be;
static ggml_backend_buffer_type_t repack_buft;

int ggo_init(const char *dir) {
    if (be) return 0;
    ggml_backend_load_all_from_path(dir);
    be = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, NULL);
    if (!be) return 1;
    ggml_backend_dev_t dev = ggml_backend_get_device(be);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t extra =
        (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t *b = extra ? extra(dev) : NULL; b && *b; b++)
        if (strstr(ggml_backend_buft_name(*b), "REPACK")) repack_buft = *b;
    void (*set_threads)(ggml_backend_t, int) =
        (void (*)(ggml_backend_t, int))ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    if (set_threads) set_threads(be, 1);
    return repack_buft ? 0 : 2;
}

static struct ggml_context *ctx_new(void) {
    struct ggml_init_params p = { .mem_size = 1 << 20, .mem_buffer = NULL, .no_alloc = true };
    return ggml_init(p);
}

/* Computes the graph ending in y and copies y out; frees c and its buffer. */
static int run(struct ggml_context *c, ggml_backend_buffer_t buf, struct ggml_tensor *y, float *out) {
    struct ggml_cgraph *g = ggml_new_graph(c);
    ggml_build_forward_expand(g, y);
    const int rc = ggml_backend_graph_compute(be, g) == GGML_STATUS_SUCCESS ? 0 : 3;
    if (!rc) ggml_backend_tensor_get(y, out, 0, ggml_nbytes(y));
    ggml_backend_buffer_free(buf);
    ggml_free(c);
    return rc;
}

int ggo_mul_mat(int wtype, const void *w, int64_t k, int64_t m, const float *x, int64_t n, float *out, bool repack) {
    struct ggml_context *cw = ctx_new(), *c = ctx_new();
    struct ggml_tensor *W = ggml_new_tensor_2d(cw, (enum ggml_type)wtype, k, m);
    struct ggml_tensor *X = ggml_new_tensor_2d(c, GGML_TYPE_F32, k, n);
    struct ggml_tensor *Y = ggml_mul_mat(c, W, X);
    ggml_backend_buffer_t bw =
        ggml_backend_alloc_ctx_tensors_from_buft(cw, repack ? repack_buft : ggml_backend_get_default_buffer_type(be));
    ggml_backend_buffer_t bx = ggml_backend_alloc_ctx_tensors(c, be);
    if (!bw || !bx) return 1;
    ggml_backend_buffer_set_usage(bw, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    ggml_backend_tensor_set(W, w, 0, ggml_nbytes(W)); /* the repack buffer repacks here */
    ggml_backend_tensor_set(X, x, 0, ggml_nbytes(X));
    const int rc = run(c, bx, Y, out);
    ggml_backend_buffer_free(bw);
    ggml_free(cw);
    return rc;
}

int ggo_soft_max(const float *x, const float *mask, float scale, int64_t ne0, int64_t nrows, float *out) {
    struct ggml_context *c = ctx_new();
    struct ggml_tensor *X = ggml_new_tensor_2d(c, GGML_TYPE_F32, ne0, nrows);
    struct ggml_tensor *M = mask ? ggml_new_tensor_2d(c, GGML_TYPE_F32, ne0, nrows) : NULL;
    struct ggml_tensor *Y = ggml_soft_max_ext(c, X, M, scale, 0.0f);
    ggml_backend_buffer_t b = ggml_backend_alloc_ctx_tensors(c, be);
    if (!b) return 1;
    ggml_backend_tensor_set(X, x, 0, ggml_nbytes(X));
    if (M) ggml_backend_tensor_set(M, mask, 0, ggml_nbytes(M));
    return run(c, b, Y, out);
}

int ggo_swiglu(const float *g, const float *u, int64_t n, float *out) {
    struct ggml_context *c = ctx_new();
    struct ggml_tensor *G = ggml_new_tensor_1d(c, GGML_TYPE_F32, n), *U = ggml_new_tensor_1d(c, GGML_TYPE_F32, n);
    struct ggml_tensor *Y = ggml_swiglu_split(c, G, U);
    ggml_backend_buffer_t b = ggml_backend_alloc_ctx_tensors(c, be);
    if (!b) return 1;
    ggml_backend_tensor_set(G, g, 0, ggml_nbytes(G));
    ggml_backend_tensor_set(U, u, 0, ggml_nbytes(U));
    return run(c, b, Y, out);
}
