// The `.tir` lexer: source text to tokens with 1-based line:column positions and lexical errors.

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
private func classifyNumber(_ text: [Character]) -> (valid: Bool, isFloat: Bool) {
    var i = 0
    func digits() -> Bool {
        let start = i
        while i < text.count, text[i].isASCIIDigit { i += 1 }
        return i > start
    }
    if i < text.count, text[i] == "-" { i += 1 }
    guard digits() else { return (false, false) }
    var isFloat = false
    if i < text.count, text[i] == "." {
        i += 1
        guard digits() else { return (false, false) }
        isFloat = true
    }
    if i < text.count, text[i] == "e" || text[i] == "E" {
        i += 1
        if i < text.count, text[i] == "+" || text[i] == "-" { i += 1 }
        guard digits() else { return (false, false) }
        isFloat = true
    }
    return (i == text.count, isFloat)
}

/// Splits `source` into tokens, ending with `.eof`. Lexical errors become diagnostics and
/// `.invalid` tokens; lexing always runs to the end of the text.
func tokenizeTIR(_ source: String, file: String) -> (tokens: [Token], diagnostics: DiagnosticSink) {
    // Characters, not bytes or scalars: columns must count what `Diagnostic.rendered`
    // counts when it places the caret.
    let chars = Array(source)
    var tokens: [Token] = []
    var diagnostics = DiagnosticSink()
    var i = 0
    var line = 1
    var column = 1
    var lineHasToken = false
    // The end of the last token: where "expected '}'" at end of file points.
    var lastTokenEnd = SourceLoc(line: 1, column: 1)

    while i < chars.count {
        let c = chars[i]
        if isNewlineChar(c) {
            i += 1
            line += 1
            column = 1
            lineHasToken = false
            continue
        }
        // A byte-order mark is whitespace, so that files saved with one still parse.
        if c == " " || c == "\t" || c == "\r" || c == "\u{FEFF}" {
            i += 1
            column += 1
            continue
        }
        if c == "/", i + 1 < chars.count, chars[i + 1] == "/" {
            while i < chars.count, !isNewlineChar(chars[i]) {
                i += 1
                column += 1
            }
            continue
        }

        let start = SourceLoc(line: line, column: column)
        let startIndex = i
        var kind: TokenKind
        func error(_ message: String, at loc: SourceLoc = start) {
            diagnostics.append(Diagnostic(file: file, loc: loc, message))
        }

        switch c {
        case "{": kind = .lbrace; i += 1
        case "}": kind = .rbrace; i += 1
        case "(": kind = .lparen; i += 1
        case ")": kind = .rparen; i += 1
        case "[": kind = .lbracket; i += 1
        case "]": kind = .rbracket; i += 1
        case ",": kind = .comma; i += 1
        case ":": kind = .colon; i += 1
        case "=": kind = .equal; i += 1
        case "<" where i + 1 < chars.count && chars[i + 1] == "=":
            kind = .lessEqual
            i += 2
        case "%", "@":
            i += 1
            while i < chars.count, chars[i].isTIRIdentifierChar { i += 1 }
            let name = String(chars[(startIndex + 1)..<i])
            if name.isEmpty {
                error("expected a name after '\(c)'")
                kind = .invalid
            } else {
                kind = c == "%" ? .valueName(name) : .paramName(name)
            }
        case "\"":
            let (decoded, end, ok) = lexString(chars, from: i, start: start, file: file, into: &diagnostics)
            i = end
            kind = ok ? .string(decoded) : .invalid
        default:
            if c.isASCIIDigit || (c == "-" && i + 1 < chars.count && chars[i + 1].isASCIIDigit) {
                // Take the whole run of name characters so that `12abc` is one bad literal,
                // not a number followed by a word.
                i += 1
                while i < chars.count {
                    let d = chars[i]
                    if d.isTIRIdentifierChar {
                        i += 1
                    } else if (d == "+" || d == "-"), chars[i - 1] == "e" || chars[i - 1] == "E" {
                        i += 1
                    } else {
                        break
                    }
                }
                let text = Array(chars[startIndex..<i])
                let (valid, isFloat) = classifyNumber(text)
                if valid {
                    kind = isFloat ? .float(String(text)) : .int(String(text))
                } else {
                    error("invalid number literal '\(String(text))'")
                    kind = .invalid
                }
            } else if c.isTIRWordStart {
                while i < chars.count, chars[i].isTIRIdentifierChar { i += 1 }
                kind = .word(String(chars[startIndex..<i]))
            } else {
                let shown = c.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F })
                    ? "'\(c)'" : "U+" + String(c.unicodeScalars.first?.value ?? 0, radix: 16, uppercase: true)
                error("unexpected character \(shown)")
                kind = .invalid
                i += 1
            }
        }

        // Tokens never span lines (an unterminated string stops at the newline).
        column += i - startIndex
        lastTokenEnd = SourceLoc(line: line, column: column)
        tokens.append(Token(kind: kind, loc: start, startsLine: !lineHasToken))
        lineHasToken = true
    }
    tokens.append(Token(kind: .eof, loc: lastTokenEnd, startsLine: true))
    return (tokens, diagnostics)
}

/// Lexes the string literal whose opening quote is at `from`. Returns the decoded text, the
/// index after the literal (at the newline when it is unterminated) and whether it was valid.
private func lexString(_ chars: [Character], from: Int, start: SourceLoc, file: String,
                       into diagnostics: inout DiagnosticSink) -> (String, Int, Bool) {
    var i = from + 1
    var out = ""
    var ok = true
    while i < chars.count {
        let c = chars[i]
        if isNewlineChar(c) { break }
        if c == "\"" { return (out, i + 1, ok) }
        if c != "\\" {
            out.append(c)
            i += 1
            continue
        }
        let escapeLoc = SourceLoc(line: start.line, column: start.column + (i - from))
        let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
        switch next {
        case "\"": out.append("\""); i += 2
        case "\\": out.append("\\"); i += 2
        case "n": out.append("\n"); i += 2
        case "t": out.append("\t"); i += 2
        case "r": out.append("\r"); i += 2
        case "u":
            // \u{1F600}: one to eight hex digits naming a Unicode scalar.
            var j = i + 2
            var hex = ""
            var scalar: Unicode.Scalar?
            if j < chars.count, chars[j] == "{" {
                j += 1
                while j < chars.count, chars[j].isHexDigit, hex.count < 8 {
                    hex.append(chars[j])
                    j += 1
                }
                if j < chars.count, chars[j] == "}", let v = UInt32(hex, radix: 16) {
                    scalar = Unicode.Scalar(v)
                    j += 1
                }
            }
            if let scalar {
                out.unicodeScalars.append(scalar)
                i = j
            } else {
                diagnostics.append(Diagnostic(file: file, loc: escapeLoc,
                                              "invalid unicode escape in string literal; expected \\u{hex}"))
                ok = false
                i += 2
            }
        default:
            // A backslash ending the line or file: the loop then reports the string unterminated.
            guard let next, !isNewlineChar(next) else {
                i += 1
                continue
            }
            diagnostics.append(Diagnostic(file: file, loc: escapeLoc,
                                          "invalid escape sequence '\\\(next)' in string literal"))
            ok = false
            i += 2
        }
    }
    diagnostics.append(Diagnostic(file: file, loc: start, "unterminated string literal"))
    return (out, i, false)
}

/// Line ends: `\n`, and `\r\n`, which Swift treats as one Character.
private func isNewlineChar(_ c: Character) -> Bool { c == "\n" || c == "\r\n" }
