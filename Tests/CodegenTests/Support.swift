// Shared helpers of the codegen tests: loading models from text or Examples/, comparing outputs.
import Foundation
import TIR
import TIRFormats
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

/// Seeded inputs: ids within the vocabulary, floats in [-1, 1).
func randomInputs(_ module: Module, seqLen: Int, seed: UInt64) -> [String: HostTensor] {
    TIRFormats.randomInputs(for: module, seqLen: seqLen, seed: seed)
}
