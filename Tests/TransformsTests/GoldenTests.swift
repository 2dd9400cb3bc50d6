// Golden tests of the passes: each Golden/NAME.tir names its pipeline in a `// passes:` line;
// the printed result, preceded by the remarks, must equal Golden/NAME.expected.tir, and the
// result must compute the same function as the input (exact float64 arithmetic).
// Re-record the expected files with TFC_RECORD=1 swift test --filter GoldenTests.
import Foundation
import Testing
import TIR
import TIRFormats
import TIRTransforms

private let goldenDir = repoRoot.appendingPathComponent("Tests/TransformsTests/Golden")

private let cases: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: goldenDir.path)) ?? []
    return names.filter { $0.hasSuffix(".tir") && !$0.hasSuffix(".expected.tir") }.sorted()
}()

@Suite struct GoldenTests {
    @Test func thereAreCases() {
        #expect(cases.count >= 10)
        #expect(cases.filter { $0.hasPrefix("dont-") }.count >= 5)
    }

    @Test(arguments: cases)
    func golden(name: String) throws {
        let path = goldenDir.appendingPathComponent(name).path
        let source = try String(contentsOfFile: path, encoding: .utf8)
        let pipeline = try #require(source.split(separator: "\n").first { $0.hasPrefix("// passes: ") })
            .dropFirst("// passes: ".count)
        let program = try loadProgram(source: source, path: name)
        let ctx = try runPipeline(try parsePipeline(String(pipeline)), on: program, file: name) { pass, ctx in
            let problems = verifyModule(ctx.module, file: name)
            #expect(problems.isEmpty, "\(name): invalid after \(pass.name): \(problems)")
        }
        var text = "// \(pipeline) applied to \(name)\n"
        text += ctx.remarks.map { "// \($0.description)\n" }.joined()
        text += printModule(ctx.module)

        let expectedPath = goldenDir.appendingPathComponent(name.replacingOccurrences(of: ".tir", with: ".expected.tir")).path
        if ProcessInfo.processInfo.environment["TFC_RECORD"] == "1" {
            try text.write(toFile: expectedPath, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8)
        #expect(text == expected, "\(name): output differs from \(expectedPath); got:\n\(text)")

        // The rewrite preserves the function exactly.
        let seq = program.module.seq?.max ?? 1
        let inputs = randomInputs(program.module, seqLen: seq, seed: 9)
        let before = try evaluate(program, inputs, seqLen: seq)
        let after = try evaluate(ctx.program, inputs, seqLen: seq)
        #expect(relativeDifference(before, after) < 1e-12, "\(name): \(relativeDifference(before, after))")
    }
}
