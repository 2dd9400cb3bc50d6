// Parser tests: the examples, every item and literal form, locations, recovery and scale.

import Foundation
import Testing
@testable import TIR

/// Files and helpers shared by the TIR text-format tests.
enum TIRText {
    /// The repository root, found from this file's path (Tests/TIRTests/ParserTests.swift).
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func example(_ name: String) throws -> String {
        try String(contentsOf: repoRoot.appendingPathComponent("Examples/\(name)"), encoding: .utf8)
    }

    static let exampleNames = ["gpt-tiny.tir", "vit-tiny.tir"]

    /// Parses `source` as "test.tir", failing the test with the rendered errors if it does not parse.
    static func parse(_ source: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Module {
        do {
            return try parseModule(source, file: "test.tir")
        } catch {
            Issue.record("parse failed:\n\(error.rendered(source: source))", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// The diagnostics of a source that must not parse.
    static func parseErrors(_ source: String, sourceLocation: SourceLocation = #_sourceLocation) -> [Diagnostic] {
        do {
            _ = try parseModule(source, file: "test.tir")
            Issue.record("expected a parse error", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.diagnostics
        }
    }
}

@Suite struct ParserTests {
    @Test func parsesGPTExample() throws {
        let m = try TIRText.parse(try TIRText.example("gpt-tiny.tir"))
        #expect(m.name == "gpt_tiny")
        #expect(m.seq == SeqDecl(symbol: "T", max: 64))
        #expect(m.weights == .random(seed: 7, std: 0.125))
        #expect(m.weightsLoc.line == 5 && m.weightsLoc.column == 3)
        #expect(m.inputs == [Input(name: "tokens", type: TensorType(.i32, [.seq]))])
        #expect(m.params.count == 28)
        #expect(m.param(named: "wpe")?.initializer == .normal(mean: 0, std: 0.01))
        #expect(m.param(named: "wte")?.initializer == .default)
        #expect(m.body.count == 25)
        #expect(m.outputs.map(\.name) == ["logits"])

        let att = try #require(m.body.first { $0.result == "h0.att" })
        #expect(att.op == .attention)
        #expect(att.operands == [.value("h0.qkv")])
        #expect(att.attrs.map(\.key) == ["heads", "causal"])
        #expect(att.int("heads") == 4 && att.bool("causal") == true)
        #expect(att.type == TensorType(.f32, [.seq, .fixed(64)]))

        let head = try #require(m.body.last)
        #expect(head.op == .linear && head.bool("transposed") == true)
        #expect(head.operands == [.value("nf"), .param("wte")])
        // Defaults are filled in: every linear carries `transposed`.
        #expect(m.body.filter { $0.op == .linear }.allSatisfy { $0.bool("transposed") != nil })
    }

    @Test func parsesViTExample() throws {
        let m = try TIRText.parse(try TIRText.example("vit-tiny.tir"))
        #expect(m.name == "vit_tiny")
        #expect(m.seq == nil)
        #expect(m.weights == .random(seed: 11, std: 0.125))
        #expect(m.inputs.first?.type == TensorType(.f32, [.fixed(3), .fixed(32), .fixed(32)]))
        let patches = try #require(m.body.first)
        #expect(patches.op == .patchEmbed && patches.int("patch") == 8)
        let att = try #require(m.body.first { $0.op == .attention })
        #expect(att.operands.count == 3 && att.bool("causal") == false)
        #expect(m.body.first { $0.op == .layernorm }?.double("eps") == 1e-12)
        #expect(m.body.first { $0.op == .selectRow }?.int("index") == 0)
    }

    @Test(arguments: TIRText.exampleNames)
    func examplesVerifyAndRoundTrip(name: String) throws {
        let m = try TIRText.parse(try TIRText.example(name))
        let problems = verifyModule(m, file: name)
        #expect(problems.isEmpty, "\(DiagnosticList(problems))")
        let printed = printModule(m)
        let reparsed = try TIRText.parse(printed)
        #expect(reparsed == m)
        #expect(printModule(reparsed) == printed)
    }

    @Test func omittedAttributesGetTheirDefaults() throws {
        let m = try TIRText.parse("""
            model @m {
              input %x : f32[4, 8]
              %a = attention(%x){heads=4} : f32[4, 8]
              %b = gelu(%a) : f32[4, 8]
              %c = select_row(%b) : f32[1, 8]
              %d = linear(%c, @w) : f32[1, 8]
              output %d
            }
            """)
        #expect(m.body[0].attrs.map(\.key) == ["heads", "causal"])
        #expect(m.body[0].attrs.map(\.value) == [.int(4), .bool(false)])
        #expect(m.body[1].attrs.map(\.value) == [.word("none")])
        #expect(m.body[2].attrs.map(\.value) == [.int(0)])
        #expect(m.body[3].attrs.map(\.value) == [.bool(false), .word("f32")])
        let explicit = try TIRText.parse("""
            model @m {
              input %x : f32[4, 8]
              %a = attention(%x) {causal = false, heads = 4} : f32[4, 8]
              %b = gelu(%a) {approximation = none} : f32[4, 8]
              %c = select_row(%b) {index = 0} : f32[1, 8]
              %d = linear(%c, @w) {transposed = false} : f32[1, 8]
              output %d
            }
            """)
        #expect(explicit == m)
    }

    @Test func integerLiteralIsAcceptedForAFloatAttribute() throws {
        let m = try TIRText.parse("""
            model @m {
              input %x : f32[2, 4]
              %y = rmsnorm(%x) {eps = 1} : f32[2, 4]
              output %y
            }
            """)
        #expect(m.body[0].attrs.map(\.value) == [.float(1)])
    }

    @Test func floatLiteralForms() throws {
        for (text, value) in [("1e-05", 1e-05), ("0.02", 0.02), ("1.0e-5", 1e-5), ("2E+3", 2000.0), ("-1.5", -1.5), ("3", 3.0)] {
            let m = try TIRText.parse("model @m { param @p : f32[1] = normal(\(text), 1.5) }")
            #expect(m.params[0].initializer == .normal(mean: value, std: 1.5), "\(text)")
        }
    }

    @Test func weightsForms() throws {
        let absent = try TIRText.parse("model @m { }")
        #expect(absent.weights == .random(seed: 0, std: 0.02))
        #expect(absent.weightsLoc.line == 0)
        #expect(try TIRText.parse("model @m { weights random(seed = 3) }").weights == .random(seed: 3, std: 0.02))
        #expect(try TIRText.parse("model @m { weights random(seed = 3, std = 1) }").weights == .random(seed: 3, std: 1))
        #expect(try TIRText.parse("model @m { weights \"gpt2.safetensors\" }").weights == .file("gpt2.safetensors"))
        let big = try TIRText.parse("model @m { weights random(seed = 18446744073709551615) }")
        #expect(big.weights == .random(seed: .max, std: 0.02))
        #expect(try TIRText.parse(printModule(big)) == big)
    }

    @Test func paramInitializers() throws {
        let m = try TIRText.parse("""
            model @m {
              weights "w.safetensors"
              param @a : f32[2]
              param @b : f32[2] = zeros
              param @c : f32[2] = ones
              param @d : f32[2] = normal(-1, 0.5)
              param @e : f32[2] = uniform(-0.1, 0.1)
              param @f : f32[2] = tensor("transformer.f")
            }
            """)
        #expect(m.params.map(\.initializer) == [
            .default, .zeros, .ones, .normal(mean: -1, std: 0.5), .uniform(low: -0.1, high: 0.1), .tensor("transformer.f"),
        ])
    }

    /// `tensor("t", rows = blocks(...))`: row blocks of a stored tensor; it prints back the same.
    @Test func tensorRowSelection() throws {
        let m = try TIRText.parse("""
            model @m {
              weights "w.safetensors"
              param @q : f32[4, 6] = tensor("qkv.weight", rows = blocks(start = 0, size = 2, stride = 6))
              param @kb : f32[4] = tensor("qkv.bias", rows = blocks(start = 2, size = 2, stride = 6))
            }
            """)
        #expect(m.params.map(\.initializer) == [
            .tensorRows("qkv.weight", RowBlocks(start: 0, size: 2, stride: 6)),
            .tensorRows("qkv.bias", RowBlocks(start: 2, size: 2, stride: 6)),
        ])
        let text = printModule(m)
        #expect(text.contains(#"param @q : f32[4, 6] = tensor("qkv.weight", rows = blocks(start = 0, size = 2, stride = 6))"#))
        #expect(try TIRText.parse(text) == m)
        // The keys are required, in their order.
        let errors = TIRText.parseErrors("""
            model @m {
              param @q : f32[4] = tensor("t", rows = blocks(size = 2, start = 0, stride = 6))
              param @r : f32[4] = tensor("t", cols = blocks(start = 0, size = 2, stride = 6))
              param @s : f32[4] = tensor("t", rows = blocks(start = 0, size = 2))
            }
            """)
        #expect(errors.map(\.message) == [
            "expected 'start', found 'size'", "expected 'rows', found 'cols'", "expected ',' before 'stride', found ')'",
        ])
    }

    @Test func itemsMayComeInAnyOrder() throws {
        let m = try TIRText.parse("""
            model @m {
              output %y
              %y = gelu(%x) : f32[T, 4]
              param @unused : f32[4]
              input %x : f32[T, 4]
              weights random(seed = 1)
              seq T <= 8
            }
            """)
        #expect(m.seq?.symbol == "T")
        #expect(m.inputs.map(\.name) == ["x"] && m.body.map(\.result) == ["y"] && m.outputs.map(\.name) == ["y"])
        #expect(m.inputs[0].type.dims == [.seq, .fixed(4)])
        #expect(verifyModule(m, file: "test.tir").isEmpty)
    }

    @Test func namesMayStartWithDigitsAndContainDots() throws {
        let m = try TIRText.parse("""
            model @0.m {
              input %0 : f32[1, 2]
              param @h.0.w : f32[2, 2]
              %1.a = linear(%0, @h.0.w) : f32[1, 2]
              output %1.a
            }
            """)
        #expect(m.name == "0.m")
        #expect(m.body[0].operands == [.value("0"), .param("h.0.w")])
    }

    @Test func commentsAndFreeFormWhitespace() throws {
        let m = try TIRText.parse("""
            // header
            model @m { // after brace
              input %x : f32[ 2 ,
                              4 ] // a type over two lines
              %y =
                gelu ( %x ) // an op over lines
                : f32[2, 4]
              output %y // done
            } // end
            // trailing
            """)
        #expect(m.body[0].type == TensorType(.f32, [.fixed(2), .fixed(4)]))
    }

    @Test func crlfLineEndingsKeepLinesRight() throws {
        let source = "model @m {\r\n  input %x : f32[2, 4]\r\n  %y = gelu(%x) : f32[2, 4]\r\n  output %y\r\n}\r\n"
        let m = try TIRText.parse(source)
        #expect(m.body[0].loc.line == 3 && m.body[0].loc.column == 3)
        let badSource = source.replacingOccurrences(of: "gelu", with: "gelux")
        let bad = TIRText.parseErrors(badSource)
        #expect(bad.map(\.description) == ["test.tir:3:8: error: unknown op 'gelux'"])
        #expect(bad.first?.rendered(source: badSource).hasSuffix("  %y = gelux(%x) : f32[2, 4]\n       ^") == true)
    }

    @Test func recordsSourceLocations() throws {
        let m = try TIRText.parse("""
            model @m {
              seq T <= 4
              input %x : f32[T, 4]
              param @w : f32[4, 4]
              %y = linear(%x,  @w) : f32[T, 4]
              output %y
            }
            """)
        #expect("\(m.seq?.loc ?? .unknown)" == "2:3")
        #expect("\(m.inputs[0].loc)" == "3:9")
        #expect("\(m.params[0].loc)" == "4:9")
        let y = m.body[0]
        #expect("\(y.loc)" == "5:3")
        #expect(y.operandLocs.map(\.description) == ["5:15", "5:20"])
        #expect("\(y.typeLoc)" == "5:26")
        #expect("\(m.outputs[0].loc)" == "6:10")
    }

    @Test func stringEscapes() throws {
        let m = try TIRText.parse(#"model @m { weights "a\"b\\c\td\u{1F600}e" }"#)
        #expect(m.weights == .file("a\"b\\c\td\u{1F600}e"))
        #expect(try TIRText.parse(printModule(m)) == m)
    }

    @Test func badStringsAndOddCharacters() throws {
        #expect(TIRText.parseErrors(#"model @m { weights "a\qb" }"#).map(\.description)
                == [#"test.tir:1:22: error: invalid escape sequence '\q' in string literal"#])
        #expect(TIRText.parseErrors(#"model @m { weights "a\u{110000}" }"#).map(\.description)
                == [#"test.tir:1:22: error: invalid unicode escape in string literal; expected \u{hex}"#])
        #expect(TIRText.parseErrors("model @m {\n  weights \"a\\\n}").map(\.description)
                == ["test.tir:2:11: error: unterminated string literal"])
        #expect(TIRText.parseErrors("model @m { input %x : f32[2, 4] % }").map(\.description)
                == ["test.tir:1:33: error: expected a name after '%'"])
        #expect(TIRText.parseErrors("model @m { input %x : f32[2, 4] é }").map(\.description)
                == ["test.tir:1:33: error: unexpected character U+E9"])
        // A byte-order mark is whitespace.
        #expect(try TIRText.parse("\u{FEFF}model @m { }").name == "m")
    }

    @Test func emptyAttributeBracesAreAccepted() throws {
        let m = try TIRText.parse("model @m { input %x : f32[1, 2]\n %y = gelu(%x) {} : f32[1, 2]\n output %y }")
        #expect(m.body[0].attrs.map(\.value) == [.word("none")])
    }

    @Test func reportsEverySyntaxErrorInOneRun() {
        let errors = TIRText.parseErrors("""
            model @m {
              input %x f32[2, 4]
              %y = gelu(%x : f32[2, 4]
              %z = gelu(%x) : f32[2, 4]
              param @w : f32[2, 0]
              output %z
            }
            """)
        #expect(errors.map(\.description) == [
            "test.tir:2:12: error: expected ':' before the input's type, found 'f32'",
            "test.tir:3:16: error: expected ',' or ')' in the operand list, found ':'",
            "test.tir:5:21: error: dimension must be positive, got 0",
        ])
    }

    @Test func missingCloseParenRecoversAtTheNextLine() {
        // The error token starts the next line, which is then parsed normally.
        let errors = TIRText.parseErrors("""
            model @m {
              input %x : f32[2, 4]
              %y = gelu(%x
              %z = lnorm(%x) : f32[2, 4]
            }
            """)
        #expect(errors.map(\.description) == [
            "test.tir:4:3: error: expected ',' or ')' in the operand list, found '%z'",
            "test.tir:4:8: error: unknown op 'lnorm'",
        ])
    }

    @Test func duplicateDeclarations() {
        let errors = TIRText.parseErrors("""
            model @m {
              seq T <= 4
              seq T <= 8
              weights random(seed = 1)
              weights "w.safetensors"
            }
            """)
        #expect(errors.map(\.description) == [
            "test.tir:3:3: error: duplicate 'seq' declaration; a model has one sequence length",
            "test.tir:5:3: error: duplicate 'weights' declaration",
        ])
        #expect(errors[0].notes.map(\.description) == ["test.tir:2:3: note: previous declaration is here"])
    }

    @Test func textAfterTheModel() {
        let errors = TIRText.parseErrors("model @m { }\nmodel @n { }\n")
        #expect(errors.map(\.description) == ["test.tir:2:1: error: unexpected 'model' after the end of the model"])
    }

    @Test func unknownDimensionWordWithASeqDeclared() {
        let errors = TIRText.parseErrors("model @m {\n  seq T <= 4\n  input %x : f32[S, 4]\n  input %y : f32[S, 8]\n}")
        #expect(errors.map(\.description) == ["test.tir:3:18: error: unknown dimension 'S'; the sequence length is 'T'"])
    }

    @Test func attributeErrorsAreReportedWhereWritten() {
        let errors = TIRText.parseErrors("""
            model @m {
              input %x : f32[4, 8]
              %a = attention(%x) {heads = 2, heads = 4, causal = 1} : f32[4, 8]
              %b = select_row(%a) {index = 1.5} : f32[1, 8]
            }
            """)
        #expect(errors.map(\.description) == [
            "test.tir:3:34: error: duplicate attribute 'heads'",
            "test.tir:3:54: error: attribute 'causal' of 'attention' must be true or false, got '1'",
            "test.tir:4:32: error: attribute 'index' of 'select_row' must be an integer, got '1.5'",
        ])
    }

    @Test func literalsOutOfRange() {
        #expect(TIRText.parseErrors("model @m { param @p : f32[1] = normal(1e999, 1.0) }").map(\.description)
                == ["test.tir:1:39: error: number literal '1e999' is out of range"])
        #expect(TIRText.parseErrors("model @m { weights random(seed = -1) }").map(\.description)
                == ["test.tir:1:34: error: seed must be an integer from 0 to 18446744073709551615, got -1"])
        #expect(TIRText.parseErrors("model @m { input %x : f32[12abc] }").map(\.description)
                == ["test.tir:1:27: error: invalid number literal '12abc'"])
    }

    @Test func emptyAndTruncatedFiles() {
        #expect(TIRText.parseErrors("").map(\.description) == ["test.tir:1:1: error: expected 'model', found end of file"])
        #expect(TIRText.parseErrors("// nothing\n").map(\.description) == ["test.tir:1:1: error: expected 'model', found end of file"])
        #expect(TIRText.parseErrors("model").map(\.description)
                == ["test.tir:1:6: error: expected a model name such as '@gpt', found end of file"])
        #expect(TIRText.parseErrors("model @m").map(\.description)
                == ["test.tir:1:9: error: expected '{' after the model name, found end of file"])
    }

    @Test func largeInputParsesWithoutRecursion() throws {
        // 20,000 chained statements (and one very long line): the parser loops, never recurses.
        let count = 20_000
        var source = "model @big {\n  input %v0 : f32[1, 4]\n"
        for i in 1...count { source += "  %v\(i) = gelu(%v\(i - 1)) : f32[1, 4]\n" }
        // Every result is an output (the input %v0 cannot be one).
        source += "  output " + (1...count).map { "%v\($0)" }.joined(separator: ", ") + "\n}\n"
        let m = try TIRText.parse(source)
        #expect(m.body.count == count && m.outputs.count == count)
        #expect(verifyModule(m, file: "big.tir").isEmpty)
        #expect(printModule(m) == source
            .replacingOccurrences(of: "{\n  input", with: "{\n  weights random(seed = 0, std = 0.02)\n  input")
            .replacingOccurrences(of: "f32[1, 4]\n  %v1 ", with: "f32[1, 4]\n\n  %v1 "))
    }

    @Test func manyUnbalancedBracketsDoNotCrash() {
        let source = "model @m {\n" + String(repeating: "((((([[[[[{{{{{", count: 10_000) + "\n}"
        let errors = TIRText.parseErrors(source)
        #expect(errors.map(\.description) == [
            "test.tir:2:1: error: expected 'seq', 'weights', 'tokenizer', 'input', 'param', 'output' or a statement '%name = op(...)', found '('",
        ])
    }

    @Test func tokenizerDeclarationRoundTripsAndIsCheckedOnce() throws {
        let source = "model @m {\n  seq T <= 4\n  weights random(seed = 1, std = 0.02)\n  tokenizer \"../ckpt/gpt 2\"\n  input %t : i32[T]\n\n  param @e : f32[8, 4]\n\n  %x = embedding(%t, @e) : f32[T, 4]\n  output %x\n}\n"
        let m = try TIRText.parse(source)
        #expect(m.tokenizer == "../ckpt/gpt 2")
        #expect(printModule(m) == source)
        #expect(try TIRText.parse(printModule(m)) == m)
        let twice = source.replacingOccurrences(of: "  input", with: "  tokenizer \"other\"\n  input")
        #expect(TIRText.parseErrors(twice).map(\.description).first?.contains("duplicate 'tokenizer' declaration") == true)
        let bare = source.replacingOccurrences(of: "tokenizer \"../ckpt/gpt 2\"", with: "tokenizer gpt2")
        #expect(TIRText.parseErrors(bare).map(\.description).first?.contains("expected the tokenizer's folder in quotes") == true)
    }
}
