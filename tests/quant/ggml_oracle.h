/* ggml_oracle.h — llama.cpp's own quantization kernels, loaded at run time from the prebuilt
 * libraries that the npm package node-llama-cpp@3.21.1 ships (@node-llama-cpp/linux-x64), as an
 * oracle that is not ours. Header-only (static functions) so the single test runner that
 * includes it needs no extra source file; include it from one test file only.
 *
 * Where: $LIR_SOURCE_DIR/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/ (what
 * `make deps` installs), else the directory in env LIR_GGML_LIB_DIR.
 * What: libggml-base.so (reference quantizers, dequantizers, type sizes, ggml_quantize_chunk)
 * and one libggml-cpu-<variant>.so — the one llama.cpp itself would pick on this machine, i.e.
 * the highest ggml_backend_score() (env LIR_GGML_CPU_VARIANT=x64|haswell|zen4|... forces one).
 * From the CPU library: ggml_get_type_traits_cpu (from_float = activation conversion, vec_dot =
 * the SIMD kernel the forward pass uses) and the portable ggml_vec_dot_*_generic kernels.
 *
 * ggml's type ids equal enum lir_type, so ids pass straight through. */
#ifndef LIR_TESTS_GGML_ORACLE_H
#define LIR_TESTS_GGML_ORACLE_H

#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LIR_SOURCE_DIR
#define LIR_SOURCE_DIR "."
#endif

#define GGML_ORACLE_SUBDIR "/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
#define GGML_ORACLE_MAX_TYPES 40

typedef void (*ggml_from_float_fn)(const float *x, void *y, int64_t n);
typedef void (*ggml_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*ggml_vec_dot_fn)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y,
                                size_t by, int nrc);

/* ggml-cpu.h, struct ggml_type_traits_cpu (unchanged since the CPU backend split, 2024) */
struct ggml_oracle_traits_cpu {
    ggml_from_float_fn from_float;
    ggml_vec_dot_fn vec_dot;
    int vec_dot_type; /* enum ggml_type */
    int64_t nrows;
};

struct ggml_oracle {
    bool ok;
    char err[1024];
    char dir[768];
    char cpu_variant[64];
    void *base, *cpu;
    /* per type id; NULL where ggml has none */
    ggml_from_float_fn quantize_ref[GGML_ORACLE_MAX_TYPES]; /* quantize_row_*_ref, row converters */
    ggml_to_float_fn dequantize[GGML_ORACLE_MAX_TYPES];     /* dequantize_row_*, row converters */
    ggml_vec_dot_fn vec_dot_generic[GGML_ORACLE_MAX_TYPES]; /* ggml_vec_dot_*_generic */
    const struct ggml_oracle_traits_cpu *(*traits_cpu)(int type);
    /* activation quantizers of the repacked (interleaved) matmul paths, 4 rows at a time;
     * NULL if this variant has none */
    ggml_from_float_fn quantize_mat_q8_0_4x8, quantize_mat_q8_K_4x8;
    size_t (*quantize_chunk)(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                             int64_t n_per_row, const float *imatrix);
    size_t (*type_size)(int type);
    int64_t (*blck_size)(int type);
    const char *(*type_name)(int type);
    size_t (*row_size)(int type, int64_t ne);
};

static const char *const ggml_oracle_names[GGML_ORACLE_MAX_TYPES] = {
    [0] = "f32", [1] = "f16", [2] = "q4_0", [3] = "q4_1", [6] = "q5_0", [7] = "q5_1",
    [8] = "q8_0", [9] = "q8_1", [10] = "q2_K", [11] = "q3_K", [12] = "q4_K", [13] = "q5_K",
    [14] = "q6_K", [15] = "q8_K", [30] = "bf16",
};
/* vec_dot_type name per weight type, for the _generic symbol names */
static const char *const ggml_oracle_vdt_names[GGML_ORACLE_MAX_TYPES] = {
    [2] = "q8_0", [3] = "q8_1", [6] = "q8_0", [7] = "q8_1", [8] = "q8_0",
    [10] = "q8_K", [11] = "q8_K", [12] = "q8_K", [13] = "q8_K", [14] = "q8_K",
};

/* f32 row copies stand in for ggml's (trivial) f32 "quantize"/"dequantize". */
static void ggml_oracle_f32_copy_q(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
static void ggml_oracle_f32_copy_d(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }

static void *ggml_oracle_sym(struct ggml_oracle *o, void *lib, const char *name, bool required) {
    dlerror();
    void *p = dlsym(lib, name);
    if (!p && required && o->ok) {
        o->ok = false;
        snprintf(o->err, sizeof o->err, "ggml oracle: symbol %s missing in %s (wrong node-llama-cpp version?)",
                 name, o->dir);
    }
    return p;
}

static bool ggml_oracle_dir_ok(const char *dir) {
    char p[1024];
    snprintf(p, sizeof p, "%s/libggml-base.so", dir);
    FILE *f = fopen(p, "rb");
    if (!f) return false;
    fclose(f);
    return true;
}

/* Opens the CPU variant with the best ggml_backend_score (or the forced one). */
static void ggml_oracle_pick_cpu(struct ggml_oracle *o) {
    const char *force = getenv("LIR_GGML_CPU_VARIANT");
    DIR *d = opendir(o->dir);
    if (!d) return;
    int best_score = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (strncmp(nm, "libggml-cpu-", 12) != 0 || len < 16 || strcmp(nm + len - 3, ".so") != 0) continue;
        char variant[64];
        snprintf(variant, sizeof variant, "%.*s", (int)(len - 15), nm + 12);
        if (force && strcmp(force, variant) != 0) continue;
        char path[1100];
        snprintf(path, sizeof path, "%s/%s", o->dir, nm);
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) continue;
        int (*score)(void) = (int (*)(void))dlsym(lib, "ggml_backend_score");
        int sc = score ? score() : 0;
        if (force && sc == 0) sc = 1; /* forced: take it even if this CPU lacks its features */
        if (sc > best_score) {
            if (o->cpu) dlclose(o->cpu);
            o->cpu = lib;
            best_score = sc;
            snprintf(o->cpu_variant, sizeof o->cpu_variant, "%s", variant);
        } else {
            dlclose(lib);
        }
    }
    closedir(d);
}

static struct ggml_oracle *ggml_oracle_get(void) {
    static struct ggml_oracle o;
    static bool tried;
    if (tried) return &o;
    tried = true;

    const char *env = getenv("LIR_GGML_LIB_DIR");
    char cand[768];
    snprintf(cand, sizeof cand, "%s%s", LIR_SOURCE_DIR, GGML_ORACLE_SUBDIR);
    if (ggml_oracle_dir_ok(cand)) snprintf(o.dir, sizeof o.dir, "%s", cand);
    else if (env && *env && ggml_oracle_dir_ok(env)) snprintf(o.dir, sizeof o.dir, "%s", env);
    else {
        snprintf(o.err, sizeof o.err,
                 "ggml oracle not installed: no libggml-base.so in %s%s. Run `make deps` "
                 "(installs node-llama-cpp@3.21.1 with llama.cpp's prebuilt libraries), or point "
                 "LIR_GGML_LIB_DIR at a directory holding them.",
                 cand, env ? " nor in LIR_GGML_LIB_DIR" : "");
        return &o;
    }

    char path[1024];
    snprintf(path, sizeof path, "%s/libggml-base.so", o.dir);
    o.base = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!o.base) {
        snprintf(o.err, sizeof o.err, "ggml oracle: dlopen: %.900s", dlerror());
        return &o;
    }
    ggml_oracle_pick_cpu(&o);
    if (!o.cpu) {
        snprintf(o.err, sizeof o.err, "ggml oracle: no usable libggml-cpu-*.so in %s%s", o.dir,
                 getenv("LIR_GGML_CPU_VARIANT") ? " (check LIR_GGML_CPU_VARIANT)" : "");
        return &o;
    }
    o.ok = true;

    char name[128];
    for (int t = 0; t < GGML_ORACLE_MAX_TYPES; t++) {
        const char *tn = ggml_oracle_names[t];
        if (!tn || t == 0 || t == 1 || t == 30) continue;
        snprintf(name, sizeof name, "quantize_row_%s_ref", tn);
        o.quantize_ref[t] = (ggml_from_float_fn)ggml_oracle_sym(&o, o.base, name, true);
        if (t != 9) { /* ggml has no Q8_1 to_float */
            snprintf(name, sizeof name, "dequantize_row_%s", tn);
            o.dequantize[t] = (ggml_to_float_fn)ggml_oracle_sym(&o, o.base, name, true);
        }
        if (ggml_oracle_vdt_names[t]) {
            snprintf(name, sizeof name, "ggml_vec_dot_%s_%s_generic", tn, ggml_oracle_vdt_names[t]);
            o.vec_dot_generic[t] = (ggml_vec_dot_fn)ggml_oracle_sym(&o, o.cpu, name, true);
        }
    }
    o.quantize_ref[0] = ggml_oracle_f32_copy_q;
    o.dequantize[0] = ggml_oracle_f32_copy_d;
    o.quantize_ref[1] = (ggml_from_float_fn)ggml_oracle_sym(&o, o.base, "ggml_fp32_to_fp16_row", true);
    o.dequantize[1] = (ggml_to_float_fn)ggml_oracle_sym(&o, o.base, "ggml_fp16_to_fp32_row", true);
    o.quantize_ref[30] = (ggml_from_float_fn)ggml_oracle_sym(&o, o.base, "ggml_fp32_to_bf16_row_ref", true);
    o.dequantize[30] = (ggml_to_float_fn)ggml_oracle_sym(&o, o.base, "ggml_bf16_to_fp32_row", true);

    o.quantize_chunk = (size_t (*)(int, const float *, void *, int64_t, int64_t, int64_t, const float *))
        ggml_oracle_sym(&o, o.base, "ggml_quantize_chunk", true);
    o.type_size = (size_t (*)(int))ggml_oracle_sym(&o, o.base, "ggml_type_size", true);
    o.blck_size = (int64_t (*)(int))ggml_oracle_sym(&o, o.base, "ggml_blck_size", true);
    o.type_name = (const char *(*)(int))ggml_oracle_sym(&o, o.base, "ggml_type_name", true);
    o.row_size = (size_t (*)(int, int64_t))ggml_oracle_sym(&o, o.base, "ggml_row_size", true);
    o.traits_cpu = (const struct ggml_oracle_traits_cpu *(*)(int))ggml_oracle_sym(&o, o.cpu, "ggml_get_type_traits_cpu", true);
    o.quantize_mat_q8_0_4x8 = (ggml_from_float_fn)ggml_oracle_sym(&o, o.cpu, "ggml_quantize_mat_q8_0_4x8", false);
    o.quantize_mat_q8_K_4x8 = (ggml_from_float_fn)ggml_oracle_sym(&o, o.cpu, "ggml_quantize_mat_q8_K_4x8", false);
    void (*cpu_init)(void) = (void (*)(void))ggml_oracle_sym(&o, o.cpu, "ggml_cpu_init", true);
    if (o.ok) cpu_init(); /* fills ggml's f16 tables that some CPU kernels read */
    return &o;
}

#endif /* LIR_TESTS_GGML_ORACLE_H */
