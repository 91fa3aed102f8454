"""Size presets for the decoder, from a test size up to real open-weight shapes.

The "llama3_1b" and "llama3_8b" presets have the shapes of Llama 3.2 1B and
Llama 3.1 8B, "qwen2_5_0_5b" that of Qwen2.5 0.5B (parameter counts and
layouts match; tests/models check the sizes). The Llama presets carry Llama
3's RoPE frequency scaling ("rope_type": "llama3", factor 32 / 8, checked
against Meta's reference formula in tests/models); Qwen2.5 uses plain RoPE.
`afjax.models.hf_import` loads the released safetensors checkpoints of these
architectures (config and params; logits checked against `transformers` on
tiny checkpoints); the jobs themselves start from a random initialisation.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # Unit tests: compiles in about a second.
    "test": dict(vocab_size=384, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                 head_dim=8, mlp_hidden=64, max_seq_len=128),
    # Laptop-scale experiments on the synthetic world (~1-3M parameters).
    # scan_unroll: straight-line layers; the LM step at [8, 304] is 11% faster (BENCHMARKS.md).
    "tiny": dict(vocab_size=2048, d_model=128, num_layers=4, num_heads=4, num_kv_heads=2,
                 head_dim=32, mlp_hidden=352, max_seq_len=512, scan_unroll=4),
    "small": dict(vocab_size=2048, d_model=256, num_layers=6, num_heads=8, num_kv_heads=4,
                  head_dim=32, mlp_hidden=704, max_seq_len=1024),
    "qwen2_5_0_5b": dict(vocab_size=151936, d_model=896, num_layers=24, num_heads=14,
                         num_kv_heads=2, head_dim=64, mlp_hidden=4864, max_seq_len=32768,
                         rope_theta=1000000.0, tie_embeddings=True, qkv_bias=True,
                         norm_eps=1e-6, dtype="bfloat16"),
    "llama3_1b": dict(vocab_size=128256, d_model=2048, num_layers=16, num_heads=32,
                      num_kv_heads=8, head_dim=64, mlp_hidden=8192, max_seq_len=8192,
                      rope_theta=500000.0, rope_scaling_factor=32.0, tie_embeddings=True,
                      norm_eps=1e-5, dtype="bfloat16", remat=True),
    "llama3_8b": dict(vocab_size=128256, d_model=4096, num_layers=32, num_heads=32,
                      num_kv_heads=8, head_dim=128, mlp_hidden=14336, max_seq_len=8192,
                      rope_theta=500000.0, rope_scaling_factor=8.0, norm_eps=1e-5,
                      dtype="bfloat16", remat=True),
}


def get_preset(name: str) -> dict:
  """Returns a copy of the named preset's fields."""
  if name not in PRESETS:
    raise ValueError(f"model preset {name!r} is unknown; allowed: {sorted(PRESETS)}")
  return dict(PRESETS[name])
