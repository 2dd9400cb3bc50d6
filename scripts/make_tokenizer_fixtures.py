#!/usr/bin/env python3
"""Writes the fixtures that Tests/TokenizerTests checks the Swift tokenizer against.

Run by hand from the repository root (never by the tests), in a Python with tokenizers 0.23,
transformers 5.24 and regex installed:

    python scripts/make_tokenizer_fixtures.py

It trains a small byte-level BPE (1,500 ids) with Hugging Face's `tokenizers` on a varied corpus
written below, and saves it as a GPT-2 checkpoint's tokenizer in Tests/TokenizerTests/Fixtures/:

    vocab.json          token -> id, `<|endoftext|>` last, as GPT-2's (ASCII-escaped JSON)
    merges.txt          "#version: 0.2", then one merge per line in rank order
    tokenizer.json      the same tokenizer in tokenizers' format, as transformers saves GPT-2's
    cases.json          texts and the ids Hugging Face gives them; ids and the text they decode to
    scalar_classes.txt  for every scalar, what the tokenizers library's pre-tokenization
                        expression takes it for: letter (L), number (N), whitespace (W); ranges
                        not listed are other

The ids come from transformers' GPT2Tokenizer, loaded both from vocab.json + merges.txt and from
tokenizer.json, and from tokenizers' Tokenizer; all must agree. transformers 5 no longer has the
pure-Python ("slow") GPT2Tokenizer, so the script also carries its own small implementation of
GPT-2's original algorithm (the `regex` module's pattern, then merges by rank) and asserts that
it agrees too, except on texts holding scalars whose class differs between `regex`'s Unicode
tables and those of Oniguruma, which the tokenizers library uses (the Swift tokenizer follows the
tokenizers library).

cases.json also holds variants: edits of tokenizer.json (a list of "set"/"remove"/"append"
operations on JSON paths, applied the same way by the tests) with the ids the edited tokenizer
gives (and the text it decodes them to, where that is not the input), and tokenizer_config.json
files that go beside vocab.json + merges.txt.
"""
import json
import os
import random
import shutil
import sys
import tempfile

import regex
import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
VOCAB_SIZE = 1500
EOT = "<|endoftext|>"

# --------------------------------------------------------------------------------------------
# Training corpus

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's not the fox's fault; they're quick and we've seen it.",
    "I'm sure you'll agree: she'd rather stay, he'll go, and we'd all be fine. Don't, won't, can't, shouldn't.",
    "In 1969, Apollo 11 landed on the Moon. 3.14159 is pi; 2.71828 is e; 1,000,000 is a million.",
    "Call 555-0123 or visit https://example.com/path?query=value&x=1#frag before 12:30 PM on 2024-01-15.",
    "def tokenize(text: str) -> list[int]:\n    return [vocab[t] for t in text.split()]\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "if x == 0 and y != 1:\n    print(f\"{x=} {y=}\")  # debug\n    raise ValueError('bad input')\n",
    "const add = (a, b) => a + b; let xs = [1, 2, 3].map(x => x * 2); // doubled",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name ORDER BY 2 DESC;",
    "<div class=\"note\"><p>Hello &amp; welcome!</p></div>",
    "    indented four spaces\n        and eight\n\t\ttwo tabs\n",
    "Café, naïve, résumé, façade, coöperate, São Paulo, Zürich, Kraków, Ærøskøbing, Ångström.",
    "Straße, Größe, über, schön; élève, où, déjà vu; señor, niño, año; Iñtërnâtiônàlizætiøn.",
    "東京は日本の首都です。今日は良い天気ですね。私は学生です。",
    "北京是中国的首都。我们今天去公园散步吧。你好，世界！",
    "서울은 한국의 수도입니다. 안녕하세요, 만나서 반갑습니다.",
    "Привет, мир! Как дела? Москва — столица России. Ёлка, съёмка.",
    "Γειά σου Κόσμε! Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "مرحبا بالعالم! القاهرة هي عاصمة مصر. شكرا جزيلا.",
    "नमस्ते दुनिया! दिल्ली भारत की राजधानी है। धन्यवाद।",
    "สวัสดีชาวโลก กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "שלום עולם! ירושלים היא עיר הבירה.",
    "Emoji: 😀 😃 😄 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇯🇵 🎉🎉🎉 👩🏿‍💻",
    "Math: ∑ x² + ∫ f(x) dx ≈ ∞; α β γ δ; ½ ¼ ¾; ①②③; Ⅻ; 𝔘𝔫𝔦𝔠𝔬𝔡𝔢.",
    "Quotes “like this” and ‘this’ — dashes – and… ellipses. «Guillemets» „low“.",
    "Spaces:  two,   three,    four.\n\nNew paragraph.\r\nWindows line.\r\n",
    "Trailing spaces   \nand tabs\t\t\nand mixed \t \n end",
    "ALL CAPS SHOUTING! IT'S LOUD. WE'RE HERE. I'M FINE. YOU'LL SEE. THEY'D KNOW.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 12345 67890 3rd 21st 42nd 1st v2.0.1",
    "Punctuation!!! Really??? Yes... (maybe) [probably] {certainly} <never> #hashtag @mention $5 %50 ^_^ ~~ `code`",
    "user@example.org, first.last+tag@sub.domain.co.uk, 192.168.0.1, ::1, 0xFF, 0b1010, 1e-9",
    "He said, \"It's 5 o'clock somewhere.\" She replied: 'Isn't it always?'",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer.",
    "A journey of a thousand miles begins with a single step. Knowledge is power. Time is money.",
]


def generated_corpus():
    """More lines, generated with a fixed seed: numbers, identifiers, words in several scripts."""
    rng = random.Random(20240601)
    words = "the of and to in is it you that he was for on are as with his they at be this have from".split()
    lines = []
    for _ in range(120):
        n = rng.randint(4, 14)
        line = " ".join(rng.choice(words) for _ in range(n))
        line = line[0].upper() + line[1:] + rng.choice([".", "!", "?", ";", ",", ":"])
        lines.append(line)
    for _ in range(40):
        lines.append(f"x{rng.randint(0, 99)} = {rng.randint(0, 10**6)} + {rng.random():.4f}  # id_{rng.randint(0, 999)}")
    return lines


# --------------------------------------------------------------------------------------------
# Hard cases

HARD_CASES = [
    "",
    "a",
    " ",
    "  ",
    "hello",
    " hello",
    "hello ",
    "Hello world",
    "Hello  world",
    "Hello   world   ",
    "   leading spaces",
    "trailing spaces   ",
    "space before newline \nnext",
    "spaces before newline   \n\nnext",
    "tab\tseparated\tvalues",
    "\ttab first",
    "two tabs\t\tthen word",
    "tab then space\t word",
    "space then tab \tword",
    "new\nline",
    "\n",
    "\n\n\n",
    "a\n\nb",
    "windows\r\nline\r\nend\r\n",
    "\r\n\r\n",
    "mixed \t\n\r whitespace \t\n\r",
    # Contractions: lowercase only, and only after an apostrophe.
    "it's",
    "don't",
    "they're",
    "we've",
    "I'm",
    "you'll",
    "he'd",
    "'s 't 're 've 'm 'll 'd",
    "IT'S DON'T THEY'RE WE'VE I'M YOU'LL HE'D",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "rock'n'roll",
    "'tis",
    "''s",
    "!'s",
    "don’t",  # typographic apostrophe: no contraction
    "'sss 'ttt 'rex 'vex 'mmm 'lll 'ddd",
    "'",
    "'r 'v 'l",
    # Numbers and letters.
    "123",
    " 123",
    "abc123def",
    "123abc",
    "3.14159",
    "1,000,000",
    "v2.0.1-beta",
    "Ⅻ ① ½ ²",
    "٣٤٥ ४५६ ๑๒๓",
    # Punctuation.
    "!!!",
    " !!!",
    "Hello!!!",
    "...",
    "?!?!",
    "(a)[b]{c}<d>",
    "a-b_c.d/e\\f",
    "#$%&*+=@^`|~",
    "«»“”‘’—–…",
    # Accents: precomposed and combining.
    "café",
    "cafe\u0301",
    "naïve",
    "nai\u0308ve",
    "e\u0301\u0302\u0303",
    "\u0301 leading combining mark",
    "Ångström Å",
    "Zürich Größe",
    # Other scripts.
    "東京",
    " 東京",
    "日本語のテキスト",
    "我们今天去公园散步吧",
    "안녕하세요",
    "Привет мир",
    "Γειά σου",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "שלום",
    "ሰላም ዓለም",
    # Emoji.
    "😀",
    " 😀",
    "😀😃😄",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "❤️",
    "🇯🇵🇫🇷",
    "👩🏿‍💻 coding",
    "emoji😀in😃text",
    # Added tokens.
    EOT,
    EOT + EOT,
    f"Hello{EOT}world",
    f"Hello {EOT} world",
    f"Hello{EOT} world",
    f"{EOT}Hello",
    f"Hello{EOT}",
    f" {EOT} ",
    f"a{EOT}b{EOT}c",
    "<|endoftext|",
    "<|endoftext|>>",
    "<<|endoftext|>",
    "<|endoftext|><|endoftext|",
    "<|ENDOFTEXT|>",
    # Unicode spaces and unusual scalars.
    "non\u00a0breaking",
    "\u00a0leading nbsp",
    "nbsp before word \u00a0word",
    "ideographic\u3000space",
    "line\u2028separator",
    "paragraph\u2029separator",
    "next\u0085line",
    "en\u2002em\u2003thin\u2009hair\u200a",
    "narrow\u202fnbsp",
    "zero\u200bwidth",
    "bom\ufeffinside",
    "\ufeffleading bom",
    "ogham\u1680space",
    "mongolian\u180evowel",
    "replacement \ufffd char",
    "nul\u0000byte",
    "\u0000",
    "controls \u0001\u0002\u0007\u0008\u001b\u007f",
    "file\u001cgroup\u001drecord\u001eunit\u001f",
    "vertical\u000btab form\u000cfeed",
    "soft\u00adhyphen",
    "private \ue000 use",
    "noncharacter \uffff \U0010fffe",
    "astral 𝔘𝔫𝔦 𐍈 𓂀",
    "Armenian \u0560 Georgian \u1c90",
    "Unicode 16 \u1c89\u1c8a Garay \U00010d50",
    "Unicode 17 \u088f \U00010940",
    # Longer paragraphs.
    "The tokenizer splits text into words, then merges bytes. It's fast—usually! Numbers like 42, 3.5 and 1e10 "
    "stay together; punctuation... runs together too. Don't forget: spaces   matter.\n\nNew paragraph here.",
    "def main():\n    xs = [i ** 2 for i in range(10)]\n    if len(xs) > 5:\n        print(\"many\", xs)\n"
    "    return 0\n\n\nif __name__ == \"__main__\":\n    main()\n",
    "日本語と English が混ざった文章です。Unicode の扱いは難しい…でも大丈夫！ 123 と ４５６。",
    "Ελληνικά, русский, العربية, हिन्दी, ไทย and 中文 in one line — with emoji 🎉 and accents: àéîõü.",
]


def random_cases(count, seed):
    """Strings drawn from mixed pieces, with a fixed seed."""
    rng = random.Random(seed)
    pieces = [
        "the", "The", "hello", "world", "token", "izer", "BPE", "GPT", "a", "I", "x", "xyz", "ab",
        "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'", "n't",
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\t ", " \t",
        "0", "7", "42", "2024", "3.14", "1,000", "½", "²", "٣",
        ".", ",", "!", "?", "...", "!!", "-", "--", "_", "(", ")", "[", "]", "{", "}", "\"", "#", "@", "$", "%", "&", "*",
        "é", "e\u0301", "ñ", "ü", "ø", "Å", "ß", "ç",
        "東京", "日本", "の", "中文", "한국어", "Привет", "мир", "Γειά", "مرحبا", "नमस्ते", "สวัสดี", "שלום",
        "😀", "👍🏽", "👨‍👩‍👧", "❤️", "🇯🇵", "🎉",
        "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\ufeff", "\u2003",
        "\ufffd", "\u0000", "\u0001", "\u007f", "\u001f",
        EOT, "<|", "|>", "<|endoftext", "endoftext|>",
    ]
    cases = []
    for _ in range(count):
        n = rng.randint(1, 14)
        cases.append("".join(rng.choice(pieces) for _ in range(n)))
    return cases


# --------------------------------------------------------------------------------------------
# An independent implementation of GPT-2's original algorithm

def bytes_to_unicode():
    """GPT-2's byte -> character map: printable Latin-1 stands for itself, the rest from U+0100."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {}
    extra = 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class ReferenceTokenizer:
    """GPT-2's encoder as first published: special tokens split out, then the pattern, then the
    lowest-ranked adjacent pair merged everywhere until none is left."""

    def __init__(self, vocab, merges, special_tokens):
        self.vocab = vocab
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.byte_chars = bytes_to_unicode()
        self.special = regex.compile("(" + "|".join(regex.escape(t) for t in sorted(special_tokens, key=len, reverse=True)) + ")")
        self.special_tokens = set(special_tokens)

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, first = min(pairs)
            if rank == float("inf"):
                break
            pair = (parts[first], parts[first + 1])
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def encode(self, text):
        ids = []
        for chunk in self.special.split(text) if text else []:
            if chunk in self.special_tokens:
                ids.append(self.vocab[chunk])
                continue
            for word in GPT2_PATTERN.findall(chunk):
                mapped = "".join(self.byte_chars[b] for b in word.encode("utf-8"))
                ids.extend(self.vocab[t] for t in self.bpe(mapped))
        return ids

    def decode(self, ids):
        inverse = {v: k for k, v in self.vocab.items()}
        char_bytes = {c: b for b, c in self.byte_chars.items()}
        data = bytearray()
        for i in ids:
            token = inverse[i]
            if all(c in char_bytes for c in token):
                data.extend(char_bytes[c] for c in token)
            else:
                data.extend(token.encode("utf-8"))
        return data.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------------
# Scalar classes, as the tokenizers library's pre-tokenizer sees them

def onig_scalar_classes():
    """For every scalar (surrogates excepted), 'L', 'N', 'W' or 'O', found by asking the
    pre-tokenizer where it cuts "a" + c, "1" + c and "!" + c: it keeps c with the letter only if
    c is a letter, and so on; what joins none of them is whitespace (checked separately)."""
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    scalars = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]

    def joins(prefix):
        text = "".join(prefix + chr(c) + "\t\t" for c in scalars)
        starts = {start for _, (start, _) in pre.pre_tokenize_str(text)}
        return [4 * i + 1 not in starts for i in range(len(scalars))]

    letter, number, other = joins("a"), joins("1"), joins("!")
    classes = {}
    for i, c in enumerate(scalars):
        found = [k for k, hit in (("L", letter[i]), ("N", number[i]), ("O", other[i])) if hit]
        assert len(found) <= 1, (hex(c), found)
        classes[c] = found[0] if found else "W"
    classes[0x20] = "W"
    whitespace = [c for c, k in classes.items() if k == "W"]
    python_whitespace = [c for c in scalars if regex.match(r"\s", chr(c))]
    assert whitespace == python_whitespace, (whitespace, python_whitespace)
    return classes


def regex_scalar_class(c):
    if regex.match(r"\s", c):
        return "W"
    if regex.match(r"\p{L}", c):
        return "L"
    if regex.match(r"\p{N}", c):
        return "N"
    return "O"


def write_scalar_classes(classes, path):
    runs = []
    for c in sorted(classes):
        k = classes[c]
        if runs and runs[-1][2] == k and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c, k])
    with open(path, "w") as f:
        f.write("# Scalar classes of the tokenizers library's pre-tokenization expression (tokenizers "
                f"{tokenizers.__version__}): first last class, hexadecimal; L letter, N number, W whitespace;"
                " unlisted scalars are other.\n")
        for first, last, k in runs:
            if k != "O":
                f.write(f"{first:X} {last:X} {k}\n")


# --------------------------------------------------------------------------------------------
# Training and saving

def train():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - 1, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS + generated_corpus(), trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = dict(sorted(model["vocab"].items(), key=lambda item: item[1]))
    assert list(vocab.values()) == list(range(len(vocab)))
    vocab[EOT] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return vocab, merges


def save_checkpoint(vocab, merges, folder):
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
        f.write("\n")
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def apply_patch(document, operations):
    """The edits a variant makes to tokenizer.json: set, remove or append at a path of keys and
    indices (the Swift tests apply them the same way)."""
    document = json.loads(json.dumps(document))
    for op in operations:
        *parents, last = op["path"]
        target = document
        for key in parents:
            target = target[key]
        if op["op"] == "set":
            target[last] = op["value"]
        elif op["op"] == "remove":
            del target[last]
        elif op["op"] == "append":
            target[last].append(op["value"])
        else:
            raise ValueError(op)
    return document


def encode_with(tok, text):
    return tok.encode(text).ids


def main():
    print(f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}, regex {regex.__version__}")
    # The fixtures are what these versions do: another version may split or merge differently.
    assert tokenizers.__version__ == "0.23.3", f"tokenizers {tokenizers.__version__}: the fixtures pin 0.23.3"
    assert transformers.__version__ == "5.24.0", f"transformers {transformers.__version__}: the fixtures pin 5.24.0"
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        path = os.path.join(OUT, name)
        if os.path.isfile(path):
            os.remove(path)

    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("Written by scripts/make_tokenizer_fixtures.py (see its doc comment); do not edit by hand.\n")
    vocab, merges = train()
    save_checkpoint(vocab, merges, OUT)
    slow_files = GPT2Tokenizer(vocab=os.path.join(OUT, "vocab.json"), merges=os.path.join(OUT, "merges.txt"))
    slow_files.backend_tokenizer.save(os.path.join(OUT, "tokenizer.json"), pretty=False)
    tokenizer_json = json.load(open(os.path.join(OUT, "tokenizer.json"), encoding="utf-8"))
    assert tokenizer_json["model"]["merges"] and isinstance(tokenizer_json["model"]["merges"][0], list)

    from_json = GPT2Tokenizer.from_pretrained(OUT)
    raw = Tokenizer.from_file(os.path.join(OUT, "tokenizer.json"))
    legacy_merges = apply_patch(tokenizer_json, [{"op": "set", "path": ["model", "merges"],
                                                  "value": [f"{a} {b}" for a, b in merges]}])
    raw_legacy = Tokenizer.from_str(json.dumps(legacy_merges))
    reference = ReferenceTokenizer(vocab, merges, [EOT])
    assert from_json.convert_tokens_to_ids(EOT) == VOCAB_SIZE - 1 == len(vocab) - 1

    print("probing scalar classes (a minute or two)...")
    onig = onig_scalar_classes()
    write_scalar_classes(onig, os.path.join(OUT, "scalar_classes.txt"))

    def same_classes(text):
        return all(onig[ord(c)] == regex_scalar_class(c) for c in text)

    texts = HARD_CASES + random_cases(300, seed=1234)
    encode_cases = []
    for text in texts:
        ids = from_json(text)["input_ids"]
        assert slow_files(text)["input_ids"] == ids, text
        assert encode_with(raw, text) == ids, text
        assert encode_with(raw_legacy, text) == ids, text
        assert from_json.decode(ids) == text, text
        if same_classes(text):
            assert reference.encode(text) == ids, (text, reference.encode(text), ids)
        else:
            print(f"  not checked by the reference (Unicode versions differ): {text!r}")
        encode_cases.append({"text": text, "ids": ids})

    byte_id = {b: vocab[c] for b, c in bytes_to_unicode().items()}
    invalid_utf8 = [
        [0x80], [0xBF], [0xC3], [0xC3, 0x28], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF],
        [0xE6, 0x97], [0xE6, 0x97, 0x41], [0xED, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEF, 0xBF, 0xBF],
        [0xF0, 0x9F, 0x98], [0xF0, 0x9F, 0x98, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80], [0xFE], [0xFF, 0xFE], [0x41, 0xE2, 0x82, 0x42, 0xE2, 0x82, 0xAC],
        [0xE2, 0x82], [0xF0], [0x61, 0xF0, 0x9F], [0xC2, 0xC2, 0xA9], [0x80, 0x80, 0x80],
    ]
    decode_cases = []
    for data in invalid_utf8:
        ids = [byte_id[b] for b in data]
        text = from_json.decode(ids)
        assert text == raw.decode(ids, skip_special_tokens=False) == bytes(data).decode("utf-8", errors="replace"), data
        decode_cases.append({"ids": ids, "text": text})
    rng = random.Random(99)
    for _ in range(40):
        ids = [rng.randrange(len(vocab)) for _ in range(rng.randint(1, 12))]
        decode_cases.append({"ids": ids, "text": from_json.decode(ids)})
        assert from_json.decode(ids) == reference.decode(ids)
    for ids in ([len(vocab) - 1], [byte_id[0x41], len(vocab) - 1, byte_id[0x42]]):
        for skip in (False, True):
            text = from_json.decode(ids, skip_special_tokens=skip)
            decode_cases.append({"ids": ids, "text": text, "skip_special_tokens": skip})

    # The variants see a sample of the hard cases, to keep the fixtures small.
    sample = [text for text in HARD_CASES if len(text) <= 40][::3]
    variants = make_variants(tokenizer_json, vocab, merges, sample)
    config_variants = make_config_variants(sample)

    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'"versions": {json.dumps({"tokenizers": tokenizers.__version__, "transformers": transformers.__version__})},\n')
        write_list(f, "encode", encode_cases)
        f.write(",\n")
        write_list(f, "decode", decode_cases)
        f.write(",\n")
        write_list(f, "variants", variants)
        f.write(",\n")
        write_list(f, "config_variants", config_variants)
        f.write("\n}\n")

    total = 0
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        total += size
        print(f"  {name}: {size} bytes")
    print(f"  total: {total} bytes; {len(encode_cases)} encode cases, {len(decode_cases)} decode cases,"
          f" {len(variants)} variants, {len(config_variants)} config variants")


def write_list(f, key, items):
    f.write(f'"{key}": [\n')
    f.write(",\n".join(json.dumps(item, ensure_ascii=False) for item in items))
    f.write("\n]")


def make_variants(tokenizer_json, vocab, merges, hard_texts):
    """Edits of tokenizer.json, each with the ids the edited tokenizer gives."""
    n = len(vocab)
    added = lambda content, id, **flags: {"op": "append", "path": ["added_tokens"], "value": {
        "id": id, "content": content, "single_word": flags.get("single_word", False),
        "lstrip": flags.get("lstrip", False), "rstrip": flags.get("rstrip", False),
        "normalized": flags.get("normalized", False), "special": flags.get("special", False)}}
    used_in_merges = {t for m in merges for t in m}
    byte_chars = bytes_to_unicode()
    rare = [byte_chars[0x00], byte_chars[0x01]]
    assert not any(t in used_in_merges for t in rare)

    added_token_texts = [
        "call <tool>now", "call <tool>x now", "<tool><tool>x<tool>", "<too", "a [L] b", "a   [L]b", "[L]",
        "a [R]   b", "a[R]\n\nb", "x [L]  [R]  y", " [R] [L] ", "qq", "a qq b", "aqq", "qqa", "(qq)", "qq.", "é qq",
        "<<a>>", "<<a>", "<<a", "a>>", "<|im start|>user", "hi <|im start|>", "≠≠ and ≠", f"{EOT}<tool>{EOT}",
        "_qq_", "1qq", "qq1",
    ]
    variants = [
        ("add_prefix_space", [{"op": "set", "path": ["pre_tokenizer", "add_prefix_space"], "value": True}],
         ["Hello", " Hello", f"a{EOT}b", f"{EOT}x", f"x{EOT} y", "\nline", "\u00a0nbsp", "東京"]),
        ("no_regex", [{"op": "set", "path": ["pre_tokenizer", "use_regex"], "value": False}], []),
        ("added_tokens", [
            added("<tool>", n), added("<tool>x", n + 1), added("[L]", n + 2, lstrip=True, special=True),
            added("[R]", n + 3, rstrip=True, special=True), added("qq", n + 4, single_word=True),
            added("<<a", n + 5, normalized=True), added("a>>", n + 6),
            added("<|im start|>", n + 7, special=True), added("≠≠", n + 8, normalized=True),
            added("Ġzz", n + 9),
        ], added_token_texts + ["xĠzzy", "Ġzz Ġzz"]),
        ("nfc", [{"op": "set", "path": ["normalizer"], "value": {"type": "NFC"}},
                 added("≠≠", n, normalized=True), added("e\u0301!", n + 1, normalized=True),
                 added("e\u0301?", n + 2), added("<tool>", n + 3)],
         ["Cafe\u0301 au lait", "n\u0303o\u0303", "\u1100\u1161\u11a8 \uac00", "\u212b and A\u030a and \u00c5",
          "=\u0338=\u0338 x ≠≠", "e\u0301! e\u0301? \u00e9! \u00e9?", "\ufb01le", "a\u0323\u0307 q\u0307\u0323",
          "<tool>e\u0301<tool>\u0301", "\u0301 leading mark", f"x{EOT}\u0301"]),
        # OPT's tokenizer.json: its bos token before every text.
        ("template_bos", [{"op": "set", "path": ["post_processor"], "value": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": EOT, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": EOT, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {EOT: {"id": EOT, "ids": [n - 1], "tokens": [EOT]}}}}],
         ["Hello", f"{EOT}x", ""]),
        ("ignore_merges", [
            {"op": "set", "path": ["model", "ignore_merges"], "value": True},
            {"op": "set", "path": ["model", "vocab", "Ġzqzq"], "value": n},
            {"op": "set", "path": ["model", "vocab", "zqzq"], "value": n + 1},
        ], [" zqzq", "zqzq", " zqzqzq", "zqzq zqzq", "zq"]),
        ("unknown_dropped", [{"op": "remove", "path": ["model", "vocab", t]} for t in rare],
         ["a\u0000b", "\u0000\u0001\u0000", "x \u0001 y"]),
        ("unknown_fused", [{"op": "remove", "path": ["model", "vocab", t]} for t in rare]
         + [{"op": "set", "path": ["model", "unk_token"], "value": EOT},
            {"op": "set", "path": ["model", "fuse_unk"], "value": True}],
         ["a\u0000b", "\u0000\u0001\u0000", "x \u0001 y"]),
        ("unknown_unfused", [{"op": "remove", "path": ["model", "vocab", t]} for t in rare]
         + [{"op": "set", "path": ["model", "unk_token"], "value": EOT}],
         ["a\u0000b", "\u0000\u0001\u0000", "x \u0001 y"]),
    ]
    out = []
    for name, patch, extra_texts in variants:
        edited = apply_patch(tokenizer_json, patch)
        tok = Tokenizer.from_str(json.dumps(edited))
        for op in patch:
            if op["path"] == ["added_tokens"]:
                assert tok.token_to_id(op["value"]["content"]) == op["value"]["id"], op
        cases = []
        for text in hard_texts + extra_texts:
            case = {"text": text, "ids": encode_with(tok, text)}
            decoded = tok.decode(case["ids"], skip_special_tokens=False)
            if decoded != text:  # stripped whitespace, dropped bytes, byte-level added tokens
                case["decoded"] = decoded
            cases.append(case)
        out.append({"name": name, "patch": patch, "cases": cases})
    return out


def make_config_variants(hard_texts):
    """tokenizer_config.json files beside vocab.json + merges.txt, with transformers' ids."""
    n = VOCAB_SIZE
    entry = lambda content: {"content": content, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": True}
    configs = [
        ("prefix_space_and_pad", {
            "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": True, "model_max_length": 1024,
            "added_tokens_decoder": {str(n - 1): entry(EOT), str(n): entry("<pad>")}, "pad_token": "<pad>"}),
        ("role_only", {"pad_token": "<pad>", "bos_token": EOT, "eos_token": {"content": EOT, "__type": "AddedToken"}}),
        # OPT's: the bos token put before every text.
        ("add_bos", {"tokenizer_class": "GPT2Tokenizer", "add_bos_token": True, "bos_token": "<pad>", "eos_token": EOT,
                     "added_tokens_decoder": {str(n - 1): entry(EOT), str(n): entry("<pad>")}}),
    ]
    extra = ["<pad>x<pad>", f"a{EOT}<pad>b", "Hello", " Hello"]
    out = []
    for name, config in configs:
        folder = tempfile.mkdtemp()
        try:
            shutil.copy(os.path.join(OUT, "vocab.json"), folder)
            shutil.copy(os.path.join(OUT, "merges.txt"), folder)
            with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
                json.dump(config, f)
            tok = GPT2Tokenizer.from_pretrained(folder)
            assert tok.convert_tokens_to_ids("<pad>") == n, name
            cases = [{"text": t, "ids": tok(t)["input_ids"]} for t in hard_texts + extra]
        finally:
            shutil.rmtree(folder)
        out.append({"name": name, "config": config, "cases": cases})
    return out


if __name__ == "__main__":
    sys.exit(main())
