"""A small decoder-only transformer (GPT-style) in plain PyTorch, for lesson 07's mini-DALL·E.

One stack of blocks reads a sequence of token ids and predicts, at every position, the next id.
The causal mask is what makes that honest: position t may only look at positions <= t, so the
model cannot copy the answer from the future while training, and can be sampled one token at a
time afterwards (Radford et al., 2018/2019; Vaswani et al., 2017 for the attention itself).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_mask(n, device=None):
    """(n, n) bool matrix, True where query row i may attend to key column j, i.e. j <= i."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where every position sees only itself and the past."""

    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; pick n_heads that divides it.")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)  # queries, keys and values in one matmul
        self.proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, d = x.shape                                                    # (B, T, D)
        q, k, v = self.qkv(x).split(d, dim=-1)                               # 3 x (B, T, D)
        # Split D into heads: each head attends with its own D/H-dimensional queries and keys.
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D/H)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])            # (B, H, T, T)
        scores = scores.masked_fill(~causal_mask(t, x.device), float("-inf"))  # no peeking ahead
        weights = self.drop(scores.softmax(dim=-1))                          # rows sum to 1
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)                 # (B, T, D): heads side by side
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x)) (as in GPT-2)."""

    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token + learned position embeddings -> n_layers blocks -> LayerNorm -> logits over the vocabulary.

    block_size: the longest sequence it reads (one learned position embedding per place).
    """

    def __init__(self, vocab_size, block_size, d_model=128, n_layers=4, n_heads=4, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.apply(init_weights)

    def forward(self, idx):
        b, t = idx.shape                                                     # (B, T) token ids
        if t > self.block_size:
            raise ValueError(f"Sequence of {t} tokens is longer than the model's block_size={self.block_size}; shorten it.")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))                # (B, T, D)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))                                       # (B, T, vocab)


def init_weights(module):
    """GPT-2's initialisation: small normal weights, zero biases (PyTorch's defaults train slower here)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def reference_attention(attn, x):
    """The same layer through PyTorch's fused F.scaled_dot_product_attention, to check ours against."""
    b, t, d = x.shape
    q, k, v = attn.qkv(x).split(d, dim=-1)
    q, k, v = (z.view(b, t, attn.n_heads, d // attn.n_heads).transpose(1, 2) for z in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return attn.proj(out.transpose(1, 2).reshape(b, t, d))
