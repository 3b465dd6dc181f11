"""transformers with attn_implementation="fattn" matches "eager" on a tiny random Llama."""

import copy

import pytest
import torch

transformers = pytest.importorskip("transformers")

import flashattn.hf  # noqa: E402


def tiny_llamas():
    config = transformers.LlamaConfig(vocab_size=97, hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    eager = transformers.LlamaForCausalLM(copy.deepcopy(config))
    ours = transformers.LlamaForCausalLM(copy.deepcopy(config))
    ours.load_state_dict(eager.state_dict())
    flashattn.hf.register()
    eager.set_attn_implementation("eager")
    ours.set_attn_implementation(flashattn.hf.NAME)
    return eager, ours


@pytest.mark.parametrize("padding", [None, "left", "right"])
def test_logits_and_training_step_match_eager(padding):
    eager, ours = tiny_llamas()
    ids = torch.randint(0, 97, (3, 14), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    if padding == "left":
        mask[0, :4] = 0
        mask[2, :1] = 0
    elif padding == "right":
        mask[1, 9:] = 0
    kept = mask.bool()
    # Next-token loss over pairs of real tokens only: what a padded query row computes is
    # implementation-defined (eager attends uniformly, flashattn returns 0).
    pairs = kept[:, :-1] & kept[:, 1:]
    results = []
    for model in (eager, ours):
        logits = model(input_ids=ids, attention_mask=mask if padding else None).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1][pairs], ids[:, 1:][pairs])
        loss.backward()
        gradients = {name: p.grad for name, p in model.named_parameters()}
        results.append((logits[kept], loss, gradients))
    (logits_e, loss_e, grads_e), (logits_o, loss_o, grads_o) = results
    torch.testing.assert_close(logits_o, logits_e, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss_o, loss_e, rtol=1e-5, atol=1e-6)
    for name, grad in grads_e.items():
        torch.testing.assert_close(grads_o[name], grad, rtol=1e-3, atol=1e-5, msg=name)


def test_generate_matches_eager():
    eager, ours = tiny_llamas()
    ids = torch.randint(0, 97, (2, 6), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # left padding, as for batched generation
    kwargs = dict(attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(ids, **kwargs), eager.generate(ids, **kwargs))


def test_names_containing_flash_are_refused():
    with pytest.raises(ValueError, match="flash"):
        flashattn.hf.register("flashattn")
