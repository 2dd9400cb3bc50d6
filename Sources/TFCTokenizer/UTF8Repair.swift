// Bytes to text when the bytes may not be valid UTF-8: a token can end in the middle of a
// character, and a model can emit any sequence of tokens.

/// UTF-8 decoding that replaces each ill-formed part with U+FFFD the way Python's
/// `bytes.decode("utf-8", errors="replace")` and Rust's `String::from_utf8_lossy` do (Unicode's
/// "maximal subpart" practice, chapter 3): a byte that cannot start a character is one U+FFFD;
/// a start followed by fewer valid continuation bytes than it needs is one U+FFFD for the start
/// and those continuations, and decoding resumes at the byte that broke the sequence.
enum UTF8Repair {
    /// The replacement character's encoding.
    static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// What one position of the input holds.
    private enum Unit {
        /// A well-formed character of this many bytes.
        case character(Int)
        /// An ill-formed part of this many bytes (one U+FFFD).
        case illFormed(Int)
        /// A well-formed beginning of a character that the input ends inside of.
        case truncated
    }

    /// The text of `bytes`, each ill-formed part replaced.
    static func string(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        _ = decode(bytes, into: &text, atEnd: true)
        return String(decoding: text, as: UTF8.self)
    }

    /// The text of `bytes` if they are well-formed UTF-8, else nil.
    static func validated(_ bytes: [UInt8]) -> String? {
        var position = 0
        while position < bytes.count {
            guard case .character(let length) = unit(at: position, in: bytes) else { return nil }
            position += length
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the valid UTF-8 for `bytes` to `text` and returns how many bytes it consumed.
    /// Unless `atEnd`, a character the input ends inside of is left unconsumed (more bytes may
    /// complete it); at the end it is ill-formed.
    static func decode(_ bytes: [UInt8], into text: inout [UInt8], atEnd: Bool) -> Int {
        var position = 0
        while position < bytes.count {
            switch unit(at: position, in: bytes) {
            case .character(let length):
                text.append(contentsOf: bytes[position..<(position + length)])
                position += length
            case .illFormed(let length):
                text.append(contentsOf: replacement)
                position += length
            case .truncated:
                guard atEnd else { return position }
                text.append(contentsOf: replacement)
                position = bytes.count
            }
        }
        return position
    }

    /// Unicode's table of well-formed byte sequences (Table 3-7): the length a lead byte
    /// announces and the range its second byte must fall in; later bytes are 80...BF.
    private static func unit(at start: Int, in bytes: [UInt8]) -> Unit {
        let lead = bytes[start]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0x00...0x7F: return .character(1)
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return .illFormed(1)
        }
        for offset in 1..<length {
            guard start + offset < bytes.count else { return .truncated }
            let byte = bytes[start + offset]
            guard offset == 1 ? secondRange.contains(byte) : (0x80...0xBF).contains(byte) else {
                return .illFormed(offset)
            }
        }
        return .character(length)
    }
}

/// Turns ids into text as a model generates them, one id at a time: each step returns the
/// characters that are complete so far and holds back the bytes of a character that later
/// tokens may complete. Concatenated, the returned strings (with `finish()`'s) equal
/// `decodeText` of all the ids.
public struct StreamingDecoder: Sendable {
    private let tokenizer: BPETokenizer
    private let skipSpecialTokens: Bool
    /// The bytes of an unfinished character.
    private var pending: [UInt8] = []

    init(tokenizer: BPETokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id and returns the text it completes (often empty inside a multi-byte
    /// character). An unknown id is an error and changes nothing.
    public mutating func append(_ id: Int32) throws(TokenizerError) -> String {
        try append(contentsOf: [id])
    }

    /// Adds several ids at once; see `append(_:)`.
    public mutating func append(contentsOf ids: [Int32]) throws(TokenizerError) -> String {
        let bytes = try tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        pending.append(contentsOf: bytes)
        var text: [UInt8] = []
        let consumed = UTF8Repair.decode(pending, into: &text, atEnd: false)
        pending.removeFirst(consumed)
        return String(decoding: text, as: UTF8.self)
    }

    /// The text of whatever is still held back (an unfinished character becomes U+FFFD), and a
    /// fresh start for the next ids.
    public mutating func finish() -> String {
        defer { pending = [] }
        return UTF8Repair.string(pending)
    }
}
