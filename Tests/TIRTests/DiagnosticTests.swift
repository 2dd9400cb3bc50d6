// Diagnostic tests: one per kind of mistake, checking the exact headline, the quoted source
// line and the caret column, and that each mistake yields exactly one diagnostic.

import Testing
@testable import TIR

/// `model @m { <lines> }` with one item per line: `lines[0]` is on line 2.
private func model(_ lines: String...) -> String {
    "model @m {\n" + lines.joined(separator: "\n") + "\n}\n"
}

/// Everything wrong with `source`: its syntax errors, or else what the verifier finds.
private func diagnose(_ source: String) -> [Diagnostic] {
    do {
        return verifyModule(try parseModule(source, file: "model.tir"), file: "model.tir")
    } catch {
        return error.diagnostics
    }
}

/// Expects exactly one diagnostic, rendered (headline, source line, caret, notes) as `expected`.
private func expectDiagnostic(_ source: String, _ expected: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
    let found = diagnose(source)
    #expect(found.count == 1, "\(DiagnosticList(found))", sourceLocation: sourceLocation)
    #expect(found.first?.rendered(source: source) == expected, sourceLocation: sourceLocation)
}

@Suite struct DiagnosticTests {
    // MARK: Syntax

    @Test func missingCloseParen() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu(%x : f32[2, 4]", "  output %y"), """
            model.tir:3:16: error: expected ',' or ')' in the operand list, found ':'
              %y = gelu(%x : f32[2, 4]
                           ^
            """)
    }

    @Test func unexpectedCharacter() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu($x) : f32[2, 4]", "  output %y"), """
            model.tir:3:13: error: unexpected character '$'
              %y = gelu($x) : f32[2, 4]
                        ^
            """)
    }

    @Test func missingColonBeforeType() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu(%x) f32[2, 4]", "  output %y"), """
            model.tir:3:17: error: expected ':' before the result type, found 'f32'
              %y = gelu(%x) f32[2, 4]
                            ^
            """)
    }

    @Test func unterminatedString() {
        expectDiagnostic(model("  weights \"w.safetensors", "  input %x : f32[2, 4]", "  output %x"), """
            model.tir:2:11: error: unterminated string literal
              weights "w.safetensors
                      ^
            """)
    }

    @Test func missingCloseBraceAtEndOfFile() {
        let source = "model @m {\n  input %x : f32[2, 4]\n  output %x\n"
        expectDiagnostic(source, """
            model.tir:3:12: error: expected '}' at end of model @m
              output %x
                       ^
            model.tir:1:10: note: to match this '{'
            model @m {
                     ^
            """)
    }

    @Test func integerLiteralOverflow() {
        expectDiagnostic(model("  input %x : f32[99999999999999999999, 4]", "  output %x"), """
            model.tir:2:18: error: integer literal '99999999999999999999' does not fit in 64 bits
              input %x : f32[99999999999999999999, 4]
                             ^
            """)
    }

    @Test func zeroDimension() {
        expectDiagnostic(model("  input %x : f32[0, 4]", "  output %x"), """
            model.tir:2:18: error: dimension must be positive, got 0
              input %x : f32[0, 4]
                             ^
            """)
    }

    @Test func seqSymbolNotDeclared() {
        expectDiagnostic(model("  input %x : f32[T, 4]", "  output %x"), """
            model.tir:2:18: error: unknown dimension 'T'; declare the sequence length with 'seq T <= N'
              input %x : f32[T, 4]
                             ^
            """)
    }

    // MARK: Ops and attributes

    @Test func unknownOp() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = lnorm(%x) : f32[2, 4]", "  output %y"), """
            model.tir:3:8: error: unknown op 'lnorm'
              %y = lnorm(%x) : f32[2, 4]
                   ^
            """)
    }

    @Test func unknownAttribute() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu(%x) {approx = tanh} : f32[2, 4]", "  output %y"), """
            model.tir:3:18: error: unknown attribute 'approx' for 'gelu'; expected approximation
              %y = gelu(%x) {approx = tanh} : f32[2, 4]
                             ^
            """)
    }

    @Test func missingRequiredAttribute() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = layernorm(%x) : f32[2, 4]", "  output %y"), """
            model.tir:3:8: error: 'layernorm' requires attribute 'eps'
              %y = layernorm(%x) : f32[2, 4]
                   ^
            """)
    }

    @Test func badAttributeValue() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu(%x) {approximation = fast} : f32[2, 4]", "  output %y"), """
            model.tir:3:34: error: attribute 'approximation' of 'gelu' must be one of none, tanh, got 'fast'
              %y = gelu(%x) {approximation = fast} : f32[2, 4]
                                             ^
            """)
    }

    @Test func headsNotDividingTheWidth() {
        expectDiagnostic(model("  input %x : f32[2, 12]", "  %y = attention(%x) {heads = 5} : f32[2, 4]", "  output %y"), """
            model.tir:3:3: error: attention heads = 5 does not divide the width 4
              %y = attention(%x) {heads = 5} : f32[2, 4]
              ^
            """)
    }

    // MARK: Names

    @Test func unknownValue() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = gelu(%z) : f32[2, 4]", "  output %y"), """
            model.tir:3:13: error: unknown value %z
              %y = gelu(%z) : f32[2, 4]
                        ^
            """)
    }

    @Test func unknownParam() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %y = linear(%x, @v) : f32[2, 4]", "  output %y"), """
            model.tir:3:19: error: unknown parameter @v
              %y = linear(%x, @v) : f32[2, 4]
                              ^
            """)
    }

    @Test func redefinition() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  %x = gelu(%x) : f32[2, 4]", "  output %x"), """
            model.tir:3:3: error: redefinition of %x
              %x = gelu(%x) : f32[2, 4]
              ^
            model.tir:2:9: note: previous definition is here
              input %x : f32[2, 4]
                    ^
            """)
    }

    // MARK: Types and shapes

    @Test func addOfDifferentShapes() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  input %z : f32[2, 8]", "  %y = add(%x, %z) : f32[2, 4]", "  output %y"), """
            model.tir:4:16: error: add operands must have the same type, got %x : f32[2, 4] and %z : f32[2, 8]
              %y = add(%x, %z) : f32[2, 4]
                           ^
            """)
    }

    @Test func linearInputWidthMismatch() {
        expectDiagnostic(model("  input %x : f32[2, 4]", "  param @w : f32[8, 4]", "  %y = linear(%x, @w) : f32[2, 4]", "  output %y"), """
            model.tir:4:19: error: linear weight @w : f32[8, 4] takes 8 input columns (it is [in, out]), but %x : f32[2, 4] has 4
              %y = linear(%x, @w) : f32[2, 4]
                              ^
            """)
    }

    @Test func wrongDeclaredResultType() {
        expectDiagnostic(model("  seq T <= 8", "  input %x : f32[T, 64]", "  param @w : f32[64, 192]",
                               "  %qkv = linear(%x, @w) : f32[T, 64]", "  output %qkv"), """
            model.tir:5:27: error: result type f32[T, 64] does not match computed f32[T, 192]
              %qkv = linear(%x, @w) : f32[T, 64]
                                      ^
            """)
    }

    @Test func floatIdsToEmbedding() {
        expectDiagnostic(model("  seq T <= 8", "  input %ids : f32[T]", "  param @wte : f32[256, 64]",
                               "  %tok = embedding(%ids, @wte) : f32[T, 64]", "  output %tok"), """
            model.tir:5:20: error: embedding ids must be i32[R], got %ids : f32[T]
              %tok = embedding(%ids, @wte) : f32[T, 64]
                               ^
            """)
    }

    @Test func tabsKeepTheCaretAligned() {
        let source = "model @m {\n\tinput %x : f32[2, 4]\n\t%y = lnorm(%x) : f32[2, 4]\n}\n"
        #expect(diagnose(source).first?.rendered(source: source) == """
            model.tir:3:7: error: unknown op 'lnorm'
            \t%y = lnorm(%x) : f32[2, 4]
            \t     ^
            """)
    }

    /// Truncated and corrupted versions of a real model: never a crash, always either a
    /// module that prints back to itself or located errors.
    @Test func mangledInputNeverCrashes() throws {
        let original = Array(try TIRText.example("gpt-tiny.tir"))
        var variants: [String] = stride(from: 0, to: original.count, by: 13).map { String(original[..<$0]) }
        // A fixed-seed linear congruential generator: reproducible corruption.
        var state: UInt64 = 0x2545F4914F6CDD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        let noise: [Character] = ["(", ")", "{", "}", "[", "]", ",", ":", "=", "%", "@", "\"", "-", "0", "9",
                                  "T", " ", "\n", "$", "é", "<", "/", ".", "e"]
        for _ in 0..<400 {
            var chars = original
            for _ in 0..<(1 + next(3)) {
                let at = next(chars.count)
                switch next(3) {
                case 0: chars[at] = noise[next(noise.count)]
                case 1: chars.remove(at: at)
                default: chars.insert(noise[next(noise.count)], at: at)
                }
            }
            variants.append(String(chars))
        }
        for source in variants {
            do {
                let m = try parseModule(source, file: "fuzz.tir")
                _ = verifyModule(m, file: "fuzz.tir")
                #expect(try parseModule(printModule(m), file: "fuzz.tir") == m)
            } catch {
                #expect(!error.diagnostics.isEmpty)
                for d in error.diagnostics {
                    #expect((d.loc?.line ?? 0) > 0, "\(d)")
                    _ = d.rendered(source: source)
                }
            }
        }
    }

    @Test func diagnosticsWithoutALocation() {
        let d = diagnose(model("  input %x : f32[2, 4]"))
        #expect(d.map { $0.rendered(source: nil) } == ["model.tir: error: model @m has no 'output'"])
    }
}
