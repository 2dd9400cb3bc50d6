// Helpers of the pass tests: programs from text or Examples/, exact (float64) comparisons.
import Foundation
import Testing
import TIR
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

/// Seeded inputs: ids below the smallest table that reads them, floats in [-1, 1).
func randomInputs(_ module: Module, seqLen: Int, seed: UInt64) -> [String: HostTensor] {
    var state = seed
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var inputs: [String: HostTensor] = [:]
    for input in module.inputs {
        let shape = input.type.shape(seqLen: seqLen)
        let n = shape.reduce(1, *)
        if input.type.dtype == .i32 {
            let vocab = module.body.filter { $0.op == .embedding && $0.operands.first == .value(input.name) }
                .compactMap { module.type(of: $0.operands[1])?.staticShape?.first }.min() ?? 1
            inputs[input.name] = HostTensor(shape: shape, i32: (0..<n).map { _ in Int32(next() % UInt64(vocab)) })
        } else {
            inputs[input.name] = HostTensor(shape: shape, f32: (0..<n).map { _ in Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) })
        }
    }
    return inputs
}

func ops(_ ctx: PassContext) -> [OpKind] { ctx.module.body.map(\.op) }
