// The streaming reader: the lexer hands the parser one token at a time, and lexical and syntax
// errors come out together in source order, with the same messages and places as when the
// whole file was tokenized first.

import Testing
@testable import TIR

/// Each diagnostic's headline, followed by its notes' headlines.
private func headlines(_ source: String) -> [String] {
    TIRText.parseErrors(source).flatMap { [$0.description] + $0.notes.map(\.description) }
}

/// Every token of `source` as `line:column kind`, `^` marking those that start a line, and the
/// lexical errors.
private func lex(_ source: String) -> (tokens: [String], errors: [String]) {
    var lexer = TIRLexer(source, file: "test.tir")
    var sink = DiagnosticSink()
    var tokens: [String] = []
    while true {
        let t = lexer.next(reporting: &sink)
        tokens.append("\(t.loc.line):\(t.loc.column)\(t.startsLine ? "^" : "") \(t.kind)")
        if t.kind == .eof { break }
    }
    return (tokens, sink.kept.map(\.description))
}

@Test func theLexerWalksTheTextByCharacter() {
    // A byte-order mark, CRLF, a comment, escapes, signed numbers with exponents; columns count
    // Characters ("é" and the emoji are one each).
    let (tokens, errors) = lex("\u{FEFF}seq T <= -1.5e+3 // c $\r\n  \"é\\u{1F600}\\n\" 7 😀 12abc\n%é")
    #expect(tokens == [
        "1:2^ word(\"seq\")", "1:6 word(\"T\")", "1:8 lessEqual", "1:11 float(\"-1.5e+3\")",
        "2:3^ string(\"é😀\\n\")", "2:18 int(\"7\")", "2:20 invalid", "2:22 invalid",
        "3:1^ invalid", "3:2 invalid", "3:3^ eof",
    ], "\(tokens)")
    #expect(errors == [
        "test.tir:2:20: error: unexpected character U+1F600",
        "test.tir:2:22: error: invalid number literal '12abc'",
        "test.tir:3:1: error: expected a name after '%'",
        "test.tir:3:2: error: unexpected character U+E9",
    ], "\(errors)")
    // Past the end it keeps answering end of file, at the end of the last token.
    var lexer = TIRLexer("x ", file: "t")
    var sink = DiagnosticSink()
    _ = lexer.next(reporting: &sink)
    #expect(lexer.next(reporting: &sink).loc == SourceLoc(line: 1, column: 2))
    #expect(lexer.next(reporting: &sink).kind == .eof)
}

@Test func lexicalAndSyntaxErrorsComeOutInSourceOrder() {
    // Syntax errors after recovery, bad literals the parser does not report twice, an unknown
    // dimension found only at the end of the file.
    #expect(headlines("""
        model @m {
          input %x : f32[T, 8] $
          %y = gelu(%x) : f32[T, 8
          %z = 12abc(%y)
          param @w : f32[4] = tensor("a\\qb")
          output %y "open
        }

        """) == [
            "test.tir:2:18: error: unknown dimension 'T'; declare the sequence length with 'seq T <= N'",
            "test.tir:2:24: error: unexpected character '$'",
            "test.tir:4:3: error: expected ',' or ']' in the type, found '%z'",
            "test.tir:4:8: error: invalid number literal '12abc'",
            "test.tir:5:32: error: invalid escape sequence '\\q' in string literal",
            "test.tir:6:13: error: unterminated string literal",
        ])
    // Attribute and duplicate-declaration errors are reported once their item is read, after
    // the lexer has passed them; they still come out in place.
    #expect(headlines("""
        model @m {
          %y = gelu(%x) {approximate = 1, approximate = -2.5e+1} : f32[4] 3e
          seq T <= 4
          seq T <= 4 "a\\z" @
        }

        """) == [
            "test.tir:2:18: error: unknown attribute 'approximate' for 'gelu'; expected approximation",
            "test.tir:2:35: error: duplicate attribute 'approximate'",
            "test.tir:2:18: note: first given here",
            "test.tir:2:67: error: invalid number literal '3e'",
            "test.tir:4:3: error: duplicate 'seq' declaration; a model has one sequence length",
            "test.tir:3:3: note: previous declaration is here",
            "test.tir:4:16: error: invalid escape sequence '\\z' in string literal",
            "test.tir:4:20: error: expected a name after '@'",
        ])
}

@Test func lexicalErrorsAreReportedWhereNothingIsParsed() {
    // After a bad header and after the model's '}', the rest of the text is still lexed.
    #expect(headlines("modle @m { $ }\n%% \"x\\u{zz}\" 0x1\n") == [
        "test.tir:1:1: error: expected 'model', found 'modle'",
        "test.tir:1:12: error: unexpected character '$'",
        "test.tir:2:1: error: expected a name after '%'",
        "test.tir:2:2: error: expected a name after '%'",
        "test.tir:2:6: error: invalid unicode escape in string literal; expected \\u{hex}",
        "test.tir:2:14: error: invalid number literal '0x1'",
    ])
    #expect(headlines("model @m {\n}\n} 1.5e $\n") == [
        "test.tir:3:1: error: unexpected '}' after the end of the model",
        "test.tir:3:3: error: invalid number literal '1.5e'",
        "test.tir:3:8: error: unexpected character '$'",
    ])
}

@Test func streamingKeepsLocationsOfCRLFAndOneLineModels() {
    #expect(headlines("\u{FEFF}model @m {\r\n  // comment $\r\n  seq T <= 99999999999999999999\r\n  %y = gelu(%x) : f32[T, 0]\r\n}\r\n") == [
        "test.tir:3:12: error: integer literal '99999999999999999999' does not fit in 64 bits",
        "test.tir:4:23: error: unknown dimension 'T'; declare the sequence length with 'seq T <= N'",
        "test.tir:4:26: error: dimension must be positive, got 0",
    ])
    // The final '}' is found by looking one token ahead, also when it shares the line.
    #expect(headlines("model @m { input %x : f32[4] $ }") == ["test.tir:1:30: error: unexpected character '$'"])
    #expect(headlines("model @m {\n  input %é : f32[4] 😀 \\\n  %y = gelu(%x) {a = \"é\\t\"} : f32[4]\n  output %y\n") == [
        "test.tir:2:9: error: expected a name after '%'",
        "test.tir:2:10: error: unexpected character U+E9",
        "test.tir:2:21: error: unexpected character U+1F600",
        "test.tir:2:23: error: unexpected character '\\'",
        "test.tir:3:22: error: expected an attribute value (a number, true, false or a word), found string \"é\\t\"",
        "test.tir:4:12: error: expected '}' at end of model @m",
        "test.tir:1:10: note: to match this '{'",
    ])
}

@Test func readingStopsAtTheLimitAndSaysSo() {
    // Four lexical errors a line: reading stops at the first item after the 50th, having found
    // three more in the line that crossed the limit, and does not claim to have read the rest.
    let garbage = TIRText.parseErrors("model @m {\n" + String(repeating: "  $$ $$\n", count: 1000) + "}\n")
    #expect(garbage.count == 51)
    #expect(garbage.dropLast().allSatisfy { $0.severity == .error && $0.loc!.line <= 14 })
    #expect(garbage.last?.description
            == "test.tir: note: too many errors: stopped after the first 50 (and 3 more not shown); the rest of the file was not read")
    // With no model header, the text is lexed only until the limit.
    let headless = TIRText.parseErrors(String(repeating: "$$\n", count: 1000))
    #expect(headless.count == 51)
    #expect(headless[49].description == "test.tir:25:2: error: unexpected character '$'")
    #expect(headless.last?.description
            == "test.tir: note: too many errors: stopped after the first 50; the rest of the file was not read")
    // Errors found after a whole file was read are still counted.
    let counted = TIRText.parseErrors("model @m {\n" + String(repeating: "  $\n", count: 49) + "  %x = gelu(%a) : f32[Q, R]\n")
    #expect(counted.count == 51)
    #expect(counted.last?.description == "test.tir: note: 2 more errors not shown")
}
