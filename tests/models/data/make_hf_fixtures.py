"""Writes the tiny Hugging Face checkpoints and reference logits that tests/models/test_hf_import.py reads.

Needs torch and transformers, which afjax itself does not (run once, by hand):
    pip install torch transformers
    python tests/models/data/make_hf_fixtures.py

Each fixture directory gets config.json, model.safetensors (saved by
`transformers`) and reference.npz: token ids [2, 24] and the logits that
`transformers` computes for them in float32. Weights are redrawn at std 0.3
(norm scales 1 +- 0.2) so that the logits are far from uniform.
"""

import pathlib

import numpy as np
import torch
import transformers

HERE = pathlib.Path(__file__).parent
SMALL = dict(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, intermediate_size=48, rms_norm_eps=1e-5,
             max_position_embeddings=128)
FIXTURES = {
    # Llama 3 RoPE scaling with a short original length, so that positions 0-23 already see
    # every band: wavelengths 6.3, 29.8, 140, 664 with edges 64 / 4 = 16 and 64 / 1 = 64.
    "hf_llama3": (transformers.LlamaConfig, dict(
        SMALL, rope_theta=500.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
        torch.float32),
    # Qwen2: q/k/v biases, tied head, stored in bfloat16.
    "hf_qwen2": (transformers.Qwen2Config, dict(SMALL, rope_theta=1000.0, tie_word_embeddings=True),
                 torch.bfloat16),
}


def main():
  torch.manual_seed(0)
  tokens = torch.randint(0, SMALL["vocab_size"], (2, 24))
  for name, (config_class, fields, dtype) in FIXTURES.items():
    model = transformers.AutoModelForCausalLM.from_config(config_class(**fields))
    with torch.no_grad():
      for param_name, param in model.named_parameters():
        if param_name.endswith("norm.weight"):
          param.copy_(1 + 0.2 * torch.randn_like(param))
        else:
          param.copy_(0.3 * torch.randn_like(param))
    directory = HERE / name
    model.to(dtype).save_pretrained(directory, safe_serialization=True)
    (directory / "generation_config.json").unlink(missing_ok=True)
    # Reloaded in float32: the stored (possibly bfloat16-rounded) weights, and RoPE frequencies
    # computed afresh (model.to(bfloat16) would have rounded its inv_freq buffer too).
    model = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    with torch.no_grad():
      logits = model(tokens).logits.numpy()
    np.savez(directory / "reference.npz", tokens=tokens.numpy().astype(np.int32), logits=logits)
    print(name, "logits", logits.shape, "std", float(logits.std()),
          "transformers", transformers.__version__)


if __name__ == "__main__":
  main()
