/* launch.cuh — kernel launches with programmatic dependent launch (Hopper): when lirk_pdl is on,
 * lirk_launch starts a kernel with cudaLaunchAttributeProgrammaticStreamSerialization, so its
 * blocks may be scheduled while the kernel before it drains; every kernel launched so calls
 * lirk_pdl_wait() before it touches an activation (griddepcontrol.wait: the previous grid has
 * finished and its writes are visible), and lirk_pdl_trigger() at its start to let the next
 * kernel's blocks be scheduled once all of its own have started. Weight loads (never written)
 * may be issued before the wait. Both instructions do nothing in a kernel launched plainly. */
#ifndef LIR_CUDA_LAUNCH_CUH
#define LIR_CUDA_LAUNCH_CUH

#include <cuda_runtime.h>

extern thread_local int lirk_pdl; /* the calling thread's choice, set by lirk_set_pdl (kernels.h) */

__device__ __forceinline__ void lirk_pdl_wait(void) { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void lirk_pdl_trigger(void) { asm volatile("griddepcontrol.launch_dependents;" :::); }

template <typename... KArgs, typename... Args>
static inline void lirk_launch(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                               Args... args) {
    if (lirk_pdl) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = grid;
        cfg.blockDim = block;
        cfg.dynamicSmemBytes = smem;
        cfg.stream = st;
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = at;
        cfg.numAttrs = 1;
        cudaLaunchKernelEx(&cfg, k, ((KArgs)args)...);
    } else {
        k<<<grid, block, smem, st>>>(((KArgs)args)...);
    }
}

#endif /* LIR_CUDA_LAUNCH_CUH */
