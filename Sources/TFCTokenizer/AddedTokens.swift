// Added tokens (`<|endoftext|>` and the like): found in the text before anything else, so that
// they become their own ids instead of being cut into words and bytes.

/// A token matched in the text as a whole, as Hugging Face's `AddedToken` describes it.
public struct AddedToken: Sendable, Equatable {
    public var id: Int32
    /// The exact text that stands for the token.
    public var content: String
    /// Special tokens are dropped by `decode(_:skipSpecialTokens: true)`.
    public var special: Bool
    /// Matches only where the text before and after is not a word character.
    public var singleWord: Bool
    /// Also takes the whitespace before it.
    public var lstrip: Bool
    /// Also takes the whitespace after it.
    public var rstrip: Bool
    /// Hugging Face matches "normalized" tokens after the others, in the text the others left,
    /// once that text is normalized (with a normalizer, NFC, their own text is normalized too).
    public var normalized: Bool

    public init(id: Int32, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}

/// A piece of the input after added tokens are split out: text still to tokenize, or a token.
enum Segment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// Splits text on added tokens the way Hugging Face's `AddedVocabulary` does: first the tokens
/// that are not "normalized", then the normalized ones in the text between; in each pass the
/// leftmost match wins, the longest among those starting at the same place, and matches do not
/// overlap. A match that `singleWord` rejects still hides the matches it overlaps, as in
/// Hugging Face's matcher.
struct AddedTokenSplitter: Sendable {
    /// The tokens that are not "normalized", and those that are.
    private let unnormalized: TokenTrie?
    private let normalized: TokenTrie?

    /// Which tokens a split looks for: both kinds (with no normalizer), or one.
    enum Passes { case all, unnormalized, normalized }

    init(_ tokens: [AddedToken]) {
        func trie(_ normalized: Bool) -> TokenTrie? {
            let group = tokens.filter { $0.normalized == normalized && !$0.content.isEmpty }
            return group.isEmpty ? nil : TokenTrie(group)
        }
        unnormalized = trie(false)
        normalized = trie(true)
    }

    func split(_ text: UnsafeBufferPointer<UInt8>, passes: Passes = .all) -> [Segment] {
        var segments: [Segment] = [.text(0..<text.count)]
        let tries: [TokenTrie?] = switch passes {
        case .all: [unnormalized, normalized]
        case .unnormalized: [unnormalized]
        case .normalized: [normalized]
        }
        for trie in tries.compactMap({ $0 }) {
            var refined: [Segment] = []
            for segment in segments {
                guard case .text(let range) = segment else {
                    refined.append(segment)
                    continue
                }
                trie.split(text, range, into: &refined)
            }
            segments = refined
        }
        return segments
    }
}

/// A byte trie over one pass's tokens.
private struct TokenTrie: Sendable {
    private struct Token: Sendable {
        var id: Int32
        var singleWord: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    private var tokens: [Token] = []
    /// Node * 256 + byte  ->  child node; the root is node 0.
    private var children: [Int: Int] = [:]
    /// Node  ->  index in `tokens` of the token that ends there.
    private var terminals: [Int: Int] = [:]
    private var nodeCount = 1

    init(_ addedTokens: [AddedToken]) {
        for token in addedTokens {
            var node = 0
            for byte in token.content.utf8 {
                let key = node << 8 | Int(byte)
                if let child = children[key] {
                    node = child
                } else {
                    children[key] = nodeCount
                    node = nodeCount
                    nodeCount += 1
                }
            }
            terminals[node] = tokens.count
            tokens.append(Token(id: token.id, singleWord: token.singleWord, lstrip: token.lstrip, rstrip: token.rstrip))
        }
    }

    /// The longest token starting at `start` and ending by `end`: its end and index.
    private func longestMatch(at start: Int, before end: Int, in text: UnsafeBufferPointer<UInt8>) -> (end: Int, token: Int)? {
        var node = 0
        var found: (end: Int, token: Int)?
        var position = start
        while position < end, let child = children[node << 8 | Int(text[position])] {
            node = child
            position += 1
            if let token = terminals[node] { found = (position, token) }
        }
        return found
    }

    /// Appends the pieces of `text[range]` to `segments`: text between matches, and the matches
    /// (widened over whitespace for lstrip and rstrip).
    func split(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into segments: inout [Segment]) {
        var textStart = range.lowerBound
        var position = range.lowerBound
        while position < range.upperBound {
            guard let match = longestMatch(at: position, before: range.upperBound, in: text) else {
                position += 1
                continue
            }
            let token = tokens[match.token]
            var start = position
            var stop = match.end
            position = match.end
            if token.singleWord {
                let wordBefore = start > range.lowerBound
                    && TextScan.isWordCharacter(TextScan.lastScalar(in: text, range.lowerBound..<start))
                let wordAfter = stop < range.upperBound
                    && TextScan.isWordCharacter(TextScan.firstScalar(in: text, stop..<range.upperBound))
                if wordBefore || wordAfter { continue }
            }
            if token.lstrip {
                start = max(TextScan.trailingWhitespaceStart(in: text, range.lowerBound..<start), textStart)
            }
            if token.rstrip {
                stop = TextScan.leadingWhitespaceEnd(in: text, stop..<range.upperBound)
            }
            if textStart < start { segments.append(.text(textStart..<start)) }
            segments.append(.token(token.id))
            textStart = stop
        }
        if textStart < range.upperBound { segments.append(.text(textStart..<range.upperBound)) }
    }
}

/// Scalar-level looks around a match, with the classes of Rust's `regex` crate, which Hugging
/// Face uses for these options: `\s` is White_Space, `\w` is Alphabetic, marks, decimal
/// numbers, connector punctuation and the joiners.
enum TextScan {
    static func isWordCharacter(_ value: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(value), let age = scalar.properties.age,
              (age.major, age.minor) <= ScalarClass.unicodeVersion else { return false }
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static func firstScalar(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt32 {
        PreTokenizer.decodeScalar(at: range.lowerBound, in: text).value
    }

    static func lastScalar(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt32 {
        PreTokenizer.decodeScalar(at: lastScalarStart(in: text, before: range.upperBound), in: text).value
    }

    /// Where the whitespace that ends `text[range]` begins (`range.upperBound` if there is none).
    static func trailingWhitespaceStart(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        var start = range.upperBound
        while start > range.lowerBound {
            let previous = lastScalarStart(in: text, before: start)
            guard ScalarClass.isWhitespace(PreTokenizer.decodeScalar(at: previous, in: text).value) else { break }
            start = previous
        }
        return start
    }

    /// Where the whitespace that starts `text[range]` ends.
    static func leadingWhitespaceEnd(in text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        var end = range.lowerBound
        while end < range.upperBound {
            let (value, length) = PreTokenizer.decodeScalar(at: end, in: text)
            guard ScalarClass.isWhitespace(value) else { break }
            end += length
        }
        return end
    }

    /// The start of the scalar that ends just before `index`.
    private static func lastScalarStart(in text: UnsafeBufferPointer<UInt8>, before index: Int) -> Int {
        var start = index - 1
        while text[start] & 0xC0 == 0x80 { start -= 1 }
        return start
    }
}
