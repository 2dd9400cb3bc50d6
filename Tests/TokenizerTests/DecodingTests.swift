// Decoding ids to bytes and text, all at once and one id at a time.
import Testing
@testable import TFCTokenizer

@Suite struct DecodingTests {
    /// Hugging Face's text for ids whose bytes are not valid UTF-8 (lone continuation bytes,
    /// truncated sequences, overlongs, surrogates, values above U+10FFFF), for random ids, and
    /// with special tokens kept or skipped. Compared as UTF-8, so that every U+FFFD counts.
    @Test func matchesHuggingFace() throws {
        let tokenizer = try Fixtures.tokenizer()
        let cases = try Fixtures.decodeCases()
        #expect(cases.count > 60)
        #expect(cases.contains { $0.text.unicodeScalars.contains("\u{FFFD}") })
        for testCase in cases {
            let text = try tokenizer.decodeText(testCase.ids, skipSpecialTokens: testCase.skipSpecialTokens)
            #expect(Array(text.utf8) == Array(testCase.text.utf8), "ids \(testCase.ids)")
        }
    }

    /// The replacement rules on their own: one U+FFFD per maximal ill-formed part.
    @Test func replacement() {
        func repaired(_ bytes: [UInt8]) -> [UInt32] { UTF8Repair.string(bytes).unicodeScalars.map(\.value) }
        #expect(repaired([0x61, 0x80, 0x62]) == [0x61, 0xFFFD, 0x62])
        #expect(repaired([0xE6, 0x97]) == [0xFFFD])  // one truncated character: one replacement
        #expect(repaired([0xE6, 0x97, 0x41]) == [0xFFFD, 0x41])
        #expect(repaired([0xC0, 0xAF]) == [0xFFFD, 0xFFFD])  // C0 never starts a character
        #expect(repaired([0xED, 0xA0, 0x80]) == [0xFFFD, 0xFFFD, 0xFFFD])  // a surrogate's encoding
        #expect(repaired([0xF4, 0x90, 0x80, 0x80]) == [0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD])  // above U+10FFFF
        #expect(repaired([0xF0, 0x9F, 0x98, 0x80]) == [0x1F600])
        #expect(UTF8Repair.validated([0xF0, 0x9F, 0x98]) == nil)
        #expect(UTF8Repair.validated([0x68, 0xC3, 0xA9]) == "hé")
    }

    @Test func skipsSpecialTokens() throws {
        let tokenizer = try Fixtures.tokenizer()
        let ids = tokenizer.encode("a<|endoftext|>b")
        #expect(try tokenizer.decodeText(ids) == "a<|endoftext|>b")
        #expect(try tokenizer.decodeText(ids, skipSpecialTokens: true) == "ab")
    }

    /// An id that is no token is an error that names it, not a crash or a silent skip.
    @Test func unknownIDs() throws {
        let tokenizer = try Fixtures.tokenizer()
        for id: Int32 in [1500, -1, Int32.max] {
            let error = try #require(throws: TokenizerError.self) { try tokenizer.decode([64, id]) }
            #expect(error.file == nil)
            #expect(error.description.contains("no token has id \(id) (ids[1]"))
        }
    }

    /// Fed one id at a time, the streaming decoder returns only complete characters: what it
    /// has returned after each id is exactly the valid UTF-8 prefix of the bytes so far, up to
    /// the last complete character. Together with `finish()` it returns the whole decode.
    @Test func streamingNeverSplitsCharacters() throws {
        let tokenizer = try Fixtures.tokenizer()
        var heldBack = 0
        for testCase in try Fixtures.encodeCases() {
            var decoder = tokenizer.makeStreamingDecoder()
            var emitted: [UInt8] = []
            var bytes: [UInt8] = []
            for id in testCase.ids {
                let chunk = try decoder.append(id)
                emitted += Array(chunk.utf8)
                bytes += try tokenizer.decode([id])
                let complete = completePrefixLength(bytes)
                #expect(emitted == Array(bytes[..<complete]), "text \(show(testCase.text)) after id \(id)")
                if complete < bytes.count { heldBack += 1 }
            }
            emitted += Array(decoder.finish().utf8)
            #expect(emitted == Array(testCase.text.utf8), "text \(show(testCase.text))")
        }
        // The cases split characters across tokens often enough for the test to mean something.
        #expect(heldBack > 50)
    }

    /// With ill-formed bytes the stream still adds up to the whole decode, replacements included.
    @Test func streamingMatchesWholeDecode() throws {
        let tokenizer = try Fixtures.tokenizer()
        for testCase in try Fixtures.decodeCases() {
            var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: testCase.skipSpecialTokens)
            var text = ""
            for id in testCase.ids { text += try decoder.append(id) }
            text += decoder.finish()
            #expect(Array(text.utf8) == Array(testCase.text.utf8), "ids \(testCase.ids)")
            #expect(decoder.finish().isEmpty)
        }
    }

    @Test func streamingHoldsBackAPartialCharacter() throws {
        let tokenizer = try Fixtures.tokenizer()
        let byte = { (value: UInt8) in try #require(tokenizer.id(of: String(ByteLevel.scalarForByte[Int(value)]))) }
        var decoder = tokenizer.makeStreamingDecoder()
        // 😀 is F0 9F 98 80, fed one byte at a time after "a".
        #expect(try decoder.append(byte(0x61)) == "a")
        #expect(try decoder.append(byte(0xF0)) == "")
        #expect(try decoder.append(byte(0x9F)) == "")
        #expect(try decoder.append(byte(0x98)) == "")
        #expect(try decoder.append(byte(0x80)) == "😀")
        // A byte that breaks the sequence releases one U+FFFD at once, then itself.
        #expect(try decoder.append(byte(0xE6)) == "")
        #expect(try decoder.append(byte(0x41)) == "\u{FFFD}A")
        // An unknown id is an error and leaves the held-back bytes alone.
        #expect(try decoder.append(byte(0xE6)) == "")
        #expect(throws: TokenizerError.self) { try decoder.append(99_999) }
        #expect(try decoder.append(byte(0x97)) == "")
        #expect(try decoder.append(byte(0xA5)) == "日")
        // finish() turns an unfinished character into one U+FFFD.
        #expect(try decoder.append(byte(0xE6)) == "")
        #expect(decoder.finish() == "\u{FFFD}")
        #expect(decoder.finish() == "")
    }
}

/// The length of the longest prefix of `bytes` that ends at the end of a complete character
/// (the bytes are a prefix of valid UTF-8).
private func completePrefixLength(_ bytes: [UInt8]) -> Int {
    var end = bytes.count
    var start = end - 1
    while start >= 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
    if start >= 0 {
        let lead = bytes[start]
        let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        if start + length > bytes.count { end = start }
    }
    return end
}
