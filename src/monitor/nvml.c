/* nvml.c — GPU readings through NVML, loaded at run time with dlopen("libnvidia-ml.so.1") so
 * lir neither links against nor needs the NVIDIA driver. No library, a failed nvmlInit or no
 * device: zero GPUs, which is not an error. The few NVML entry points used are declared here
 * by their documented C signatures (nvml.h: nvmlReturn_t is an int, 0 = NVML_SUCCESS). */
#include "monitor/monitor.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef void *nvml_device;
struct nvml_memory { unsigned long long total, free, used; };
/* v2 (driver 510+): "used" without the driver's reserved memory, as nvidia-smi reports it */
struct nvml_memory_v2 { unsigned int version; unsigned long long total, reserved, free, used; };
#define NVML_MEMORY_V2_VERSION ((unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))
struct nvml_utilization { unsigned int gpu, memory; };
#define NVML_TEMPERATURE_GPU 0

static struct {
    int (*init)(void);
    int (*count)(unsigned int *);
    int (*handle)(unsigned int, nvml_device *);
    int (*name)(nvml_device, char *, unsigned int);
    int (*memory)(nvml_device, struct nvml_memory *);
    int (*memory_v2)(nvml_device, struct nvml_memory_v2 *); /* may be NULL */
    int (*util)(nvml_device, struct nvml_utilization *);
    int (*temp)(nvml_device, int, unsigned int *);
    int (*power)(nvml_device, unsigned int *);
    bool ok;
} nv;
static pthread_once_t nv_once = PTHREAD_ONCE_INIT;

static void nv_load(void) {
    /* the handle stays open for the process: NVML keeps driver state we would otherwise re-init */
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    *(void **)&nv.init = dlsym(h, "nvmlInit_v2");
    *(void **)&nv.count = dlsym(h, "nvmlDeviceGetCount_v2");
    *(void **)&nv.handle = dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nv.name = dlsym(h, "nvmlDeviceGetName");
    *(void **)&nv.memory = dlsym(h, "nvmlDeviceGetMemoryInfo");
    *(void **)&nv.memory_v2 = dlsym(h, "nvmlDeviceGetMemoryInfo_v2");
    *(void **)&nv.util = dlsym(h, "nvmlDeviceGetUtilizationRates");
    *(void **)&nv.temp = dlsym(h, "nvmlDeviceGetTemperature");
    *(void **)&nv.power = dlsym(h, "nvmlDeviceGetPowerUsage");
    if (!nv.init || !nv.count || !nv.handle || !nv.memory || nv.init() != 0) {
        dlclose(h);
        return;
    }
    nv.ok = true;
}

int32_t lir__nvml_read(struct lir_gpu_usage *gpus, int32_t max) {
    pthread_once(&nv_once, nv_load);
    if (!nv.ok) return 0;
    unsigned int count = 0;
    if (nv.count(&count) != 0) return 0;
    int32_t n = 0;
    for (unsigned int i = 0; i < count && n < max; i++) {
        nvml_device d;
        if (nv.handle(i, &d) != 0) continue;
        struct lir_gpu_usage *g = &gpus[n++];
        memset(g, 0, sizeof *g);
        g->id = (int32_t)i;
        if (!nv.name || nv.name(d, g->name, sizeof g->name) != 0) snprintf(g->name, sizeof g->name, "GPU %u", i);
        struct nvml_memory mem;
        struct nvml_memory_v2 m2 = { .version = NVML_MEMORY_V2_VERSION };
        if (nv.memory_v2 && nv.memory_v2(d, &m2) == 0) {
            g->vram_total_bytes = m2.total;
            g->vram_used_bytes = m2.used;
        } else if (nv.memory(d, &mem) == 0) {
            g->vram_total_bytes = mem.total;
            g->vram_used_bytes = mem.used;
        }
        struct nvml_utilization u;
        if (nv.util && nv.util(d, &u) == 0) g->utilization_percent = (float)u.gpu;
        unsigned int v;
        if (nv.temp && nv.temp(d, NVML_TEMPERATURE_GPU, &v) == 0) g->temperature_c = (float)v;
        if (nv.power && nv.power(d, &v) == 0) g->power_w = (float)v / 1000.0f; /* milliwatts */
    }
    return n;
}
