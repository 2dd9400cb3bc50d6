// Byte-level BPE, as GPT-2 tokenizes text.
