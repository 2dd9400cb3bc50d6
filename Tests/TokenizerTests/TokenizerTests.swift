// Byte-level BPE, as GPT-2 tokenizes text: encoding against Hugging Face's ids.
import Foundation
import Testing
import TIRFormats
@testable import TFCTokenizer

@Suite struct EncodingTests {
    /// Every text of cases.json (hard cases and a seeded random batch) gets Hugging Face's ids,
    /// whether the tokenizer comes from tokenizer.json or from vocab.json + merges.txt.
    @Test(arguments: ["tokenizer.json", "vocab.json + merges.txt"])
    func matchesHuggingFace(_ source: String) throws {
        let tokenizer = source == "tokenizer.json" ? try Fixtures.tokenizer() : try Fixtures.tokenizerFromVocabAndMerges()
        let cases = try Fixtures.encodeCases()
        #expect(cases.count > 400)
        var mismatches = 0
        for testCase in cases {
            let ids = tokenizer.encode(testCase.text)
            if ids != testCase.ids { mismatches += 1 }
            #expect(ids == testCase.ids, "text \(show(testCase.text))")
        }
        #expect(mismatches == 0)
    }

    /// Decoding the ids of a text gives back its exact bytes (compared as UTF-8: Swift's String
    /// equality would call "é" and "e\u{301}" equal).
    @Test func roundTrips() throws {
        let tokenizer = try Fixtures.tokenizer()
        for testCase in try Fixtures.encodeCases() {
            let bytes = try tokenizer.decode(tokenizer.encode(testCase.text))
            #expect(bytes == Array(testCase.text.utf8), "text \(show(testCase.text))")
            #expect(Array(try tokenizer.decodeText(testCase.ids).utf8) == Array(testCase.text.utf8))
        }
    }

    /// Both file formats describe the same tokenizer: the same ids for every token text, the
    /// same text for every id, the same added tokens and options.
    @Test func loadersAgree() throws {
        let fromJSON = try Fixtures.tokenizer()
        let fromFiles = try Fixtures.tokenizerFromVocabAndMerges()
        #expect(fromJSON.count == 1500)
        #expect(fromFiles.count == fromJSON.count)
        #expect(fromFiles.addedTokens == fromJSON.addedTokens)
        #expect(fromFiles.addPrefixSpace == fromJSON.addPrefixSpace && fromFiles.splitsWords == fromJSON.splitsWords)
        #expect(fromFiles.model.merges == fromJSON.model.merges)
        #expect(fromFiles.model.byteIDs == fromJSON.model.byteIDs)
        for id in Int32(0)..<Int32(fromJSON.count) {
            let text = try #require(fromJSON.token(for: id))
            #expect(fromFiles.token(for: id) == text)
            #expect(fromFiles.id(of: text) == id)
            #expect(try fromFiles.decode([id]) == fromJSON.decode([id]))
        }
    }

    /// A checkpoint folder loads through tokenizer.json when it has one, else through vocab.json
    /// + merges.txt.
    @Test func loadsCheckpointFolders() throws {
        let expected = try Fixtures.encodeCases()
        let folder = try BPETokenizer(directory: try Fixtures.folder)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json", "merges.txt"], to: dir)
        let legacy = try BPETokenizer(directory: dir)
        for testCase in expected.prefix(200) {
            #expect(folder.encode(testCase.text) == testCase.ids)
            #expect(legacy.encode(testCase.text) == testCase.ids)
        }
    }

    /// Older tokenizer.json files write merges as "a b" strings; newer ones as pairs.
    @Test func mergesAsStrings() throws {
        let document = try JSONValue.parse(try Fixtures.bytes("tokenizer.json"))
        let pairs = try #require(document.objectValue?["model"]?.objectValue?["merges"]?.arrayValue)
        let strings: [JSONValue] = try pairs.map { pair in
            let parts = try #require(pair.arrayValue).compactMap(\.stringValue)
            return .string(parts.joined(separator: " "))
        }
        let tokenizer = try patchedTokenizer([setOperation(["model", "merges"], .array(["#version: 0.2"] + strings))])
        #expect(tokenizer.model.merges == (try Fixtures.tokenizer()).model.merges)
        for testCase in try Fixtures.encodeCases() {
            #expect(tokenizer.encode(testCase.text) == testCase.ids, "text \(show(testCase.text))")
        }
    }

    /// Edits of tokenizer.json (add_prefix_space, use_regex false, added tokens with every flag,
    /// GPT-NeoX's NFC normalizer, ignore_merges, bytes missing from the vocabulary with and without an unknown token) give
    /// the ids the tokenizers library gives for the same edit, and decode to its text.
    @Test func variantsMatchHuggingFace() throws {
        let variants = try Fixtures.variants()
        #expect(variants.map(\.name) == ["add_prefix_space", "no_regex", "added_tokens", "nfc", "template_bos", "ignore_merges",
                                         "unknown_dropped", "unknown_fused", "unknown_unfused"])
        #expect(variants.contains { $0.cases.contains { $0.decoded != nil } })
        let plain = try Fixtures.tokenizer()
        for variant in variants {
            let tokenizer = try patchedTokenizer(variant.patch)
            var differsFromPlain = false
            for testCase in variant.cases {
                let ids = tokenizer.encode(testCase.text)
                #expect(ids == testCase.ids, "variant \(variant.name), text \(show(testCase.text))")
                let decoded = try tokenizer.decodeText(testCase.ids)
                #expect(Array(decoded.utf8) == Array((testCase.decoded ?? testCase.text).utf8),
                        "variant \(variant.name), ids \(testCase.ids)")
                if plain.encode(testCase.text) != testCase.ids { differsFromPlain = true }
            }
            // Each variant changes some ids, or it would test nothing the plain cases do not.
            #expect(differsFromPlain, "variant \(variant.name)")
        }
    }

    /// vocab.json + merges.txt with a tokenizer_config.json: add_prefix_space, added tokens from
    /// added_tokens_decoder and special tokens named by role, as transformers reads them.
    @Test func configVariantsMatchTransformers() throws {
        let variants = try Fixtures.configVariants()
        #expect(variants.map(\.name) == ["prefix_space_and_pad", "role_only", "add_bos"])
        for variant in variants {
            let dir = try makeTempDir()
            defer { cleanup(dir) }
            try copyFixtures(["vocab.json", "merges.txt"], to: dir)
            try write(variant.config.serialized(), to: dir + "/tokenizer_config.json")
            let tokenizer = try BPETokenizer(directory: dir)
            #expect(tokenizer.id(of: "<pad>") == 1500, "variant \(variant.name)")
            for testCase in variant.cases {
                #expect(tokenizer.encode(testCase.text) == testCase.ids, "variant \(variant.name), text \(show(testCase.text))")
            }
        }
    }

    @Test func endOfText() throws {
        let tokenizer = try Fixtures.tokenizer()
        #expect(tokenizer.endOfTextID == 1499)
        #expect(tokenizer.isSpecial(1499))
        #expect(!tokenizer.isSpecial(0))
        #expect(tokenizer.encode("a<|endoftext|>b") == [64, 1499, 65])
        // Without added tokens the same text is plain text.
        let plain = try BPETokenizer(vocabFile: try Fixtures.path("vocab.json"), mergesFile: try Fixtures.path("merges.txt"),
                                     specialTokens: [])
        #expect(!plain.encode("a<|endoftext|>b").contains(1499))
        #expect(plain.endOfTextID == 1499)  // still a vocabulary token, just never matched in text
    }

    /// Encoding a megabyte runs, and agrees with encoding its lines one by one where added
    /// tokens and words cannot straddle the cut (each line ends with a newline that the next
    /// word cannot join).
    @Test func longText() throws {
        let tokenizer = try Fixtures.tokenizer()
        let lines = try Fixtures.encodeCases().map(\.text).filter { !$0.isEmpty && !$0.contains("<|") }
            .map { $0.filter { !$0.isWhitespace } + ".\n" }
        var text = ""
        var expected: [Int32] = []
        while text.utf8.count < 1 << 20 {
            for line in lines {
                text += line
                expected += tokenizer.encode(line)
            }
        }
        let ids = tokenizer.encode(text)
        #expect(ids == expected)
        #expect(try tokenizer.decode(ids) == Array(text.utf8))
    }
}

@Suite struct PreTokenizerTests {
    private func words(_ text: String) -> [String] {
        var text = text
        return text.withUTF8 { buffer in
            var words: [String] = []
            PreTokenizer.forEachWord(in: buffer) { words.append(String(decoding: buffer[$0], as: UTF8.self)) }
            return words
        }
    }

    /// GPT-2's word boundaries, each a rule of the expression.
    @Test func wordBoundaries() {
        #expect(words("Hello world") == ["Hello", " world"])
        #expect(words("Hello   world") == ["Hello", "  ", " world"])  // a run of spaces leaves its last to the word
        #expect(words("a \n b") == ["a", " \n", " b"])
        #expect(words("a\n\nb") == ["a", "\n", "\n", "b"])  // the last newline is no space: alone
        #expect(words("end   ") == ["end", "   "])
        #expect(words("it's IT'S") == ["it", "'s", " IT", "'", "S"])
        #expect(words("we'll 'll") == ["we", "'ll", " '", "ll"])
        #expect(words("abc123def") == ["abc", "123", "def"])
        #expect(words("x !!?.. y") == ["x", " !!?..", " y"])
        #expect(words("a\u{A0}b") == ["a", "\u{A0}", "b"])  // NBSP is whitespace, but only U+0020 joins a word
        #expect(words("a\u{200B}b") == ["a", "\u{200B}", "b"])  // zero-width space is not whitespace
        #expect(words("東京 タワー") == ["東京", " タワー"])
        #expect(words("é") == ["é"])
        #expect(words("e\u{301}") == ["e", "\u{301}"])  // a combining mark is neither letter nor number
        #expect(words("") == [])
    }

    /// For every scalar, the class the scanner gives is the one the tokenizers library's
    /// expression gives (scalar_classes.txt, probed by the fixture script).
    @Test func scalarClassesMatchHuggingFace() throws {
        let text = String(decoding: try Fixtures.bytes("scalar_classes.txt"), as: UTF8.self)
        var expected = [ScalarClass](repeating: .other, count: 0x110000)
        var listed = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            try #require(fields.count == 3, "line \(line)")
            let first = try #require(Int(fields[0], radix: 16)), last = try #require(Int(fields[1], radix: 16))
            let scalarClass: ScalarClass = switch fields[2] {
            case "L": .letter
            case "N": .number
            case "W": .whitespace
            default: .other
            }
            for value in first...last { expected[value] = scalarClass }
            listed += last - first + 1
        }
        #expect(listed > 100_000)
        var mismatches: [String] = []
        for value in 0..<0x110000 where !(0xD800..<0xE000).contains(value) {
            let found = ScalarClass.of(UInt32(value))
            if found != expected[value] { mismatches.append("U+\(String(value, radix: 16, uppercase: true)): \(found)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) scalars differ, first \(mismatches.prefix(10))")
    }
}
