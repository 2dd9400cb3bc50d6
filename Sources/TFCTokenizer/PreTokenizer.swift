// GPT-2's pre-tokenization: the text is cut into words before BPE runs on each word, by the
// regular expression
//
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Hugging Face's tokenizers library runs it with Oniguruma. This file matches it with a
// hand-written scanner over UTF-8 rather than Swift's Regex, for two reasons. Exactness: what
// counts as a letter, a number or whitespace must be Oniguruma's answer for every scalar, which
// `ScalarClass` pins down (Swift's own tables are newer; see `unicodeVersion`), while a regex
// engine brings its own tables and its own \s. Speed: the scanner looks at each byte about
// once, without backtracking, and classifies most scalars with one table load.

/// What the expression's character classes make of a scalar.
enum ScalarClass: UInt8 {
    /// `[^\s\p{L}\p{N}]`: punctuation, symbols, marks, controls, unassigned scalars.
    case other
    /// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo.
    case letter
    /// `\p{N}`: general category Nd, Nl or No.
    case number
    /// `\s`: the Unicode White_Space property.
    case whitespace

    /// The Unicode version of the tables the reference tokenizer classifies with (Oniguruma's,
    /// as built into Hugging Face tokenizers 0.23). Scalars assigned in later versions are
    /// unassigned there, so `other`; Swift's tables know them, and would call some letters.
    static let unicodeVersion = (major: 16, minor: 0)

    /// The class of the scalar with this value (surrogate values, which never occur in text,
    /// are `other`).
    @inline(__always)
    static func of(_ value: UInt32) -> ScalarClass {
        value < 0x10000 ? basicPlane[Int(value)] : computed(value)
    }

    /// Classes of U+0000...U+FFFF, computed once: nearly all text stays in this plane.
    private static let basicPlane: [ScalarClass] = (0..<0x10000).map { computed(UInt32($0)) }

    private static func computed(_ value: UInt32) -> ScalarClass {
        if isWhitespace(value) { return .whitespace }
        guard let scalar = Unicode.Scalar(value), let age = scalar.properties.age,
              (age.major, age.minor) <= unicodeVersion else { return .other }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The White_Space property, which both Oniguruma and Python's `regex` use for `\s`: tab,
    /// LF, VT, FF, CR, space, NEL, NBSP, ogham space, the en quad...hair space block, line and
    /// paragraph separators, narrow NBSP, medium mathematical space and the ideographic space.
    /// (Zero-width space U+200B and BOM U+FEFF are not whitespace.) The property has been
    /// stable since Unicode 6.3.
    static func isWhitespace(_ value: UInt32) -> Bool {
        switch value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}

enum PreTokenizer {
    /// Calls `body` with the byte range of each word of `text` (valid UTF-8), in order; the
    /// ranges cover the text without gaps, as every scalar matches some alternative.
    static func forEachWord(in text: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        var start = 0
        while start < text.count {
            let end = wordEnd(from: start, in: text)
            body(start..<end)
            start = end
        }
    }

    /// Where the word that starts at `start` ends: the alternatives tried in the expression's
    /// order, as a backtracking engine would, each reduced to a scan.
    static func wordEnd(from start: Int, in text: UnsafeBufferPointer<UInt8>) -> Int {
        let first = text[start]
        // 's 't 're 've 'm 'll 'd: lowercase and ASCII only, so "'S" is no contraction.
        if first == UInt8(ascii: "'"), let length = contractionLength(after: start, in: text) {
            return start + length
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional U+0020, then a run of one class.
        // The space joins only a scalar that is not whitespace; otherwise it falls to the
        // whitespace alternatives below.
        var classStart = start
        if first == 0x20, start + 1 < text.count { classStart = start + 1 }
        let (value, length) = decodeScalar(at: classStart, in: text)
        let scalarClass = ScalarClass.of(value)
        if scalarClass != .whitespace {
            return runEnd(of: scalarClass, from: classStart + length, in: text)
        }
        // `\s+(?!\S)|\s+`: a run of whitespace. Before a non-whitespace scalar it gives back its
        // last scalar (which, when it is a space, starts the next word), unless that would leave
        // it empty; at the end of the text it takes the whole run.
        var lastStart = start
        var position = start
        while position < text.count {
            let (value, length) = decodeScalar(at: position, in: text)
            guard ScalarClass.of(value) == .whitespace else { break }
            lastStart = position
            position += length
        }
        if position == text.count || lastStart == start { return position }
        return lastStart
    }

    /// The length of the contraction starting at the apostrophe at `start`, if there is one.
    private static func contractionLength(after start: Int, in text: UnsafeBufferPointer<UInt8>) -> Int? {
        guard start + 1 < text.count else { return nil }
        switch text[start + 1] {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            return start + 2 < text.count && text[start + 2] == UInt8(ascii: "e") ? 3 : nil
        case UInt8(ascii: "l"):
            return start + 2 < text.count && text[start + 2] == UInt8(ascii: "l") ? 3 : nil
        default:
            return nil
        }
    }

    /// The end of the run of scalars of `scalarClass` that continues at `position`.
    private static func runEnd(of scalarClass: ScalarClass, from position: Int, in text: UnsafeBufferPointer<UInt8>) -> Int {
        var position = position
        while position < text.count {
            let (value, length) = decodeScalar(at: position, in: text)
            guard ScalarClass.of(value) == scalarClass else { break }
            position += length
        }
        return position
    }

    /// The scalar value and length of the UTF-8 sequence at `index`; `text` must be valid UTF-8.
    @inline(__always)
    static func decodeScalar(at index: Int, in text: UnsafeBufferPointer<UInt8>) -> (value: UInt32, length: Int) {
        let lead = UInt32(text[index])
        if lead < 0x80 { return (lead, 1) }
        let second = UInt32(text[index + 1] & 0x3F)
        if lead < 0xE0 { return ((lead & 0x1F) << 6 | second, 2) }
        let third = UInt32(text[index + 2] & 0x3F)
        if lead < 0xF0 { return ((lead & 0x0F) << 12 | second << 6 | third, 3) }
        let fourth = UInt32(text[index + 3] & 0x3F)
        return ((lead & 0x07) << 18 | second << 12 | third << 6 | fourth, 4)
    }
}
