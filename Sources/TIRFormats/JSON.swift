// A small strict JSON reader and writer, used for safetensors headers.
// (Over 400 lines: the value type and its parser share this file so that the parser stays private.)
//
// Hand-written rather than Foundation's JSONSerialization so that errors carry exact byte
// offsets, integers stay exact up to UInt64.max (numbers keep their source text), objects keep
// their key order, and hostile input is bounded: nesting is limited to `JSONValue.maxDepth`,
// so a header of a million '[' fails cleanly instead of overflowing the stack.

/// A parsed JSON value.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text exactly as written (validated against the JSON grammar), so that
    /// no precision is lost before the caller decides what type it wants.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// Arrays and objects nested deeper than this are rejected.
    public static let maxDepth = 64

    /// Parses one JSON value from UTF-8 bytes; surrounding whitespace is allowed, anything
    /// else after the value is an error. Duplicate object keys are an error.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The number as an exact non-negative integer: nil for fractions, exponents, negative
    /// numbers and values above UInt64.max.
    public var uint64Value: UInt64? {
        if case .number(let text) = self { return UInt64(text) }
        return nil
    }

    /// The number as an exact Int: nil for fractions, exponents and values out of range.
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// Compact JSON text (no whitespace), as serde_json and Python's json.dumps(separators=...)
    /// write it. Strings are escaped minimally; non-ASCII characters are written as UTF-8.
    public func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (i, pair) in object.pairs.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(pair.key, to: &out)
                out += ":"
                pair.value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

/// A JSON object: key/value pairs in the order they were written.
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public var pairs: [(key: String, value: JSONValue)]

    public init(_ pairs: [(key: String, value: JSONValue)] = []) { self.pairs = pairs }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.pairs = elements.map { (key: $0.0, value: $0.1) }
    }

    public var keys: [String] { pairs.map(\.key) }

    /// The value of the first pair with this key (parsed objects have no duplicates).
    public subscript(key: String) -> JSONValue? { pairs.first { $0.key == key }?.value }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// A syntax error: what was expected, and the byte offset (0-based) where it went wrong.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String

    public init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }
}

/// Recursive descent over the bytes; recursion is bounded by `JSONValue.maxDepth`.
private struct JSONParser {
    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private func error(_ message: String, at offset: Int? = nil) -> JSONError {
        JSONError(offset: offset ?? pos, message)
    }

    /// What the byte at the current position is, for "unexpected ..." messages.
    private var found: String {
        guard let b = peek else { return "end of input" }
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte 0x" + String(b, radix: 16, uppercase: true)
    }

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard pos == bytes.count else { throw error("unexpected \(found) after the JSON value") }
        return value
    }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        skipWhitespace()
        guard let b = peek else { throw error("expected a value, found end of input") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default:
            // A file that does not start as JSON may not be JSON at all (a link to some other
            // file): say so without echoing its content.
            if depth == 0 { throw error("not JSON: the text does not start with a JSON value") }
            throw error("expected a value, found \(found)")
        }
    }

    private mutating func expectWord(_ word: String) throws(JSONError) {
        let start = pos
        for expected in word.utf8 {
            guard peek == expected else { throw error("invalid literal (expected '\(word)')", at: start) }
            pos += 1
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSONValue.maxDepth else { throw error("nesting deeper than \(JSONValue.maxDepth) levels") }
        pos += 1  // '{'
        var pairs: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            pos += 1
            return .object(JSONObject(pairs))
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key, found \(found)") }
            let keyOffset = pos
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw error("duplicate key \(JSONValue.string(key).serialized())", at: keyOffset)
            }
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after an object key, found \(found)") }
            pos += 1
            let value = try parseValue(depth: depth)
            pairs.append((key: key, value: value))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "}"): pos += 1; return .object(JSONObject(pairs))
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= JSONValue.maxDepth else { throw error("nesting deeper than \(JSONValue.maxDepth) levels") }
        pos += 1  // '['
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            pos += 1
            return .array(items)
        }
        while true {
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1
            case UInt8(ascii: "]"): pos += 1; return .array(items)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    private mutating func parseNumber() throws(JSONError) -> String {
        let start = pos
        if peek == UInt8(ascii: "-") { pos += 1 }
        if peek == UInt8(ascii: "0") {
            pos += 1
        } else if isDigit(peek) {
            skipDigits()
        } else {
            throw error("expected a digit, found \(found)")
        }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard isDigit(peek) else { throw error("expected a digit after '.', found \(found)") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(peek) else { throw error("expected a digit in the exponent, found \(found)") }
            skipDigits()
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private func isDigit(_ b: UInt8?) -> Bool {
        guard let b else { return false }
        return b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while isDigit(peek) { pos += 1 }
    }

    /// A string literal; raw bytes must be valid UTF-8 and escapes valid JSON escapes.
    private mutating func parseString() throws(JSONError) -> String {
        pos += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        while true {
            guard let b = peek else { throw error("unterminated string") }
            switch b {
            case UInt8(ascii: "\""):
                pos += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                scalars.append(try parseEscape())
            case 0..<0x20:
                throw error("unescaped control character in string")
            case 0x20..<0x80:
                scalars.append(Unicode.Scalar(b))
                pos += 1
            default:
                scalars.append(try decodeUTF8Scalar())
            }
        }
    }

    private mutating func parseEscape() throws(JSONError) -> Unicode.Scalar {
        let start = pos
        pos += 1  // backslash
        guard let b = peek else { throw error("unterminated string") }
        pos += 1
        switch b {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            switch unit {
            case 0xD800..<0xDC00:
                // A high surrogate must be followed by an escaped low surrogate.
                guard peek == UInt8(ascii: "\\"), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "u") else {
                    throw error("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: start)
                }
                pos += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    throw error("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: start)
                }
                let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                guard let scalar = Unicode.Scalar(value) else { throw error("invalid escape", at: start) }
                return scalar
            case 0xDC00..<0xE000:
                throw error("unpaired surrogate \\u\(String(unit, radix: 16, uppercase: true))", at: start)
            default:
                guard let scalar = Unicode.Scalar(unit) else { throw error("invalid escape", at: start) }
                return scalar
            }
        default:
            throw error("invalid escape '\\\(Character(Unicode.Scalar(b)))'", at: start)
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek, let digit = hexValue(b) else { throw error("expected 4 hex digits after \\u") }
            value = value << 4 | digit
            pos += 1
        }
        return value
    }

    private func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// One multi-byte UTF-8 sequence, validated per RFC 3629 (no overlongs, no surrogates,
    /// nothing above U+10FFFF).
    private mutating func decodeUTF8Scalar() throws(JSONError) -> Unicode.Scalar {
        let start = pos
        let lead = bytes[pos]
        let length: Int
        var value: UInt32
        // The allowed range of the second byte depends on the lead byte.
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2; value = UInt32(lead & 0x1F)
        case 0xE0: length = 3; value = 0; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3; value = UInt32(lead & 0x0F)
        case 0xED: length = 3; value = 0x0D; secondRange = 0x80...0x9F
        case 0xF0: length = 4; value = 0; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4; value = UInt32(lead & 0x07)
        case 0xF4: length = 4; value = 4; secondRange = 0x80...0x8F
        default: throw error("invalid UTF-8", at: start)
        }
        for i in 1..<length {
            let index = start + i
            guard index < bytes.count else { throw error("invalid UTF-8", at: start) }
            let b = bytes[index]
            guard i == 1 ? secondRange.contains(b) : (0x80...0xBF).contains(b) else {
                throw error("invalid UTF-8", at: start)
            }
            value = value << 6 | UInt32(b & 0x3F)
        }
        pos = start + length
        guard let scalar = Unicode.Scalar(value) else { throw error("invalid UTF-8", at: start) }
        return scalar
    }
}
