// The `.tir` lexer: source text to tokens, one at a time, with 1-based line:column positions
// and lexical errors.

/// One token of `.tir` text. Number tokens keep their text: the parser converts them where
/// it knows the wanted type (Int, UInt64 or Double) and reports overflow at the token.
enum TokenKind: Equatable {
    /// A bare identifier: keywords, op names, dtypes, the sequence symbol, attribute keys/words.
    case word(String)
    /// `%name`
    case valueName(String)
    /// `@name`
    case paramName(String)
    case int(String)
    case float(String)
    /// A string literal, escapes decoded.
    case string(String)
    case lbrace, rbrace, lparen, rparen, lbracket, rbracket, comma, colon, equal, lessEqual
    /// Text the lexer already reported as an error; the parser fails on it without a second message.
    case invalid
    case eof
}

struct Token {
    var kind: TokenKind
    var loc: SourceLoc
    /// True for the first token on its line; the parser resynchronizes at such tokens.
    var startsLine: Bool

    /// How the token is named in "expected X, found Y" messages.
    var description: String {
        switch kind {
        case .word(let w): return "'\(w)'"
        case .valueName(let n): return "'%\(n)'"
        case .paramName(let n): return "'@\(n)'"
        case .int(let t), .float(let t): return "'\(t)'"
        case .string(let s): return "string \(quoteTIRString(s))"
        case .lbrace: return "'{'"
        case .rbrace: return "'}'"
        case .lparen: return "'('"
        case .rparen: return "')'"
        case .lbracket: return "'['"
        case .rbracket: return "']'"
        case .comma: return "','"
        case .colon: return "':'"
        case .equal: return "'='"
        case .lessEqual: return "'<='"
        case .invalid: return "invalid text"
        case .eof: return "end of file"
        }
    }
}

extension Character {
    /// Characters of names after `%`/`@` and of bare words: `[A-Za-z0-9_.]`.
    var isTIRIdentifierChar: Bool {
        guard let a = asciiValue else { return false }
        return (a >= 0x30 && a <= 0x39) || (a >= 0x41 && a <= 0x5A) || (a >= 0x61 && a <= 0x7A)
            || a == 0x5F || a == 0x2E
    }

    var isASCIIDigit: Bool {
        guard let a = asciiValue else { return false }
        return a >= 0x30 && a <= 0x39
    }

    /// A bare word starts with a letter or '_' (a leading digit makes a number).
    var isTIRWordStart: Bool { isTIRIdentifierChar && !isASCIIDigit && self != "." }
}

/// Whether `s` can follow `%` or `@` in `.tir` text.
func isTIRName(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy(\.isTIRIdentifierChar) }

/// Whether `s` lexes as one bare word (the sequence symbol, attribute keys and word values).
func isTIRWord(_ s: String) -> Bool {
    guard let first = s.first else { return false }
    return first.isTIRWordStart && s.allSatisfy(\.isTIRIdentifierChar)
}

/// `"..."` with the escapes the lexer decodes.
func quoteTIRString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?`; `isFloat` when it has a fraction or an exponent.
private func classifyNumber(_ text: Substring) -> (valid: Bool, isFloat: Bool) {
    var i = text.startIndex
    func digits() -> Bool {
        let start = i
        while i < text.endIndex, text[i].isASCIIDigit { i = text.index(after: i) }
        return i > start
    }
    /// Moves past the next character when it is one of `options`.
    func take(_ options: Character...) -> Bool {
        guard i < text.endIndex, options.contains(text[i]) else { return false }
        i = text.index(after: i)
        return true
    }
    _ = take("-")
    guard digits() else { return (false, false) }
    var isFloat = false
    if take(".") {
        guard digits() else { return (false, false) }
        isFloat = true
    }
    if take("e", "E") {
        _ = take("+", "-")
        guard digits() else { return (false, false) }
        isFloat = true
    }
    return (i == text.endIndex, isFloat)
}

/// Hands out the tokens of `.tir` text one at a time, ending with `.eof` (again on every later
/// call). It walks the String by index instead of copying it into an array of Characters (16
/// bytes each) and keeps no tokens, so reading a file costs memory for its text and for what the
/// parser keeps, not for every token in it. Lexical errors go into the sink given to `next` as
/// their token is reached, so they interleave with the parser's in source order.
struct TIRLexer {
    private let source: String
    private let file: String
    /// The next Character to read.
    private var i: String.Index
    // Characters, not bytes or scalars: columns must count what `Diagnostic.rendered`
    // counts when it places the caret.
    private var line = 1
    private var column = 1
    private var lineHasToken = false
    /// The end of the last token: where "expected '}'" at end of file points.
    private var lastTokenEnd = SourceLoc(line: 1, column: 1)

    init(_ source: String, file: String) {
        self.source = source
        self.file = file
        i = source.startIndex
    }

    /// The next token; lexical errors in it are appended to `diagnostics`.
    mutating func next(reporting diagnostics: inout DiagnosticSink) -> Token {
        while let c = char() {
            if isNewlineChar(c) {
                i = source.index(after: i)
                line += 1
                column = 1
                lineHasToken = false
                continue
            }
            // A byte-order mark is whitespace, so that files saved with one still parse.
            if c == " " || c == "\t" || c == "\r" || c == "\u{FEFF}" {
                step()
                continue
            }
            if c == "/", char(1) == "/" {
                while let d = char(), !isNewlineChar(d) { step() }
                continue
            }
            let start = SourceLoc(line: line, column: column)
            let kind = lexToken(at: start, reporting: &diagnostics)
            // Tokens never span lines (an unterminated string stops at the newline).
            lastTokenEnd = SourceLoc(line: line, column: column)
            let token = Token(kind: kind, loc: start, startsLine: !lineHasToken)
            lineHasToken = true
            return token
        }
        return Token(kind: .eof, loc: lastTokenEnd, startsLine: true)
    }

    /// The next Character, or nil at the end.
    private func char() -> Character? { i < source.endIndex ? source[i] : nil }

    /// The Character `offset` places after the next one, or nil past the end.
    private func char(_ offset: Int) -> Character? {
        var j = i
        for _ in 0..<offset {
            guard j < source.endIndex else { return nil }
            j = source.index(after: j)
        }
        return j < source.endIndex ? source[j] : nil
    }

    /// Moves past the next Character, on the current line.
    private mutating func step() {
        i = source.index(after: i)
        column += 1
    }

    /// Moves past `count` Characters of the current line.
    private mutating func step(_ count: Int) {
        for _ in 0..<count { step() }
    }

    /// Lexes the token that starts at the next Character (not whitespace, not a comment).
    private mutating func lexToken(at start: SourceLoc, reporting diagnostics: inout DiagnosticSink) -> TokenKind {
        let startIndex = i
        guard let c = char() else { return .eof }
        func error(_ message: String) {
            diagnostics.append(Diagnostic(file: file, loc: start, message))
        }
        step()
        switch c {
        case "{": return .lbrace
        case "}": return .rbrace
        case "(": return .lparen
        case ")": return .rparen
        case "[": return .lbracket
        case "]": return .rbracket
        case ",": return .comma
        case ":": return .colon
        case "=": return .equal
        case "<" where char() == "=":
            step()
            return .lessEqual
        case "%", "@":
            let nameStart = i
            while let d = char(), d.isTIRIdentifierChar { step() }
            let name = String(source[nameStart..<i])
            if name.isEmpty {
                error("expected a name after '\(c)'")
                return .invalid
            }
            return c == "%" ? .valueName(name) : .paramName(name)
        case "\"":
            return lexString(at: start, reporting: &diagnostics).map(TokenKind.string) ?? .invalid
        default:
            if c.isASCIIDigit || (c == "-" && char()?.isASCIIDigit == true) {
                // Take the whole run of name characters so that `12abc` is one bad literal,
                // not a number followed by a word.
                var previous = c
                while let d = char() {
                    guard d.isTIRIdentifierChar || ((d == "+" || d == "-") && (previous == "e" || previous == "E"))
                    else { break }
                    previous = d
                    step()
                }
                let text = source[startIndex..<i]
                let (valid, isFloat) = classifyNumber(text)
                if valid { return isFloat ? .float(String(text)) : .int(String(text)) }
                error("invalid number literal '\(text)'")
                return .invalid
            }
            if c.isTIRWordStart {
                while let d = char(), d.isTIRIdentifierChar { step() }
                return .word(String(source[startIndex..<i]))
            }
            let shown = c.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F })
                ? "'\(c)'" : "U+" + String(c.unicodeScalars.first?.value ?? 0, radix: 16, uppercase: true)
            error("unexpected character \(shown)")
            return .invalid
        }
    }

    /// Lexes a string literal whose opening quote was just read. Returns the decoded text, or
    /// nil when the literal was invalid (reported). An unterminated one stops at the newline.
    private mutating func lexString(at start: SourceLoc, reporting diagnostics: inout DiagnosticSink) -> String? {
        var out = ""
        var ok = true
        func error(_ message: String) {
            diagnostics.append(Diagnostic(file: file, loc: SourceLoc(line: line, column: column), message))
            ok = false
        }
        while let c = char(), !isNewlineChar(c) {
            if c == "\"" {
                step()
                return ok ? out : nil
            }
            if c != "\\" {
                out.append(c)
                step()
                continue
            }
            let next = char(1)
            switch next {
            case "\"": out.append("\""); step(2)
            case "\\": out.append("\\"); step(2)
            case "n": out.append("\n"); step(2)
            case "t": out.append("\t"); step(2)
            case "r": out.append("\r"); step(2)
            case "u":
                if let escape = unicodeEscape() {
                    out.unicodeScalars.append(escape.scalar)
                    step(escape.length)
                } else {
                    error("invalid unicode escape in string literal; expected \\u{hex}")
                    step(2)
                }
            default:
                // A backslash ending the line or file: the loop then reports the string unterminated.
                guard let next, !isNewlineChar(next) else {
                    step()
                    continue
                }
                error("invalid escape sequence '\\\(next)' in string literal")
                step(2)
            }
        }
        diagnostics.append(Diagnostic(file: file, loc: start, "unterminated string literal"))
        return nil
    }

    /// At a backslash followed by `u`: the scalar of `\u{1F600}` (one to eight hex digits) and
    /// how many Characters the escape spans, or nil when it is malformed.
    private func unicodeEscape() -> (scalar: Unicode.Scalar, length: Int)? {
        var j = source.index(i, offsetBy: 2)
        guard j < source.endIndex, source[j] == "{" else { return nil }
        j = source.index(after: j)
        var hex = ""
        var digits = 0
        while j < source.endIndex, source[j].isHexDigit, digits < 8 {
            hex.append(source[j])
            digits += 1
            j = source.index(after: j)
        }
        guard j < source.endIndex, source[j] == "}", let v = UInt32(hex, radix: 16),
              let scalar = Unicode.Scalar(v) else { return nil }
        return (scalar, digits + 4)
    }
}

/// Line ends: `\n`, and `\r\n`, which Swift treats as one Character.
private func isNewlineChar(_ c: Character) -> Bool { c == "\n" || c == "\r\n" }
