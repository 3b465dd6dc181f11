"""Context parallelism: attention over a sequence sharded across torch.distributed ranks."""

from .ring import LAYOUTS, ring_attention, ring_flash_attn_func, shard

__all__ = ["LAYOUTS", "ring_attention", "ring_flash_attn_func", "shard"]
