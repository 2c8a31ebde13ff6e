"""Reference transformer shapes, so the KV cache of a model known only by its size can be sized.

An XR says ``parameters: 70B``, not how many layers and KV heads the model has. The KV cache
per token is ``2 * layers * kv_heads * head_dim * bytes``, so `function.compose.sizing` takes
the shape of the smallest well-known open model at least as large (Llama 3.x, Qwen 2.5 — all
grouped-query attention) and errs on the generous side for models in between.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """The attention shape of one reference model."""

    reference: str
    parameters: float
    layers: int
    kv_heads: int
    head_dim: int

    def kv_bytes_per_token(self, bytes_per_value: float) -> float:
        """Bytes of keys and values one token occupies across all layers."""
        return 2 * self.layers * self.kv_heads * self.head_dim * bytes_per_value


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture("Qwen2.5-0.5B", 0.5e9, 24, 2, 64),
    Architecture("Llama-3.2-1B", 1.2e9, 16, 8, 64),
    Architecture("Qwen2.5-1.5B", 1.5e9, 28, 2, 128),
    Architecture("Llama-3.2-3B", 3.2e9, 28, 8, 128),
    Architecture("Llama-3.1-8B", 8.0e9, 32, 8, 128),
    Architecture("Qwen2.5-14B", 14.8e9, 48, 8, 128),
    Architecture("Qwen2.5-32B", 32.8e9, 64, 8, 128),
    Architecture("Llama-3.1-70B", 70.6e9, 80, 8, 128),
    Architecture("Llama-3.1-405B", 405.9e9, 126, 8, 128),
)
"""Sorted by size."""


MAX_CONTEXT_LENGTH = 131072
"""The longest context the reference models serve (Llama 3.1's 128K tokens): the most a model
may ask for, since its KV cache is sized from these shapes."""


def architecture_for(parameters: float) -> Architecture:
    """The smallest reference at least as large as ``parameters`` (the largest beyond them)."""
    for arch in ARCHITECTURES:
        if arch.parameters >= parameters:
            return arch
    return ARCHITECTURES[-1]
