// Errors as values with a source location, rendered the way swiftc prints them:
//   model.tir:12:5: error: unknown op 'lnorm'
//       %x = lnorm(%a) : f32[T, 64]
//            ^

public enum Severity: String, Sendable {
    case error, warning, note, remark
}

public struct Diagnostic: Error, Sendable, CustomStringConvertible {
    public var severity: Severity
    /// The file the location refers to (a `.tir`, a weights file, ...), as given by the user.
    public var file: String
    /// nil when the problem has no place inside the file (e.g. the file does not exist).
    public var loc: SourceLoc?
    public var message: String
    /// Follow-up notes, e.g. where a value was declared.
    public var notes: [Diagnostic]

    public init(_ severity: Severity = .error, file: String, loc: SourceLoc?, _ message: String,
                notes: [Diagnostic] = []) {
        self.severity = severity
        self.file = file
        self.loc = loc
        self.message = message
        self.notes = notes
    }

    /// `file:line:col: error: message` (no source excerpt).
    public var description: String {
        var head = file
        if let loc, loc.line > 0 { head += ":\(loc.line):\(loc.column)" }
        return "\(head): \(severity.rawValue): \(message)"
    }

    /// The full rendering: the headline, the source line and a caret under the column, then
    /// each note the same way. `source` is the text of `file` when it is available.
    public func rendered(source: String?) -> String {
        var out = description
        if let loc, loc.line > 0, let source, let line = Diagnostic.line(loc.line, of: source) {
            out += "\n" + line
            let prefix = line.prefix(max(0, loc.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out += "\n" + prefix + "^"
        }
        for note in notes {
            out += "\n" + note.rendered(source: note.file == file ? source : nil)
        }
        return out
    }

    /// Line `n` (1-based) of `source`, without its line break. Scans bytes only up to that line.
    static func line(_ n: Int, of source: String) -> String? {
        let bytes = source.utf8
        var start = bytes.startIndex
        var current = 1
        while current < n {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            start = bytes.index(after: newline)
            current += 1
        }
        let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        var line = Substring(source.utf8[start..<end])
        if line.hasSuffix("\r") { line = line.dropLast() }
        return String(line)
    }
}

/// Collects diagnostics, keeping the first `DiagnosticList.limit` and only counting the rest, so
/// that a file of garbage costs memory for what is shown, not for every error in it.
public struct DiagnosticSink: Sendable {
    public private(set) var kept: [Diagnostic] = []
    public private(set) var omitted = 0

    public init() {}

    public mutating func append(_ d: Diagnostic) {
        if kept.count < DiagnosticList.limit { kept.append(d) } else { omitted += 1 }
    }

    public var isEmpty: Bool { kept.isEmpty }
}

/// Several diagnostics at once (the verifier reports every problem it finds).
public struct DiagnosticList: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    /// At most this many diagnostics are kept; the rest are counted in a final note.
    public static let limit = 50

    /// `omitted`: errors counted but not kept (a DiagnosticSink's); `stoppedEarly`: the reader
    /// gave up at the limit, so the rest of the input was not read and its errors cannot be
    /// counted. `omitted` then counts only those found before it stopped (the reader stops
    /// between items, and the item that crossed the limit may have had several).
    public init(_ diagnostics: [Diagnostic], omitted: Int = 0, stoppedEarly: Bool = false) {
        let more = max(0, diagnostics.count - Self.limit) + omitted
        self.diagnostics = Array(diagnostics.prefix(Self.limit))
        guard let first = diagnostics.first else { return }
        if stoppedEarly {
            let counted = more > 0 ? " (and \(more) more not shown)" : ""
            self.diagnostics.append(Diagnostic(.note, file: first.file, loc: nil,
                                               "too many errors: stopped after the first \(Self.limit)\(counted); the rest of the file was not read"))
        } else if more > 0 {
            self.diagnostics.append(Diagnostic(.note, file: first.file, loc: nil, "\(more) more errors not shown"))
        }
    }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }

    public func rendered(source: String?) -> String {
        diagnostics.map { $0.rendered(source: source) }.joined(separator: "\n")
    }
}
