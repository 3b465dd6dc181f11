"""Hugging Face transformers integration.

    import flashattn.hf
    flashattn.hf.register()                      # once
    model = AutoModelForCausalLM.from_config(config, attn_implementation="fattn")

The name contains no "flash" on purpose: transformers routes every implementation whose name
contains "flash" to its flash-attn package loader (which then fails for anything but the
flash-attn packages and Hub kernels), so "flashattn" itself cannot be the name. Padding arrives as the 2D key mask of transformers' own
flash-attention mask builder; each padded sequence is cropped to its tokens, which keeps the
bottom-right causal alignment exact for left and right padding, prefill and decode.
"""

from __future__ import annotations

from typing import Optional

import torch

from .ops import attention

NAME = "fattn"


def attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                      value: torch.Tensor, attention_mask: Optional[torch.Tensor],
                      scaling: Optional[float] = None, dropout: float = 0.0,
                      sliding_window: Optional[int] = None, softcap: Optional[float] = None,
                      is_causal: Optional[bool] = None, **_kwargs):
    """transformers attention function: [B, H, S, D] in, ([B, S, H, D] out, None)."""
    if dropout > 0.0:
        raise NotImplementedError("flashattn: attention dropout is not implemented yet")
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    window = (sliding_window - 1 if sliding_window else -1, 0 if causal else -1)
    options = dict(scale=scaling, causal=causal, window=window, softcap=softcap or 0.0)
    q, k, v = (t.transpose(1, 2) for t in (query, key, value))
    if attention_mask is None:
        return attention(q, k, v, **options), None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask: expected the 2D padding mask of the mask builder "
                         f"that register() installs, got shape {list(attention_mask.shape)}")
    key_mask = attention_mask[:, -k.shape[1]:].bool()
    query_mask = key_mask[:, -q.shape[1]:]
    outputs = []
    for batch in range(q.shape[0]):
        out = q.new_zeros(q.shape[1:])  # padded query rows give 0
        if query_mask[batch].any():
            out[query_mask[batch]] = attention(q[batch:batch + 1, query_mask[batch]],
                                               k[batch:batch + 1, key_mask[batch]],
                                               v[batch:batch + 1, key_mask[batch]], **options)[0]
        outputs.append(out)
    return torch.stack(outputs), None


def register(name: str = NAME) -> str:
    """Makes attn_implementation=`name` (default "fattn") available in transformers."""
    if "flash" in name:
        raise ValueError(f"name: transformers treats any name containing 'flash' as a flash-attn "
                         f"package; choose another (default {NAME!r}), got {name!r}")
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask

    AttentionInterface.register(name, attention_forward)
    # The flash-attn mask builder yields None or the 2D key-padding mask handled above.
    AttentionMaskInterface.register(name, flash_attention_mask)
    return name
