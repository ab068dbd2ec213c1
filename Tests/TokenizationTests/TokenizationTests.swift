// Tests of the byte-level BPE tokenizer against fixtures written by Hugging Face tokenizers.
