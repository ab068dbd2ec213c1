"""Reference fixtures for loading GGUF checkpoints: tiny Llama, Qwen2 and GPT-2 models written the way
llama.cpp's convert_hf_to_gguf.py writes them, then read back by transformers as the reference.

For each architecture a small Hugging Face model (hidden 32, 4 query heads, weights spread out as in
make_bloom_fixture.py; llama and qwen2: 2 key/value heads, 2 blocks, feed-forward 32; gpt2: one block,
feed-forward 4 * 32 as its GGUF prescribes) is converted tensor by tensor as convert_hf_to_gguf.py does it:

  * names through gguf's TensorNameMap (token_embd, blk.N.attn_q/attn_k/attn_v/attn_output,
    ffn_gate/ffn_up/ffn_down, attn_norm, ffn_norm, output_norm, output; GPT-2: position_embd,
    attn_qkv, and no `output` because its head is the embedding),
  * llama only: the rows of q_proj and k_proj permuted (LlamaModel.permute: per head, the two
    rotary halves interleaved, so that llama.cpp's adjacent-pair rope equals HF's rotate_half),
  * GPT-2 only: the Conv1D weights transposed to [out, in],
  * 1-D tensors (norms, biases) kept F32, matrices stored in a mix of F16 / BF16 / Q8_0 / Q4_0 /
    Q4_1 / Q5_0 / Q5_1 (hidden 32, so every row is whole 32-element blocks; no K-quants here),
  * metadata {arch}.block_count, context_length, embedding_length, feed_forward_length,
    attention.head_count(_kv), rope.freq_base, rope.dimension_count, the norm epsilon, and a tiny
    byte-level BPE tokenizer in tokenizer.ggml.* (model "gpt2", tokens, token_type, merges,
    bos/eos/padding ids, add_bos_token false, a ChatML chat_template).

The reference is what transformers makes of the file (AutoModelForCausalLM / AutoTokenizer with
gguf_file=..., float32, eager attention): it dequantizes with the gguf package and undoes the
permutation and the transposition. Writes Tests/ModelsTests/Fixtures/gguf-{llama,qwen2,gpt2}/:

  model.gguf
  reference.safetensors
    tokens           int64 [B, T]   right-padded with 0
    lengths          int64 [B]
    logits           f32   [N, V]   rows of the real tokens only, sequence after sequence
    loss             f64   [1]      summed next-token cross-entropy over all real targets
    generated        int64 [8]      greedy continuation of the first sequence's first 4 tokens (no EOS)
    weight.<hf name> f32            transformers' dequantized (un-permuted, un-transposed) weights
  tokens.json        the ids of three test strings under the GGUF tokenizer (transformers)

    python3 Tools/reference/make_gguf_model_fixtures.py
"""
import json
import os

import gguf
import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ModelsTests", "Fixtures")
Q = gguf.GGMLQuantizationType

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# A byte-level BPE vocabulary small enough to read: three control tokens, the byte characters the
# test strings use (Ġ is the space, Ċ the newline, in GPT-2's byte-to-unicode alphabet), then the
# merges' results in merge order. Some words need several merges in the right priority.
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BYTES = list("acdehilmnorstuw.!") + ["Ġ", "Ċ"]
MERGES = ["Ġ t", "h e", "Ġt he", "a t", "l l", "he ll", "hell o", "o r", "Ġ w", "Ġw or", "Ġ c", "Ġc at",
          "Ġ s", "Ġs at", "o n", "Ġ on", "Ġ m", "Ġm at", "e r", "u s", "us er", "Ġ he", "Ġhe ll"]
TEST_STRINGS = ["hello world!", "the cat sat on the mat.", "<|im_start|>user\nhi there<|im_end|>\n"]


def tokenizer_vocabulary():
    tokens = SPECIALS + BYTES + [m.replace(" ", "") for m in MERGES]
    assert len(set(tokens)) == len(tokens)
    types = [gguf.TokenType.CONTROL] * len(SPECIALS) + [gguf.TokenType.NORMAL] * (len(tokens) - len(SPECIALS))
    return tokens, types


def spread_weights(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))


def llama_permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


# Storage type per GGUF tensor name (without .weight); everything 1-D stays F32 as in llama.cpp.
# Each fixture uses all seven types; the 16-bit ones sit on the smallest matrices to save bytes.
LLAMA_TYPES = {
    "token_embd": Q.Q8_0, "output": Q.Q4_1,
    "blk.0.attn_q": Q.Q4_0, "blk.0.attn_k": Q.Q5_0, "blk.0.attn_v": Q.F16, "blk.0.attn_output": Q.Q4_1,
    "blk.0.ffn_gate": Q.Q4_0, "blk.0.ffn_up": Q.Q4_0, "blk.0.ffn_down": Q.Q4_1,
    "blk.1.attn_q": Q.Q5_1, "blk.1.attn_k": Q.BF16, "blk.1.attn_v": Q.Q4_1, "blk.1.attn_output": Q.Q5_0,
    "blk.1.ffn_gate": Q.Q4_0, "blk.1.ffn_up": Q.Q5_0, "blk.1.ffn_down": Q.Q4_1,
}
QWEN2_TYPES = {
    "token_embd": Q.Q5_1,
    "blk.0.attn_q": Q.Q8_0, "blk.0.attn_k": Q.Q4_1, "blk.0.attn_v": Q.BF16, "blk.0.attn_output": Q.Q5_0,
    "blk.0.ffn_gate": Q.Q4_0, "blk.0.ffn_up": Q.Q4_0, "blk.0.ffn_down": Q.Q4_1,
    "blk.1.attn_q": Q.Q4_1, "blk.1.attn_k": Q.F16, "blk.1.attn_v": Q.Q5_0, "blk.1.attn_output": Q.Q4_0,
    "blk.1.ffn_gate": Q.Q4_0, "blk.1.ffn_up": Q.Q4_1, "blk.1.ffn_down": Q.Q4_0,
}
# One block only: GPT-2's feed-forward width is fixed at 4 * n_embd = 128, and bytes are scarce.
GPT2_TYPES = {
    "token_embd": Q.Q8_0, "position_embd": Q.Q5_1,
    "blk.0.attn_qkv": Q.Q4_0, "blk.0.attn_output": Q.F16, "blk.0.ffn_up": Q.Q4_1, "blk.0.ffn_down": Q.Q5_0,
}


def build(arch, vocab_size):
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             rms_norm_eps=1e-5, tie_word_embeddings=False,
                             rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
        return LlamaForCausalLM(config), LLAMA_TYPES
    if arch == "qwen2":
        config = Qwen2Config(vocab_size=vocab_size, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             rms_norm_eps=1e-6, tie_word_embeddings=True,
                             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
        return Qwen2ForCausalLM(config), QWEN2_TYPES
    # GPT-2's GGUF states feed_forward_length = 4 * n_embd (convert_hf_to_gguf.py), so n_inner is the default.
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=1, n_head=4, n_positions=32, n_ctx=32,
                        layer_norm_epsilon=1e-5, activation_function="gelu_new")
    return GPT2LMHeadModel(config), GPT2_TYPES


def write_metadata(writer, arch, config, tokens, token_types):
    writer.add_type("model")
    writer.add_name(f"tiny-{arch}")
    if arch == "gpt2":
        writer.add_block_count(config.n_layer)
        writer.add_context_length(config.n_ctx)
        writer.add_embedding_length(config.n_embd)
        writer.add_feed_forward_length(4 * config.n_embd)
        writer.add_head_count(config.n_head)
        writer.add_layer_norm_eps(config.layer_norm_epsilon)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    else:
        writer.add_block_count(config.num_hidden_layers)
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(config.num_attention_heads)
        writer.add_head_count_kv(config.num_key_value_heads)
        writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
        writer.add_layer_norm_rms_eps(config.rms_norm_eps)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
        writer.add_vocab_size(config.vocab_size)
        writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre({"llama": "smollm", "qwen2": "qwen2", "gpt2": "gpt-2"}[arch])
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def gguf_tensors(model, arch, types):
    """(gguf name, stored array, ggml type) in state-dict order, as convert_hf_to_gguf.py yields them."""
    config = model.config
    block_count = config.n_layer if arch == "gpt2" else config.num_hidden_layers
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], block_count)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # a tied head is token_embd again: llama.cpp writes no `output`
        data = tensor.detach().float()
        if arch == "llama" and name.endswith("q_proj.weight"):
            data = llama_permute(data, config.num_attention_heads, config.num_attention_heads)
        if arch == "llama" and name.endswith("k_proj.weight"):
            data = llama_permute(data, config.num_attention_heads, config.num_key_value_heads)
        if arch == "gpt2" and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            data = data.transpose(1, 0)
        new_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        assert new_name is not None, name
        array = data.contiguous().numpy()
        if array.ndim == 1:
            yield new_name, array, Q.F32
            continue
        qtype = types[new_name.rsplit(".", 1)[0]]
        if qtype == Q.F16:
            yield new_name, array.astype(np.float16), qtype
        else:
            yield new_name, gguf.quants.quantize(array, qtype), qtype


def write_gguf(model, arch, types, path):
    tokens, token_types = tokenizer_vocabulary()
    writer = gguf.GGUFWriter(path, arch)
    write_metadata(writer, arch, model.config, tokens, token_types)
    written = {}
    for name, array, qtype in gguf_tensors(model, arch, types):
        writer.add_tensor(name, array, raw_dtype=qtype)
        written[name] = qtype.name
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return written


def greedy(model, prompt, steps):
    """Greedy decoding by full recomputation: the check on generate()'s cached path."""
    ids = prompt.clone()
    for _ in range(steps):
        next_id = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, next_id], dim=1)
    return ids[0, prompt.shape[1]:]


REFERENCE_WEIGHTS = {
    "llama": ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"],
    "qwen2": ["model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias"],
    "gpt2": ["transformer.h.0.attn.c_proj.weight", "transformer.h.0.ln_1.bias"],
}


def make(arch, seed):
    out = os.path.join(FIXTURES, f"gguf-{arch}")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    tokens_list, _ = tokenizer_vocabulary()
    source, types = build(arch, len(tokens_list))
    spread_weights(source)
    path = os.path.join(out, "model.gguf")
    written = write_gguf(source, arch, types, path)

    # The reference: transformers' own reading of the file. transformers maps gpt2.context_length to
    # n_ctx, not n_positions (the size of wpe), so without this a GPT-2 file with 32 positions fails to load.
    overrides = {"n_positions": source.config.n_positions} if arch == "gpt2" else {}
    model = AutoModelForCausalLM.from_pretrained(out, gguf_file="model.gguf", dtype=torch.float32,
                                                 attn_implementation="eager", **overrides).eval()
    tokenizer = AutoTokenizer.from_pretrained(out, gguf_file="model.gguf")
    vocab = model.config.vocab_size
    assert vocab == len(tokens_list), (vocab, len(tokens_list))

    # The file must be what the source model was, up to quantization: transformers' un-permuted,
    # dequantized weights are near the originals (catches a wrong permutation or transposition).
    # Q4_0 clips a block's largest positive value to 7/8 of its scale: errors up to 1/8 of the maximum.
    source_state = source.state_dict()
    worst = 0.0
    for name, p in model.named_parameters():
        reference = source_state[name].float()
        error = (p.detach() - reference).abs().max().item() / reference.abs().max().item()
        worst = max(worst, error)
        assert error < 0.13, (name, error)

    lengths = [11, 5, 8]
    batch = torch.zeros(3, max(lengths), dtype=torch.long)
    mask = torch.zeros(3, max(lengths), dtype=torch.long)
    for b, n in enumerate(lengths):
        batch[b, :n] = torch.randint(0, vocab, (n,))
        mask[b, :n] = 1
    logits = model(input_ids=batch, attention_mask=mask).logits
    loss = sum(torch.nn.functional.cross_entropy(logits[b, : n - 1], batch[b, 1:n], reduction="sum")
               for b, n in enumerate(lengths))
    with torch.no_grad():
        generated = model.generate(batch[:1, :4], attention_mask=mask[:1, :4], max_new_tokens=8, do_sample=False,
                                   eos_token_id=None, pad_token_id=0)[0, 4:]
        assert generated.shape[0] == 8 and torch.equal(generated, greedy(model, batch[:1, :4], 8))

    tensors = {"tokens": batch, "lengths": torch.tensor(lengths),
               "logits": torch.cat([logits[b, :n] for b, n in enumerate(lengths)]).detach().contiguous(),
               "loss": torch.tensor([loss.item()], dtype=torch.float64), "generated": generated.contiguous()}
    parameters = dict(model.named_parameters())
    for name in REFERENCE_WEIGHTS[arch]:
        tensors["weight." + name] = parameters[name].detach().float().contiguous()
    save_file(tensors, os.path.join(out, "reference.safetensors"))

    encoded = []
    for text in TEST_STRINGS:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text, (text, tokenizer.decode(ids))
        encoded.append({"text": text, "ids": ids, "pieces": tokenizer.convert_ids_to_tokens(ids)})
    with open(os.path.join(out, "tokens.json"), "w") as f:
        lines = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in encoded)
        f.write('{"strings": [\n' + lines + "\n]}\n")

    print(f"gguf-{arch}: loss {loss.item():.9f}, vocab {vocab}, worst relative dequantization error {worst:.4f}, "
          f"tie_word_embeddings {model.config.tie_word_embeddings}, generated {generated.tolist()}")
    print("  types", written)
    print("  config", {k: v for k, v in model.config.to_dict().items()
                       if k in ("hidden_size", "n_embd", "intermediate_size", "n_inner", "num_hidden_layers", "n_layer",
                                "num_attention_heads", "n_head", "num_key_value_heads", "head_dim",
                                "max_position_embeddings", "n_positions", "rope_parameters", "rms_norm_eps",
                                "layer_norm_epsilon", "bos_token_id", "eos_token_id")})
    for item in encoded:
        print("  tokens", repr(item["text"]), item["ids"], item["pieces"])


def main():
    for arch, seed in [("llama", 40), ("qwen2", 47), ("gpt2", 42)]:
        make(arch, seed)


if __name__ == "__main__":
    main()
