// Shared helpers of the codegen tests: loading models from text or Examples/, comparing outputs.
import Foundation
import TIR
import TIRInterpreter

/// The repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

func examplePath(_ name: String) -> String { repoRoot.appendingPathComponent("Examples/\(name)").path }

struct LoadError: Error, CustomStringConvertible { let description: String }

/// Parses, verifies and resolves the weights of a model given as text (or read from `path`).
func load(source: String? = nil, path: String = "test.tir") throws -> (Module, Weights) {
    let text = try source ?? String(contentsOfFile: path, encoding: .utf8)
    do {
        let module = try parseAndVerifyModule(text, file: path)
        return (module, try loadWeights(for: module, tirPath: path))
    } catch let e as DiagnosticList {
        throw LoadError(description: e.rendered(source: text))
    } catch let e as Diagnostic {
        throw LoadError(description: e.rendered(source: text))
    }
}

/// max |a - b| / max |reference|: the error relative to the output's scale, which stays
/// meaningful for entries near zero.
func relativeError(_ a: [Float], _ reference: [Double]) -> Double {
    precondition(a.count == reference.count, "\(a.count) values vs \(reference.count)")
    let scale = max(reference.map(abs).max() ?? 0, 1e-30)
    return zip(a, reference).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

/// Seeded inputs: ids below `vocab`, floats in [-1, 1).
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
