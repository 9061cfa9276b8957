/* cuda_split.c — partial offload and the multi-GPU layer split (cuda.h): where gpu_layers,
 * main_gpu and tensor_split put the layers (lir_cuda_plan_layers, every build, pure), and the
 * chain of shares that runs them (lir_cuda_chain_*, CUDA builds; stubs otherwise).
 *
 * A chain step: each share stages its inputs on its own stream; the first takes token ids (with
 * the embedding) or the CPU's residual stream through a pinned buffer; every later one waits on an
 * event recorded by the share before it and copies that share's residual stream into its own
 * (cudaMemcpyPeerAsync: direct with peer access, staged by the driver without, a device copy when
 * both shares sit on one device); the last share runs the output head, or its residual stream
 * goes back to the host through the pinned buffer for the CPU's head. Then every stream is
 * synchronized, so a step is complete when lir_cuda_chain_eval returns. */
#include "backend/cuda/cuda.h"
#include "backend/cuda/share.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- placement (every build) */

enum lir_status lir_cuda_plan_layers(int32_t n_layer, int32_t gpu_layers, int32_t main_gpu, const float *tensor_split,
                                     int32_t n_tensor_split, int32_t n_devices, const char *fn,
                                     struct lir_cuda_plan *out, lir_err *e) {
    memset(out, 0, sizeof *out);
    out->n_cpu_layers = n_layer;
    if (gpu_layers < -1)
        return lir__errf(e, LIR_EINVAL, "%s: gpu_layers %d must be >= -1 (-1 = all, 0 = none)", fn, gpu_layers);
    if (n_tensor_split < 0 || n_tensor_split > LIR_TENSOR_SPLIT_MAX)
        return lir__errf(e, LIR_EINVAL, "%s: n_tensor_split %d is outside [0, %d]", fn, n_tensor_split,
                         LIR_TENSOR_SPLIT_MAX);
    if (n_tensor_split > 0 && !tensor_split)
        return lir__errf(e, LIR_EINVAL, "%s: n_tensor_split is %d but tensor_split is NULL", fn, n_tensor_split);
    double sum = 0;
    for (int32_t i = 0; i < n_tensor_split; i++) {
        if (!isfinite(tensor_split[i]) || tensor_split[i] < 0)
            return lir__errf(e, LIR_EINVAL, "%s: tensor_split[%d] = %g must be a finite fraction >= 0", fn, i,
                             (double)tensor_split[i]);
        sum += tensor_split[i];
    }
    if (n_tensor_split > 0 && !(sum > 0))
        return lir__errf(e, LIR_EINVAL, "%s: tensor_split's %d fractions are all 0 (give at least one device a share)",
                         fn, n_tensor_split);
    if (gpu_layers == 0) return LIR_OK;
    if (main_gpu < 0 || main_gpu >= n_devices)
        return lir__errf(e, LIR_EINVAL, "%s: main_gpu %d is outside [0, %d) (the CUDA devices present)", fn, main_gpu,
                         n_devices);
    if (n_tensor_split > n_devices)
        return lir__errf(e, LIR_EINVAL, "%s: tensor_split names %d devices but %d %s present", fn, n_tensor_split,
                         n_devices, n_devices == 1 ? "is" : "are");
    const bool all = gpu_layers < 0 || gpu_layers > n_layer;
    const int32_t n_gpu = all ? n_layer : gpu_layers;
    out->n_cpu_layers = n_layer - n_gpu;
    out->embed = out->output = all;
    /* llama.cpp: the normalized cumulative split; GPU layer j goes to the first device whose
     * cumulative fraction exceeds j / n_gpu (std::upper_bound), in float as there */
    float cum[LIR_TENSOR_SPLIT_MAX];
    float acc = 0;
    for (int32_t i = 0; i < n_tensor_split; i++) cum[i] = acc += tensor_split[i];
    for (int32_t i = 0; i < n_tensor_split; i++) cum[i] /= acc;
    int32_t ns = 0;
    for (int32_t j = 0; j < n_gpu; j++) {
        int32_t dev = main_gpu;
        if (n_tensor_split > 0) {
            const float f = (float)j / (float)n_gpu;
            dev = 0;
            while (dev < n_tensor_split - 1 && !(f < cum[dev])) dev++;
        }
        const int32_t il = out->n_cpu_layers + j;
        if (ns > 0 && out->shares[ns - 1].device == dev) {
            out->shares[ns - 1].layer_end = il + 1;
        } else {
            out->shares[ns++] = (struct lir_cuda_share_spec){ .device = dev, .layer_begin = il, .layer_end = il + 1 };
        }
    }
    if (ns == 0) /* a model without layers: the head alone */
        out->shares[ns++] = (struct lir_cuda_share_spec){ .device = main_gpu, .layer_begin = n_layer,
                                                          .layer_end = n_layer };
    else if (out->output && out->shares[ns - 1].device != main_gpu) /* the head runs on main_gpu */
        out->shares[ns++] = (struct lir_cuda_share_spec){ .device = main_gpu, .layer_begin = n_layer,
                                                          .layer_end = n_layer };
    out->n_shares = ns;
    return LIR_OK;
}

#ifndef LIR_CUDA

enum lir_status lir_cuda_chain_create(const struct lir_model *m, const struct lir_cuda_share_spec *shares,
                                      int32_t n_shares, const struct lir_cuda_chain_params *p, lir_cuda_chain **out,
                                      lir_err *e) {
    if (out) *out = NULL;
    return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_chain_create: built without CUDA (configure with -DLIR_CUDA=ON)");
}
void lir_cuda_chain_free(lir_cuda_chain *ch) { (void)ch; }
enum lir_status lir_cuda_chain_eval_seqs(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                         const int32_t *pos_each, const int32_t *const *tables,
                                         const int32_t *out_rows, int32_t n_out, float *logits, float *embd,
                                         lir_err *e) {
    return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_chain_eval: built without CUDA (configure with -DLIR_CUDA=ON)");
}
enum lir_status lir_cuda_chain_copy_block(lir_cuda_chain *ch, int32_t dst, int32_t src, lir_err *e) {
    return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_chain_copy_block: built without CUDA (configure with -DLIR_CUDA=ON)");
}
enum lir_status lir_cuda_chain_eval(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                    const int32_t *out_rows, int32_t n_out, float *logits, float *embd, lir_err *e) {
    return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_chain_eval: built without CUDA (configure with -DLIR_CUDA=ON)");
}
int32_t lir_cuda_chain_n_shares(const lir_cuda_chain *ch) { return 0; }
const lir_cuda *lir_cuda_chain_share(const lir_cuda_chain *ch, int32_t i) { return NULL; }
uint64_t lir_cuda_chain_vram_bytes(const lir_cuda_chain *ch, int32_t device) { return 0; }

#else /* LIR_CUDA */

#include <cuda_runtime_api.h>

struct lir_cuda_chain {
    const lir_model *m;
    int32_t n;                  /* shares */
    lir_cuda *sh[LIR_CUDA_SHARES_MAX];
    cudaEvent_t ev[LIR_CUDA_SHARES_MAX]; /* ev[i]: share i's step is done (on share i's device) */
    bool embed, output;
    int32_t n_batch;
    float *h_x;                 /* pinned, portable (n_batch, n_embd): the residual stream to and from the CPU */
};

/* The chain's upload progress: share i's fraction mapped onto all shares' weight bytes. */
struct chain_progress {
    const struct lir_cuda_chain_params *p;
    double base, part, total;   /* bytes before this share, its bytes, all shares' bytes */
};
static void on_progress(float f, void *u) {
    const struct chain_progress *c = u;
    c->p->progress(c->total > 0 ? (float)((c->base + f * c->part) / c->total) : 1.0f, c->p->progress_user);
}

/* Peer access both ways between two devices where the hardware allows; failures leave the
 * driver's staged copies, which work too. */
static void enable_peer(int a, int b) {
    for (int k = 0; k < 2; k++) {
        const int from = k ? b : a, to = k ? a : b;
        int can = 0;
        if (cudaDeviceCanAccessPeer(&can, from, to) != cudaSuccess || !can) continue;
        if (cudaSetDevice(from) == cudaSuccess) cudaDeviceEnablePeerAccess(to, 0); /* "already enabled" is fine */
    }
    cudaGetLastError(); /* clear what the calls above left */
}

enum lir_status lir_cuda_chain_create(const struct lir_model *m, const struct lir_cuda_share_spec *shares,
                                      int32_t n_shares, const struct lir_cuda_chain_params *p, lir_cuda_chain **out,
                                      lir_err *e) {
    static const char fn[] = "lir_cuda_chain_create";
    if (!out) return lir__errf(e, LIR_EINVAL, "%s: out must not be NULL", fn);
    *out = NULL;
    if (!m || !shares || !p) return lir__errf(e, LIR_EINVAL, "%s: model, shares and params must not be NULL", fn);
    if (n_shares < 1 || n_shares > LIR_CUDA_SHARES_MAX)
        return lir__errf(e, LIR_EINVAL, "%s: %d shares is outside [1, %d]", fn, n_shares, LIR_CUDA_SHARES_MAX);
    const int32_t nl = m->hp.n_layer;
    for (int32_t i = 0; i < n_shares; i++) {
        const struct lir_cuda_share_spec *s = &shares[i];
        if (s->layer_begin < 0 || s->layer_begin > s->layer_end || s->layer_end > nl)
            return lir__errf(e, LIR_EINVAL, "%s: share %d's layers [%d, %d) are not a range inside [0, %d)", fn, i,
                             s->layer_begin, s->layer_end, nl);
        if (i > 0 && s->layer_begin != shares[i - 1].layer_end)
            return lir__errf(e, LIR_EINVAL, "%s: share %d begins at layer %d but share %d ends at %d", fn, i,
                             s->layer_begin, i - 1, shares[i - 1].layer_end);
    }
    if (p->output && shares[n_shares - 1].layer_end != nl)
        return lir__errf(e, LIR_EINVAL, "%s: the last share ends at layer %d, not at the model's last (%d), "
                         "and runs the output head", fn, shares[n_shares - 1].layer_end, nl);
    if (p->embed && shares[0].layer_begin != 0)
        return lir__errf(e, LIR_EINVAL, "%s: with the embedding the first share must begin at layer 0 (begins at %d)",
                         fn, shares[0].layer_begin);
    lir_cuda_chain *ch = calloc(1, sizeof *ch);
    if (!ch) return lir__errf(e, LIR_ENOMEM, "%s: out of memory", fn);
    ch->m = m;
    ch->embed = p->embed;
    ch->output = p->output;
    ch->n_batch = p->n_batch;
    struct lir_cuda_params gp[LIR_CUDA_SHARES_MAX];
    double wbytes[LIR_CUDA_SHARES_MAX], total = 0; /* each share's weight bytes (progress) */
    for (int32_t i = 0; i < n_shares; i++) {
        gp[i] = (struct lir_cuda_params){
            .n_ctx = p->n_ctx, .n_batch = p->n_batch, .device = shares[i].device, .no_graph = p->no_graph,
            .layer_begin = shares[i].layer_begin, .layer_end = shares[i].layer_end,
            .hidden_in = !(p->embed && i == 0), .hidden_out = !(p->output && i == n_shares - 1),
            .kv_blocks = p->kv_blocks,
        };
        /* layer_end 0 means n_layer to lir_cuda_create: an empty first share [0, 0) is refused */
        if (gp[i].layer_end == 0 && nl > 0) {
            free(ch);
            return lir__errf(e, LIR_EINVAL, "%s: share %d holds layers [0, 0): an empty share may only be the "
                             "output-head stage after the last layer", fn, i);
        }
        struct lir_cuda_bytes b;
        lir_cuda_estimate(m, &gp[i], &b);
        wbytes[i] = (double)b.weights;
        total += wbytes[i];
    }
    enum lir_status s = LIR_OK;
    double base = 0;
    for (int32_t i = 0; i < n_shares; i++) {
        struct chain_progress cp = { .p = p, .base = base, .part = wbytes[i], .total = total };
        if (p->progress) {
            gp[i].progress = on_progress;
            gp[i].progress_user = &cp;
        }
        base += wbytes[i];
        s = lir_cuda_create(m, &gp[i], &ch->sh[i], e);
        if (s) {
            char msg[LIR_ERR_MAX];
            snprintf(msg, sizeof msg, "%s", e ? e->msg : "");
            lir__errf(e, s, "%s: share %d (device %d, layers [%d, %d)): %s", fn, i, shares[i].device,
                      shares[i].layer_begin, shares[i].layer_end, msg);
            break;
        }
        ch->n = i + 1;
        cudaError_t r = cudaEventCreateWithFlags(&ch->ev[i], cudaEventDisableTiming); /* on share i's device */
        if (r != cudaSuccess) {
            ch->ev[i] = NULL;
            s = cu_err(e, r, "cudaEventCreate");
            break;
        }
        if (i > 0 && shares[i].device != shares[i - 1].device) enable_peer(shares[i - 1].device, shares[i].device);
    }
    if (!s) {
        cudaError_t r = cudaHostAlloc((void **)&ch->h_x, (size_t)p->n_batch * m->hp.n_embd * sizeof(float),
                                      cudaHostAllocPortable);
        if (r != cudaSuccess) {
            ch->h_x = NULL;
            s = cu_err(e, r, "pinned residual buffer");
        }
    }
    if (s) {
        lir_cuda_chain_free(ch);
        return s;
    }
    *out = ch;
    return LIR_OK;
}

void lir_cuda_chain_free(lir_cuda_chain *ch) {
    if (!ch) return;
    for (int32_t i = 0; i < ch->n; i++) {
        if (ch->ev[i]) {
            cudaSetDevice(lir_cuda_device(ch->sh[i]));
            cudaEventDestroy(ch->ev[i]);
        }
        lir_cuda_free(ch->sh[i]);
    }
    if (ch->h_x) cudaFreeHost(ch->h_x);
    free(ch);
}

int32_t lir_cuda_chain_n_shares(const lir_cuda_chain *ch) { return ch ? ch->n : 0; }
const lir_cuda *lir_cuda_chain_share(const lir_cuda_chain *ch, int32_t i) {
    return ch && i >= 0 && i < ch->n ? ch->sh[i] : NULL;
}
uint64_t lir_cuda_chain_vram_bytes(const lir_cuda_chain *ch, int32_t device) {
    uint64_t b = 0;
    for (int32_t i = 0; ch && i < ch->n; i++)
        if (device < 0 || lir_cuda_device(ch->sh[i]) == device) b += lir_cuda_vram_bytes(ch->sh[i]);
    return b;
}

/* Enqueues the whole step; lir_cuda_chain_eval then waits for every stream. */
static enum lir_status chain_enqueue(lir_cuda_chain *ch, const int32_t *tokens, const float *x, int32_t n, int32_t pos,
                                     const int32_t *pos_each, const int32_t *const *tables, const int32_t *out_rows,
                                     int32_t n_out, float *logits, float *embd, int32_t *r0, int32_t *nr, lir_err *e) {
    static const char fn[] = "lir_cuda_chain_eval";
    const size_t E = (size_t)ch->m->hp.n_embd;
    const int32_t last = ch->n - 1;
    enum lir_status s;
    for (int32_t i = 0; i <= last; i++) {
        lir_cuda *g = ch->sh[i];
        const int dev = lir_cuda_device(g);
        cudaStream_t st = lir__cuda_share_stream(g);
        /* output rows matter to the head share only; they were checked against n by the caller */
        if ((s = lir__cuda_share_stage(g, i == 0 ? tokens : NULL, n, pos, pos_each, tables, i == last ? out_rows : NULL,
                                       i == last ? n_out : 0, fn, e)))
            return s;
        if (i == 0 && !ch->embed) {
            memcpy(ch->h_x, x, (size_t)n * E * sizeof(float));
            CK(cudaMemcpyAsync(lir__cuda_share_x(g), ch->h_x, (size_t)n * E * sizeof(float), cudaMemcpyHostToDevice,
                               st),
               "residual upload");
        } else if (i > 0) {
            const lir_cuda *pg = ch->sh[i - 1];
            CK(cudaStreamWaitEvent(st, ch->ev[i - 1], 0), "cudaStreamWaitEvent");
            CK(cudaMemcpyPeerAsync(lir__cuda_share_x(g), dev, lir__cuda_share_x(pg), lir_cuda_device(pg),
                                   (size_t)n * E * sizeof(float), st),
               "residual copy between shares");
        }
        if ((s = lir__cuda_share_run(g, n, i == last ? n_out : 0, embd != NULL, e))) return s;
        if (i < last) CK(cudaEventRecord(ch->ev[i], st), "cudaEventRecord");
    }
    lir_cuda *g = ch->sh[last];
    if (ch->output) return lir__cuda_share_fetch(g, n_out, logits, embd, e);
    if (n_out == 0) return LIR_OK;
    /* the residual stream back to the CPU's head: the last n_out rows when the outputs are those,
     * else every row */
    bool tail = true;
    for (int32_t i = 0; i < n_out && out_rows; i++) tail = tail && out_rows[i] == n - n_out + i;
    *r0 = tail ? n - n_out : 0;
    *nr = n - *r0;
    CK(cudaMemcpyAsync(ch->h_x + (size_t)*r0 * E, lir__cuda_share_x(g) + (size_t)*r0 * E,
                       (size_t)*nr * E * sizeof(float), cudaMemcpyDeviceToHost, lir__cuda_share_stream(g)),
       "residual copy-back");
    return LIR_OK;
}

enum lir_status lir_cuda_chain_eval(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                    const int32_t *out_rows, int32_t n_out, float *logits, float *embd, lir_err *e) {
    return lir_cuda_chain_eval_seqs(ch, tokens, x, n, pos, NULL, NULL, out_rows, n_out, logits, embd, e);
}

enum lir_status lir_cuda_chain_copy_block(lir_cuda_chain *ch, int32_t dst, int32_t src, lir_err *e) {
    if (!ch) return lir__errf(e, LIR_EINVAL, "lir_cuda_chain_copy_block: no chain");
    for (int32_t i = 0; i < ch->n; i++) {
        enum lir_status s = lir__cuda_share_copy_block(ch->sh[i], dst, src, e);
        if (s) return s;
    }
    return LIR_OK;
}

enum lir_status lir_cuda_chain_eval_seqs(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                         const int32_t *pos_each, const int32_t *const *tables,
                                         const int32_t *out_rows, int32_t n_out, float *logits, float *embd,
                                         lir_err *e) {
    static const char fn[] = "lir_cuda_chain_eval";
    if (!ch || n < 1 || n > ch->n_batch || n_out < 0 || n_out > n)
        return lir__errf(e, LIR_EINVAL, "%s: bad arguments (n %d, n_batch %d, n_out %d)", fn, n, ch ? ch->n_batch : 0,
                         n_out);
    if ((ch->embed && !tokens) || ((!ch->embed || !ch->output) && !x) ||
        (ch->output && n_out > 0 && !logits && !embd))
        return lir__errf(e, LIR_EINVAL, "%s: missing %s", fn,
                         ch->embed && !tokens ? "tokens"
                         : (!ch->embed || !ch->output) && !x ? "the residual stream x"
                                                              : "logits or embd for the outputs");
    for (int32_t i = 0; i < n_out && out_rows; i++)
        if (out_rows[i] < 0 || out_rows[i] >= n)
            return lir__errf(e, LIR_EINVAL, "%s: output row %d is outside [0, %d)", fn, out_rows[i], n);
    int32_t r0 = 0, nr = 0;
    enum lir_status s = chain_enqueue(ch, tokens, x, n, pos, pos_each, tables, out_rows, n_out, logits, embd, &r0, &nr, e);
    /* wait for every stream, also after an error (nothing may still use the buffers) */
    for (int32_t i = 0; i < ch->n; i++) {
        cudaError_t r = cudaSetDevice(lir_cuda_device(ch->sh[i]));
        if (r == cudaSuccess) r = cudaStreamSynchronize((cudaStream_t)lir__cuda_share_stream(ch->sh[i]));
        if (r != cudaSuccess && !s) s = cu_err(e, r, "forward pass");
    }
    if (s) return s;
    CK(cudaGetLastError(), "forward pass kernels");
    if (nr > 0) memcpy(x + (size_t)r0 * ch->m->hp.n_embd, ch->h_x + (size_t)r0 * ch->m->hp.n_embd,
                       (size_t)nr * ch->m->hp.n_embd * sizeof(float));
    return LIR_OK;
}

#endif /* LIR_CUDA */
