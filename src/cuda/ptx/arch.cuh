// Which device instructions this compilation pass may emit. wgmma and setmaxnreg exist only in
// the arch-specific sm_90a target; a pass for any other arch compiles their wrappers to a trap
// (the host never launches sm90 kernels there: it checks the device and the compiled archs).
#pragma once

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FLASHATTN_SM90A 1
#else
#define FLASHATTN_SM90A 0
#endif

// Bulk copies and transaction-count mbarriers: sm_90 and newer.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define FLASHATTN_SM90 1
#else
#define FLASHATTN_SM90 0
#endif
