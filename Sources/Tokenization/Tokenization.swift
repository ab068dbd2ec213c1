// Byte-level BPE tokenization of Hugging Face tokenizer.json files (GPT-NeoX, GPT-2, BLOOM).
