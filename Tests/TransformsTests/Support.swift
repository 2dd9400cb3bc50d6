// Helpers of the pass tests: programs from text or Examples/, exact (float64) comparisons.
import Foundation
import Testing
import TIR
import TIRFormats
import TIRInterpreter
import TIRTransforms

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func examplePath(_ name: String) -> String { repoRoot.appendingPathComponent("Examples/\(name)").path }

struct LoadError: Error, CustomStringConvertible { let description: String }

/// Parses, verifies and resolves the weights of a model, as a Program.
func loadProgram(source: String? = nil, path: String = "test.tir") throws -> Program {
    let text = try source ?? String(contentsOfFile: path, encoding: .utf8)
    do {
        let module = try parseAndVerifyModule(text, file: path)
        return Program(module: module, weights: try loadWeights(for: module, tirPath: path))
    } catch let e as DiagnosticList {
        throw LoadError(description: e.rendered(source: text))
    } catch let e as Diagnostic {
        throw LoadError(description: e.rendered(source: text))
    }
}

/// Runs passes, checking that the verifier accepts the module after each one.
func apply(_ passes: [Pass], to program: Program) throws -> PassContext {
    try runPipeline(passes, on: program, file: "test.tir") { pass, ctx in
        let problems = verifyModule(ctx.module, file: "after-\(pass.name).tir")
        #expect(problems.isEmpty, "invalid IR after \(pass.name):\n\(problems.map(\.description).joined(separator: "\n"))\n\(printModule(ctx.module))")
    }
}

/// Evaluates a program in exact float64 arithmetic (its parameters unrounded).
func evaluate(_ program: Program, _ inputs: [String: HostTensor], seqLen: Int) throws -> [String: [Double]] {
    let params = program.params.mapValues { (shape: $0.shape, values: $0.values) }
    return try Interpreter(module: program.module, float64Params: params).run(inputs: inputs, seqLen: seqLen)
}

/// max |a - b| / max |a| over every output.
func relativeDifference(_ a: [String: [Double]], _ b: [String: [Double]]) -> Double {
    var worst = 0.0
    for (name, x) in a {
        guard let y = b[name], y.count == x.count else { return .infinity }
        let scale = max(x.map(abs).max() ?? 0, 1e-300)
        worst = max(worst, zip(x, y).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0)
    }
    return worst
}

/// Seeded inputs: ids within the vocabulary, floats in [-1, 1).
func randomInputs(_ module: Module, seqLen: Int, seed: UInt64) -> [String: HostTensor] {
    TIRFormats.randomInputs(for: module, seqLen: seqLen, seed: seed)
}

func ops(_ ctx: PassContext) -> [OpKind] { ctx.module.body.map(\.op) }
