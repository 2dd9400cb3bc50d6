// Byte-level BPE, as GPT-2 tokenizes text: the tokenizer value, encoding and decoding.
// Loading from files is in Loading.swift, and validation of what the files say in Building.swift.

/// GPT-2's byte-level BPE tokenizer, giving the ids Hugging Face's `tokenizers` library gives
/// for the same files.
///
/// Encoding: added tokens such as `<|endoftext|>` are split out of the text first and become
/// their ids; each piece of text between them is cut into words by GPT-2's pre-tokenization
/// expression (see PreTokenizer.swift), each word's UTF-8 bytes start as one token per byte, and
/// merges join adjacent tokens, lowest rank first.
///
/// A value is immutable and `Sendable`: share it between threads freely.
public struct BPETokenizer: Sendable {
    let model: BytePairModel
    let splitter: AddedTokenSplitter
    /// The bytes each id decodes to.
    let bytesByID: [Int32: [UInt8]]
    /// Each id's token text: the added token's content, or the vocabulary's spelling.
    let textByID: [Int32: String]
    /// Token text (UTF-8)  ->  id, added tokens first, as Hugging Face's `token_to_id`.
    let idByText: [[UInt8]: Int32]
    let specialIDs: Set<Int32>

    /// The tokens matched in the text as a whole, in the order the file lists them.
    public let addedTokens: [AddedToken]
    /// Whether each piece of text between added tokens gets a leading space when it has none
    /// (`add_prefix_space`), so that its first word is tokenized like any other.
    public let addPrefixSpace: Bool
    /// Whether pieces are cut into words by GPT-2's expression (`use_regex`); otherwise each
    /// piece is one word.
    public let splitsWords: Bool
    /// Whether text between the added tokens that are not "normalized" is put in Unicode NFC
    /// before anything else (tokenizer.json's `"normalizer": {"type": "NFC"}`, GPT-NeoX's).
    public let normalizesNFC: Bool
    /// The ids `encode` puts before every text (OPT's `</s>`), as Hugging Face does by default.
    public let prefixIDs: [Int32]

    /// The number of distinct ids (the vocabulary and the added tokens that are not in it).
    public var count: Int { bytesByID.count }

    /// The id of `<|endoftext|>`, GPT-2's end of text (and its beginning and padding), when the
    /// tokenizer has that token.
    public var endOfTextID: Int32? { id(of: "<|endoftext|>") }

    /// The id of the token written `text` (an added token's content, or the vocabulary's
    /// spelling, where a space is "Ġ").
    public func id(of text: String) -> Int32? { idByText[Array(text.utf8)] }

    /// The text of the token with this id, as `id(of:)` takes it.
    public func token(for id: Int32) -> String? { textByID[id] }

    /// Whether `id` is a special added token (dropped when decoding with `skipSpecialTokens`).
    public func isSpecial(_ id: Int32) -> Bool { specialIDs.contains(id) }

    // MARK: Encoding

    /// The ids of `text`.
    public func encode(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(utf8: $0) }
    }

    /// The ids of UTF-8 text (which must be valid, as a `String`'s is).
    func encode(utf8 text: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var ids = prefixIDs
        ids.reserveCapacity(prefixIDs.count + text.count / 3)
        var cache = WordCache()
        func encodeSegments(_ segments: [Segment], of text: UnsafeBufferPointer<UInt8>) {
            for segment in segments {
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    let piece = UnsafeBufferPointer(rebasing: text[range])
                    if addPrefixSpace && piece.first != 0x20 {
                        ([0x20] + piece).withUnsafeBufferPointer { encodePiece($0, into: &ids, cache: &cache) }
                    } else {
                        encodePiece(piece, into: &ids, cache: &cache)
                    }
                }
            }
        }
        guard normalizesNFC else {
            encodeSegments(splitter.split(text), of: text)
            return ids
        }
        // Hugging Face's order: the tokens that are not normalized are found in the text as
        // given; the text between them is normalized, then split on the normalized tokens.
        for segment in splitter.split(text, passes: .unnormalized) {
            guard case .text(let range) = segment else {
                encodeSegments([segment], of: text)
                continue
            }
            var normalized = nfc(String(decoding: UnsafeBufferPointer(rebasing: text[range]), as: UTF8.self))
            normalized.withUTF8 { encodeSegments(splitter.split($0, passes: .normalized), of: $0) }
        }
        return ids
    }

    /// Encodes text between added tokens.
    private func encodePiece(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], cache: inout WordCache) {
        guard splitsWords else {
            model.tokenize(piece, into: &ids)
            return
        }
        PreTokenizer.forEachWord(in: piece) { range in
            cache.tokenize(UnsafeBufferPointer(rebasing: piece[range]), with: model, into: &ids)
        }
    }

    // MARK: Decoding

    /// The bytes the ids stand for, concatenated. Each token's text is turned back into bytes
    /// through the byte-level map; a token whose text is not made of those characters (an
    /// added token with a real space, say) gives its text's UTF-8, as Hugging Face's ByteLevel
    /// decoder does. An id that is no token is an error (Hugging Face would skip it silently).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) throws(TokenizerError) -> [UInt8] {
        var bytes: [UInt8] = []
        for (index, id) in ids.enumerated() {
            guard let tokenBytes = bytesByID[id] else {
                throw TokenizerError(file: nil, "no token has id \(id) (ids[\(index)]; the tokenizer has \(count) ids)")
            }
            if skipSpecialTokens && specialIDs.contains(id) { continue }
            bytes.append(contentsOf: tokenBytes)
        }
        return bytes
    }

    /// The text the ids stand for: `decode(_:)`'s bytes with each ill-formed UTF-8 part
    /// replaced by U+FFFD, as Hugging Face's `decode` does.
    public func decodeText(_ ids: [Int32], skipSpecialTokens: Bool = false) throws(TokenizerError) -> String {
        UTF8Repair.string(try decode(ids, skipSpecialTokens: skipSpecialTokens))
    }

    /// A decoder for ids that arrive one at a time, which never returns part of a character.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}

/// The ids of words seen before in the same call to `encode`: text repeats its words, and
/// merging costs more than a look-up. Kept per call so that the tokenizer stays an immutable
/// value that threads can share without a lock.
struct WordCache {
    /// Longer words are merged each time: they rarely repeat, and their keys cost memory.
    static let maxWordLength = 256
    private var idsByWord: [[UInt8]: [Int32]] = [:]

    mutating func tokenize(_ word: UnsafeBufferPointer<UInt8>, with model: BytePairModel, into ids: inout [Int32]) {
        guard word.count <= WordCache.maxWordLength else {
            model.tokenize(word, into: &ids)
            return
        }
        let key = Array(word)
        if let cached = idsByWord[key] {
            ids.append(contentsOf: cached)
            return
        }
        var wordIDs: [Int32] = []
        model.tokenize(word, into: &wordIDs)
        idsByWord[key] = wordIDs
        ids.append(contentsOf: wordIDs)
    }
}
