"""The CPU's cheaper dropout: the same mask statistics and scaling as nn.Dropout, nothing in
eval mode, and attention that equals transformers' eager attention exactly when not dropping."""

import pytest
import torch

from tunesmith.training.fast_dropout import (
    FastDropout,
    fast_dropout,
    register_attention,
    use_fast_dropout,
)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_drops_the_share_asked_for_and_keeps_the_expected_value(p):
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = fast_dropout(x, p)
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.002)
    assert y.mean().item() == pytest.approx(1.0, abs=0.005)
    zero, kept = torch.unique(y).tolist()
    assert zero == 0.0 and kept == pytest.approx(1 / (1 - p), rel=1e-4)


def test_edges_gradients_and_eval_mode():
    x = torch.randn(4, 8, dtype=torch.bfloat16, requires_grad=True)
    assert fast_dropout(x, 0.0) is x
    assert torch.count_nonzero(fast_dropout(x, 1.0)) == 0
    layer = FastDropout(0.3)
    y = layer(x)
    y.float().sum().backward()
    dropped = y == 0
    assert torch.all(x.grad[dropped] == 0) and torch.all(x.grad[~dropped] > 1)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_models_keep_their_dropout_settings_and_attention_matches_eager():
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        LlamaConfig,
        LlamaForCausalLM,
    )

    torch.manual_seed(0)
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
        )
    )
    llama = LlamaForCausalLM(  # grouped key/value heads
        LlamaConfig(
            vocab_size=50,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )
    ids = torch.randint(0, 50, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padding must stay masked under the new attention
    name = register_attention()
    for model in (bert, llama):
        model.eval()
        model.set_attn_implementation("eager")
        before = model(input_ids=ids, attention_mask=mask).logits
        swapped = use_fast_dropout(model)
        model.set_attn_implementation(name)
        after = model(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(before, after, atol=1e-6)
        assert swapped == sum(isinstance(m, FastDropout) for m in model.modules())
    assert bert.config.attention_probs_dropout_prob == 0.1  # the saved settings do not change
    bert.train()
    torch.manual_seed(1)
    noisy = [bert(input_ids=ids, attention_mask=mask).logits for _ in range(2)]
    assert not torch.allclose(*noisy)  # dropout is on while training


def test_short_texts_with_enough_rows_train_in_batches_of_32():
    from types import SimpleNamespace

    from tunesmith.config import RunConfig
    from tunesmith.training.pipeline import batch_size

    def data(rows):
        return SimpleNamespace(
            splits={"train": range(rows)}, task=SimpleNamespace(default_epochs=3)
        )

    cfg = RunConfig()
    assert batch_size(data(2400), cfg, {"tokens": 27.0}) == 32  # reviews
    assert batch_size(data(2400), cfg, {"tokens": 128.0}) == 16  # news cut at 128 tokens
    assert batch_size(data(300), cfg, {"tokens": 27.0}) == 16  # too few steps at 32
    assert batch_size(data(2400), cfg, None) == 16  # images: no tokens
