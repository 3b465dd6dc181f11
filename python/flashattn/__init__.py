"""flashattn: exact attention (FlashAttention family) for PyTorch and NumPy.

`attention` is the PyTorch entry point (autograd, torch.compile); `flashattn.interface` holds
the flash_attn-compatible functions; the raw kernels are `flashattn._C.forward/backward`.
"""

from . import _C
from ._C import build_info, cuda_available

__version__ = _C.__version__
__all__ = ["attention", "build_info", "cuda_available", "flash_attn_func",
           "flash_attn_kvpacked_func", "flash_attn_qkvpacked_func", "__version__"]


def __getattr__(name):
    # torch is optional: load the torch-facing parts only when they are asked for.
    if name == "attention":
        from .ops import attention
        return attention
    if name in ("flash_attn_func", "flash_attn_kvpacked_func", "flash_attn_qkvpacked_func"):
        from . import interface
        return getattr(interface, name)
    raise AttributeError(f"module 'flashattn' has no attribute {name!r}")
