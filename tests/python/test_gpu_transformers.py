"""A training step of a tiny Llama on the GPU with attn_implementation="fattn" (the CUDA forward
and backward), against "eager": bf16 logits and gradients, each within the DESIGN.md §4 rule
with an fp32 eager model as the reference and eager bf16 as the naive low-precision result."""

import copy

import pytest
import torch

from reference import assert_within_tolerance

transformers = pytest.importorskip("transformers")

import flashattn.hf  # noqa: E402

pytestmark = pytest.mark.gpu


def training_step(model, ids, mask):
    logits = model(input_ids=ids, attention_mask=mask).logits
    kept = mask.bool()
    pairs = kept[:, :-1] & kept[:, 1:]  # next-token loss over pairs of real tokens only
    loss = torch.nn.functional.cross_entropy(logits[:, :-1][pairs].float(), ids[:, 1:][pairs])
    loss.backward()
    return logits[kept], {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("left_padding", [False, True])
def test_training_step_matches_eager(left_padding):
    config = transformers.LlamaConfig(vocab_size=97, hidden_size=256, intermediate_size=512,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=256)
    torch.manual_seed(0)
    reference = transformers.LlamaForCausalLM(copy.deepcopy(config)).cuda()
    flashattn.hf.register()
    models = {}
    for name, implementation, dtype in (("reference", "eager", torch.float32),
                                        ("eager", "eager", torch.bfloat16),
                                        ("ours", flashattn.hf.NAME, torch.bfloat16)):
        model = copy.deepcopy(reference).to(dtype)
        model.set_attn_implementation(implementation)
        models[name] = model
    ids = torch.randint(0, 97, (3, 150), generator=torch.Generator().manual_seed(1)).cuda()
    mask = torch.ones_like(ids)
    if left_padding:
        mask[0, :40] = 0
        mask[2, :7] = 0
    results = {name: training_step(model, ids, mask) for name, model in models.items()}
    (ref_logits, ref_grads), (eager_logits, eager_grads), (logits, grads) = (
        results["reference"], results["eager"], results["ours"])
    assert_within_tolerance(logits, ref_logits, eager_logits, 2.0, "logits")
    for name, grad in grads.items():
        assert grad is not None and grad.dtype == torch.bfloat16, name
        assert_within_tolerance(grad, ref_grads[name], eager_grads[name], 2.0, name)
