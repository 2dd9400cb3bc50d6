// Printer tests: golden files, canonical form, round trips and printing IR built in code.
//
// Golden files live in Tests/TIRTests/Golden (a bundled resource):
//   NAME.tir           canonical text: parsing and printing it must give it back byte for byte;
//   NAME.input.tir     legal but non-canonical text, whose printed form must equal
//   NAME.expected.tir  byte for byte.
// Run the tests with TFC_RECORD=1 in the environment to rewrite every NAME.expected.tir in
// the source tree from the current printer (then review the diff before committing).

import Foundation
import Testing
@testable import TIR

private enum Golden {
    /// The bundled copy, which the tests read.
    static var folder: URL? { Bundle.module.url(forResource: "Golden", withExtension: nil) }
    /// The source folder, which recording writes.
    static let sourceFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static func names(suffix: String) -> [String] {
        guard let folder, let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return files.filter { $0.hasSuffix(suffix) }.sorted()
    }

    static var canonical: [String] {
        names(suffix: ".tir").filter { !$0.hasSuffix(".input.tir") && !$0.hasSuffix(".expected.tir") }
    }

    static var inputs: [String] { names(suffix: ".input.tir").map { String($0.dropLast(".input.tir".count)) } }

    static func read(_ name: String) throws -> String {
        let folder = try #require(folder, "the Golden resource is missing")
        return try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }
}

@Suite struct PrinterTests {
    @Test func goldenFilesArePresent() {
        #expect(Golden.canonical.count >= 3)
        #expect(Golden.inputs.count >= 3)
    }

    @Test(arguments: Golden.canonical)
    func canonicalGoldenPrintsBackIdentically(name: String) throws {
        let source = try Golden.read(name)
        let m = try TIRText.parse(source)
        #expect(printModule(m) == source)
        let problems = verifyModule(m, file: name)
        #expect(problems.isEmpty, "\(DiagnosticList(problems))")
    }

    @Test(arguments: Golden.inputs)
    func nonCanonicalGoldenPrintsAsExpected(name: String) throws {
        let m = try TIRText.parse(try Golden.read("\(name).input.tir"))
        let printed = printModule(m)
        if ProcessInfo.processInfo.environment["TFC_RECORD"] == "1" {
            try printed.write(to: Golden.sourceFolder.appendingPathComponent("\(name).expected.tir"),
                              atomically: true, encoding: .utf8)
            return
        }
        #expect(printed == (try Golden.read("\(name).expected.tir")))
        // The expected text is itself canonical.
        #expect(printModule(try TIRText.parse(printed)) == printed)
        #expect(try TIRText.parse(printed) == m)
    }

    /// The examples are canonical except for their leading comments (not part of the IR).
    @Test(arguments: TIRText.exampleNames)
    func examplesAreCanonical(name: String) throws {
        let source = try TIRText.example(name)
        let withoutComments = source.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("//") }.joined(separator: "\n")
        #expect(printModule(try TIRText.parse(source)) == withoutComments)
    }

    /// The example in Docs/tir-language.md verifies and is written canonically.
    @Test func languageReferenceExampleIsCanonical() throws {
        let doc = try String(contentsOf: TIRText.repoRoot.appendingPathComponent("Docs/tir-language.md"), encoding: .utf8)
        let afterHeading = try #require(doc.range(of: "## Example\n\n```\n"))
        let end = try #require(doc.range(of: "```", range: afterHeading.upperBound..<doc.endIndex))
        let example = String(doc[afterHeading.upperBound..<end.lowerBound])
        let m = try TIRText.parse(example)
        #expect(verifyModule(m, file: "tir-language.md").isEmpty)
        let withoutComments = example.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("//") }.joined(separator: "\n")
        #expect(printModule(m) == withoutComments)
    }

    @Test func printsIRBuiltInCode() {
        var m = Module(name: "built", seq: SeqDecl(symbol: "S", max: 32))
        m.inputs = [Input(name: "x", type: TensorType(.f32, [.seq, .fixed(8)]))]
        m.params = [
            Param(name: "g", type: TensorType(.f32, [.fixed(8)]), initializer: .ones),
            Param(name: "w", type: TensorType(.f32, [.fixed(8), .fixed(24)])),
        ]
        m.body = [
            // An integer for a float attribute prints as a float; defaults are left out.
            Instruction(result: "n", op: .rmsnorm, operands: [.value("x"), .param("g")],
                        attrs: [("eps", .int(1))], type: TensorType(.f32, [.seq, .fixed(8)])),
            Instruction(result: "qkv", op: .linear, operands: [.value("n"), .param("w")],
                        type: TensorType(.f32, [.seq, .fixed(24)])),
            // Attributes given out of order print in OpInfo order.
            Instruction(result: "a", op: .attention, operands: [.value("qkv")],
                        attrs: [("causal", .bool(true)), ("heads", .int(2))], type: TensorType(.f32, [.seq, .fixed(8)])),
        ]
        m.outputs = [OutputRef(name: "a")]
        let text = printModule(m)
        #expect(text == """
            model @built {
              seq S <= 32
              weights random(seed = 0, std = 0.02)
              input %x : f32[S, 8]

              param @g : f32[8] = ones
              param @w : f32[8, 24]

              %n = rmsnorm(%x, @g) {eps = 1.0} : f32[S, 8]
              %qkv = linear(%n, @w) : f32[S, 24]
              %a = attention(%qkv) {heads = 2, causal = true} : f32[S, 8]
              output %a
            }

            """)
        #expect(verifyModule(m, file: "built").isEmpty)
        let reparsed = try? parseModule(text, file: "built")
        #expect(reparsed?.body[0].attrs.map(\.value) == [.float(1)])
        #expect(reparsed.map(printModule) == text)
    }

    @Test func invalidIRStillPrints() {
        // Unknown attributes follow the known ones; a `.seq` axis without a `seq` prints as `seq`.
        let m = Module(name: "bad", body: [
            Instruction(result: "y", op: .gelu, operands: [.value("x")],
                        attrs: [("fast", .bool(true)), ("approximation", .word("tanh"))],
                        type: TensorType(.f32, [.seq, .fixed(2)])),
        ])
        #expect(printModule(m) == """
            model @bad {
              weights random(seed = 0, std = 0.02)

              %y = gelu(%x) {approximation = tanh, fast = true} : f32[seq, 2]
            }

            """)
    }

    @Test func formatsTypesAndInstructions() {
        #expect(formatType(TensorType(.i32, [.seq]), seqSymbol: "T") == "i32[T]")
        #expect(formatType(TensorType(.f32, [.fixed(3), .fixed(32), .fixed(32)])) == "f32[3, 32, 32]")
        let instr = Instruction(result: "p", op: .patchEmbed, operands: [.value("img"), .param("w"), .param("b")],
                                attrs: [("patch", .int(16))], type: TensorType(.f32, [.fixed(196), .fixed(768)]))
        #expect(formatInstruction(instr) == "%p = patch_embed(%img, @w, @b) {patch = 16} : f32[196, 768]")
    }

    @Test func floatsRoundTripExactly() throws {
        for v in [0.1, 1e-12, 1.0 / 3.0, -2.5e-300, 123456789.125, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude] {
            var m = Module(name: "f", weights: .random(seed: 1, std: abs(v)))
            m.params = [Param(name: "p", type: TensorType(.f32, [.fixed(1)]), initializer: .uniform(low: v, high: v))]
            m.body = [Instruction(result: "y", op: .layernorm, operands: [.value("x")], attrs: [("eps", .float(v))],
                                  type: TensorType(.f32, [.fixed(1), .fixed(1)]))]
            let reparsed = try TIRText.parse(printModule(m))
            #expect(reparsed == m, "\(v)")
        }
    }

    @Test func stringsWithEveryEscapeRoundTrip() throws {
        var m = Module(name: "s", weights: .file("a \"b\" \\ c\n\t\r\u{1}\u{7F} é 😀"))
        m.params = [Param(name: "p", type: TensorType(.f32, [.fixed(1)]), initializer: .tensor("x\"y"))]
        let text = printModule(m)
        #expect(text.contains(#"weights "a \"b\" \\ c\n\t\r\u{1}\u{7f} é 😀""#))
        #expect(try TIRText.parse(text) == m)
    }
}
