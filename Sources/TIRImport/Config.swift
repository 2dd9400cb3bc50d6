// Reads a checkpoint's config.json: typed look-ups of top-level keys whose errors point at the key.
import TIR
import TIRFormats

/// The top-level object of a `config.json`, with the place of every top-level key so that a
/// refused option is reported at its line and column.
struct Config {
    /// The path diagnostics name.
    let path: String
    let object: JSONObject
    private let keyLocations: [String: SourceLoc]

    init(path: String, bytes: [UInt8]) throws(Diagnostic) {
        self.path = path
        let json: JSONValue
        do throws(JSONError) {
            json = try JSONValue.parse(bytes)
        } catch {
            throw Diagnostic(file: path, loc: Config.location(ofByte: error.offset, in: bytes),
                             "invalid JSON: \(error.message)")
        }
        guard case .object(let object) = json else {
            throw Diagnostic(file: path, loc: nil, "expected a JSON object at the top level")
        }
        self.object = object
        keyLocations = Config.topLevelKeyLocations(bytes)
    }

    func location(of key: String) -> SourceLoc? { keyLocations[key] }

    func error(_ message: String, at key: String? = nil) -> Diagnostic {
        Diagnostic(file: path, loc: key.flatMap { location(of: $0) }, message)
    }

    /// The value of the first of `keys` present (transformers accepts aliases such as
    /// `hidden_size` for GPT-2's `n_embd`), with the key that held it. `null` counts as absent.
    func lookup(_ keys: [String]) -> (key: String, value: JSONValue)? {
        for key in keys {
            if let value = object[key], value != .null { return (key, value) }
        }
        return nil
    }

    func has(_ key: String) -> Bool { lookup([key]) != nil }

    // MARK: Typed values

    /// A required positive integer.
    func positiveInt(_ key: String, aliases: [String] = []) throws(Diagnostic) -> Int {
        guard let (found, value) = lookup([key] + aliases) else { throw error("missing required key '\(key)'") }
        return try positiveInt(found, value)
    }

    /// An optional positive integer: nil when absent or null.
    func optionalPositiveInt(_ key: String) throws(Diagnostic) -> Int? {
        guard let (found, value) = lookup([key]) else { return nil }
        return try positiveInt(found, value)
    }

    /// The largest size accepted from a config: products of three such sizes (channels * p * p,
    /// a patch grid) still fit in an Int, and no real checkpoint comes near it.
    static let maxSize = 1 << 20

    private func positiveInt(_ key: String, _ value: JSONValue) throws(Diagnostic) -> Int {
        guard let n = value.intValue else {
            throw error("'\(key)' must be an integer, got \(value.serialized())", at: key)
        }
        guard n > 0 else { throw error("'\(key)' must be positive, got \(n)", at: key) }
        guard n <= Self.maxSize else {
            throw error("'\(key)' is \(n); sizes above \(Self.maxSize) are not supported", at: key)
        }
        return n
    }

    /// An integer, or a list of `count` integers (`image_size: 224` or `[224, 320]`).
    func positiveInts(_ key: String, count: Int) throws(Diagnostic) -> [Int] {
        guard let (found, value) = lookup([key]) else { throw error("missing required key '\(key)'") }
        if case .array(let items) = value {
            guard items.count == count else {
                throw error("'\(found)' must be an integer or a list of \(count) integers, got \(value.serialized())",
                            at: found)
            }
            var result: [Int] = []
            for item in items { result.append(try positiveInt(found, item)) }
            return result
        }
        return Array(repeating: try positiveInt(found, value), count: count)
    }

    /// A positive float (an epsilon), or `defaultValue` when absent.
    func positiveDouble(_ key: String, default defaultValue: Double) throws(Diagnostic) -> Double {
        guard let (found, value) = lookup([key]) else { return defaultValue }
        guard let x = value.doubleValue, x.isFinite else {
            throw error("'\(found)' must be a number, got \(value.serialized())", at: found)
        }
        // TIR's norms need eps > 0 (an eps of 0 divides by zero on a constant row).
        guard x > 0 else { throw error("'\(found)' must be positive, got \(value.serialized())", at: found) }
        return x
    }

    func bool(_ key: String, default defaultValue: Bool) throws(Diagnostic) -> Bool {
        guard let (found, value) = lookup([key]) else { return defaultValue }
        guard let b = value.boolValue else {
            throw error("'\(found)' must be true or false, got \(value.serialized())", at: found)
        }
        return b
    }

    func string(_ key: String, default defaultValue: String? = nil) throws(Diagnostic) -> String {
        guard let (found, value) = lookup([key]) else {
            if let defaultValue { return defaultValue }
            throw error("missing required key '\(key)'")
        }
        guard let s = value.stringValue else {
            throw error("'\(found)' must be a string, got \(value.serialized())", at: found)
        }
        return s
    }

    /// `architectures[0]`: the class that saved the checkpoint, which decides the outputs.
    func architecture(supported: [String]) throws(Diagnostic) -> String {
        let list = supported.joined(separator: ", ")
        guard let (_, value) = lookup(["architectures"]) else {
            throw error("missing required key 'architectures' (expected one of: \(list))")
        }
        guard let items = value.arrayValue, let first = items.first?.stringValue else {
            throw error("'architectures' must be a non-empty list of class names, got \(value.serialized())",
                        at: "architectures")
        }
        guard supported.contains(first) else {
            throw error("unsupported architecture '\(first)' (supported: \(list))", at: "architectures")
        }
        return first
    }

    // MARK: Locations

    /// 1-based line and column (in characters) of byte `offset`.
    static func location(ofByte offset: Int, in bytes: [UInt8]) -> SourceLoc {
        var line = 1, column = 1
        for b in bytes.prefix(offset) {
            if b == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
                column += 1
            }
        }
        return SourceLoc(line: line, column: column)
    }

    /// Where each key of the top-level object starts (its opening quote). The text has
    /// already been validated, so a small scanner that tracks strings and nesting suffices.
    private static func topLevelKeyLocations(_ bytes: [UInt8]) -> [String: SourceLoc] {
        var result: [String: SourceLoc] = [:]
        var depth = 0
        var i = 0
        var line = 1, column = 1
        /// Moves past one byte, keeping line and column current.
        func advance() {
            if bytes[i] == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        var expectingKey = false
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"):
                depth += 1
                expectingKey = depth == 1
                advance()
            case UInt8(ascii: "["):
                depth += 1
                advance()
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                advance()
            case UInt8(ascii: ","):
                expectingKey = depth == 1
                advance()
            case UInt8(ascii: "\""):
                let start = SourceLoc(line: line, column: column)
                let isKey = expectingKey && depth == 1
                expectingKey = false
                advance()
                var raw: [UInt8] = []
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") {
                        raw.append(bytes[i])
                        advance()
                        guard i < bytes.count else { break }
                    }
                    raw.append(bytes[i])
                    advance()
                }
                if i < bytes.count { advance() }
                // Decode escapes the same way the parser does, so that the key matches.
                let quote = UInt8(ascii: "\"")
                if isKey, case .string(let key)? = try? JSONValue.parse([quote] + raw + [quote]), result[key] == nil {
                    result[key] = start
                }
            default:
                advance()
            }
        }
        return result
    }
}
