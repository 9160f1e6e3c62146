"""Longformer's attention, exactly, at each batch's own length: no padding to a multiple of the attention window.

Longformer's attention is a mask, not another operator (transformers' `LongformerSelfAttention`). With window w and
one-sided window h = w/2:
- a query without global attention attends, through the regular Q/K/V projections, to the non-padding keys j with
  |i - j| <= h and to every global key, each key once;
- a global query attends to every non-padding key through the global Q/K/V projections;
- a padding query gives zeros.
For a batch of at most 2w tokens, dense attention under that mask (`scaled_dot_product_attention`) at the batch's
own length costs less than transformers' chunked code, which first pads every text to a multiple of w. Longer
batches, and calls that ask for attention weights, go through transformers' own code, unchanged. The modules keep
their weights: a checkpoint loads the same with the path on or off. tests/test_exact_attention.py proves the path
equal to transformers' (logits, loss, every gradient) and fails if a transformers upgrade breaks it.
"""

import torch
import torch.nn.functional as F
from transformers.models.longformer import modeling_longformer as longformer


def windows(config) -> list[int]:
    window = config.attention_window
    return list(window) if isinstance(window, (list, tuple)) else [window] * config.num_hidden_layers


class ExactLongformerModel(longformer.LongformerModel):
    """Pads to the window multiple only for batches that the exact path does not take, and counts the batches each
    way (`attention_batches`)."""

    def _pad_to_window_size(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                            pad_token_id):
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        exact = length <= 2 * min(windows(self.config))
        self.attention_batches["exact path" if exact else "transformers'"] += 1
        if exact:
            return 0, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds
        return super()._pad_to_window_size(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                           pad_token_id)


class ExactLongformerSelfAttention(longformer.LongformerSelfAttention):
    """Dense attention under Longformer's mask for sequences of at most 2w tokens; transformers' code beyond."""

    def forward(self, hidden_states, attention_mask=None, is_index_masked=None, is_index_global_attn=None,
                is_global_attn=None, output_attentions=False):
        if output_attentions or hidden_states.shape[1] > 4 * self.one_sided_attn_window_size:
            return super().forward(hidden_states, attention_mask, is_index_masked, is_index_global_attn,
                                   is_global_attn, output_attentions)
        dropout = self.dropout if self.training else 0.0
        q, k, v = (self._heads(project(hidden_states)) for project in (self.query, self.key, self.value))
        output = F.scaled_dot_product_attention(q, k, v, attn_mask=self._local_mask(is_index_masked,
                                                                                    is_index_global_attn),
                                                dropout_p=dropout)
        output = self._merged(output).masked_fill(is_index_masked[:, :, None], 0.0)
        if is_global_attn:
            output = self._with_global_rows(hidden_states, output, is_index_masked, is_index_global_attn, dropout)
        return (output,)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, hidden) -> (batch, heads, length, head_dim)."""
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def _merged(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.embed_dim)

    def _local_mask(self, masked: torch.Tensor, global_: torch.Tensor) -> torch.Tensor:
        """Which keys each query attends to: the band of non-global, non-padding keys, plus every global key. A
        padding query may attend anywhere (its output is set to zero): no row is empty, so no NaN."""
        positions = torch.arange(masked.shape[1], device=masked.device)
        band = (positions[:, None] - positions[None, :]).abs() <= self.one_sided_attn_window_size
        allowed = (band & ~(masked | global_)[:, None, :]) | global_[:, None, :] | masked[:, :, None]
        return allowed[:, None]

    def _with_global_rows(self, hidden_states, output, masked, global_, dropout: float) -> torch.Tensor:
        """The rows of the global queries, replaced by their attention over every non-padding key through the
        global projections."""
        batch_ids, positions = global_.nonzero(as_tuple=True)
        slots = global_.cumsum(1)[batch_ids, positions] - 1  # each global query's place among its text's
        queries = hidden_states.new_zeros(global_.shape[0], int(global_.sum(1).max()), self.embed_dim)
        queries = queries.index_put((batch_ids, slots), hidden_states[batch_ids, positions])
        rows = F.scaled_dot_product_attention(
            self._heads(self.query_global(queries)), self._heads(self.key_global(hidden_states)),
            self._heads(self.value_global(hidden_states)), attn_mask=~masked[:, None, None, :], dropout_p=dropout)
        return output.index_put((batch_ids, positions), self._merged(rows)[batch_ids, slots])


def install_exact_attention(model):
    """Give a loaded Longformer (any head, or the bare model) the exact path; its weights stay as they are."""
    base = getattr(model, "longformer", model)
    if not isinstance(base, longformer.LongformerModel):
        raise TypeError(f"{type(model).__name__}: not a Longformer")
    base.__class__ = ExactLongformerModel
    base.attention_batches = {"exact path": 0, "transformers'": 0}
    for layer in base.encoder.layer:
        layer.attention.self.__class__ = ExactLongformerSelfAttention
    return model


def uses_exact_attention(model) -> bool:
    return isinstance(getattr(model, "longformer", model), ExactLongformerModel)


def attention_batches(model) -> dict[str, int] | None:
    """How many batches (forward passes) the exact path and transformers' code took; None without the path."""
    return dict(getattr(model, "longformer", model).attention_batches) if uses_exact_attention(model) else None
