// Differential checks of generated models: compiled code against the interpreter in every
// variant, every variant against the original in float64, and for a GPT the extend entry
// points (a key/value cache filled in chunks) against the forward. Used by `Fuzz/`'s `differential`
// driver (which shrinks a failure with Shrinker.swift) and by Tests/TFCTests/DifferentialTests.swift.
import Foundation
import TFCDriver
import TIR
import TIRCodegen
import TIRFormats
import TIRInterpreter
import TIRTransforms

/// Tolerances and inputs of `checkDifferential`.
public struct DifferentialOptions: Sendable {
    /// Compiled float32 code against the interpreter on the same (float32) weights: relative
    /// error, max |a - r| / max |r|. Generated models can be ill-conditioned (wide gains, a
    /// large residual offset), hence 1e-4 rather than float32's 1e-6.
    public var compiledTolerance = 1e-4
    /// A rewritten variant (its float64 parameters) against the original, both in float64.
    public var float64Tolerance = 1e-9
    public var variants = Variant.allCases
    /// Whether to compile and run native code (the compiled-vs-interpreter check); without it
    /// only the float64 check runs, in a fraction of the time (a JIT compile dominates).
    public var compiled = true
    /// Seeds `fillRandomInputs` (plus the sequence length).
    public var inputSeed: UInt64 = 1
    /// Threads of the compiled code (0: one per core).
    public var threads = 0

    public init() {}
}

/// One check that did not hold.
public struct DifferentialFailure: Sendable, Hashable, CustomStringConvertible {
    public enum Check: String, Sendable, Hashable {
        /// The variant's compiled code against the interpreter, both on its float32 weights.
        case compiled = "compiled vs interpreter"
        /// The variant against the original, both in float64.
        case float64 = "float64 vs original"
        /// A causal model's extend entry points, a few positions at a time, against its forward.
        case extend = "extend vs forward"
        /// Something threw: rewriting, compiling, running.
        case error
    }

    public var variant: Variant
    public var check: Check
    public var seqLen: Int?
    /// The relative error found (infinity for a thrown error or a NaN).
    public var error: Double
    public var limit: Double
    public var message: String

    public var description: String {
        let at = seqLen.map { " at seq \($0)" } ?? ""
        if check == .error { return "\(variant.rawValue): \(message)" }
        return "\(variant.rawValue) \(check.rawValue)\(at): relative error \(String(format: "%.3e", error))"
            + " > \(String(format: "%.0e", limit))"
    }

    /// Whether `other` is the same kind of failure (same variant, same check): what a shrink
    /// keeps.
    public func sameKind(as other: DifferentialFailure) -> Bool { variant == other.variant && check == other.check }
}

/// The outcome of `checkDifferential` on one spec.
public struct DifferentialReport: Sendable {
    public var spec: ModelSpec
    public var failures: [DifferentialFailure] = []
    /// The largest errors seen in each check (over variants and sequence lengths).
    public var worstCompiled = 0.0
    public var worstFloat64 = 0.0
    /// Engines run: (variant, compiled or float64 check, sequence length) triples.
    public var comparisons = 0

    public var passed: Bool { failures.isEmpty }
}

/// Generates `spec`'s model and checks, at sequence lengths 1 and the maximum, in every
/// variant: the compiled code (JITModel) against the interpreter on the variant's float32
/// weights, and (pre-rms, pre-crms) the variant's float64 program against the original's.
public func checkDifferential(_ spec: ModelSpec, options: DifferentialOptions = DifferentialOptions()) -> DifferentialReport {
    var report = DifferentialReport(spec: spec)
    let module = generateModel(spec)
    let path = "generated.tir"
    let problems = verifyModule(module, file: path)
    guard problems.isEmpty else {
        report.failures.append(DifferentialFailure(
            variant: .preLN, check: .error, seqLen: nil, error: .infinity, limit: 0,
            message: "the generated model does not verify: " + problems.map(\.description).joined(separator: "; ")))
        return report
    }
    let model: LoadedModel
    let references: [[String: [Double]]]
    let seqLens = Array(Set([1, module.maxSeqLen])).sorted()
    let inputs: [[String: HostTensor]]
    do {
        let weights = try loadWeights(for: module, tirPath: path)
        model = LoadedModel(path: path, source: printModule(module), module: module, weights: weights)
        inputs = seqLens.map { fillRandomInputs(model, given: [:], seed: options.inputSeed &+ UInt64($0), seqLen: $0) }
        let original = Program(module: module, weights: weights)
        references = try zip(seqLens, inputs).map { try evaluate64(original, $1, seq: $0) }
    } catch {
        report.failures.append(DifferentialFailure(variant: .preLN, check: .error, seqLen: nil, error: .infinity,
                                                   limit: 0, message: "the original does not run: \(error)"))
        return report
    }

    for variant in options.variants {
        var stage = "rewriting"
        do {
            let rewritten = try rewrite(model, variant: variant)
            stage = "compiling"
            let jit = options.compiled
                ? try JITModel(rewritten.model.module, weights: rewritten.model.weights, threads: options.threads,
                               extend: spec.gpt != nil) : nil
            let interpreter = Interpreter(module: rewritten.model.module, weights: rewritten.model.weights)
            for (i, seq) in seqLens.enumerated() {
                stage = "running at seq \(seq)"
                if let jit {
                    let native = try jit.run(inputs: inputs[i], seqLen: seq).mapValues { $0.floats.map(Double.init) }
                    let interpreted = try interpreter.run(inputs: inputs[i], seqLen: seq)
                    let compiledError = relativeError(native, reference: interpreted, outputs: module.outputs)
                    report.worstCompiled = max(report.worstCompiled, compiledError)
                    report.comparisons += 1
                    if !(compiledError <= options.compiledTolerance) {
                        report.failures.append(DifferentialFailure(
                            variant: variant, check: .compiled, seqLen: seq, error: compiledError,
                            limit: options.compiledTolerance, message: ""))
                    }
                    if spec.gpt != nil, seq > 1 {
                        stage = "extending to seq \(seq)"
                        let extendError = try extendError(jit, inputs[i], seq: seq, forward: native, outputs: module.outputs)
                        report.comparisons += 1
                        if !(extendError <= options.compiledTolerance) {
                            report.failures.append(DifferentialFailure(
                                variant: variant, check: .extend, seqLen: seq, error: extendError,
                                limit: options.compiledTolerance, message: ""))
                        }
                    }
                }
                guard variant != .preLN else { continue }
                let exact = try evaluate64(rewritten.program, inputs[i], seq: seq)
                let float64Error = relativeError(exact, reference: references[i], outputs: module.outputs)
                report.worstFloat64 = max(report.worstFloat64, float64Error)
                report.comparisons += 1
                if !(float64Error <= options.float64Tolerance) {
                    report.failures.append(DifferentialFailure(variant: variant, check: .float64, seqLen: seq,
                                                               error: float64Error, limit: options.float64Tolerance,
                                                               message: ""))
                }
            }
        } catch {
            report.failures.append(DifferentialFailure(variant: variant, check: .error, seqLen: nil, error: .infinity,
                                                       limit: 0, message: "\(stage): \(error)"))
        }
    }
    return report
}

/// The largest relative error of the extend entry points against the forward's outputs
/// (`forward`, every position of `inputs`): a third of the positions at once (outputs of all),
/// then one, then the rest (outputs of the last).
private func extendError(_ jit: JITModel, _ inputs: [String: HostTensor], seq: Int, forward: [String: [Double]],
                         outputs: [OutputRef]) throws -> Double {
    let session = try CacheSession(jit)
    let prompt = max(1, seq / 3)
    var chunks = [0..<prompt]
    if prompt < seq { chunks.append(prompt..<(prompt + 1)) }
    if prompt + 1 < seq { chunks.append((prompt + 1)..<seq) }
    var worst = 0.0
    for (i, chunk) in chunks.enumerated() {
        let all = i == 0
        let got = try session.extend(inputs.mapValues { $0.rows(chunk) }, allPositions: all)
        let positions = all ? chunk : (chunk.upperBound - 1)..<chunk.upperBound
        let expected = forward.mapValues { values in
            let perRow = values.count / seq
            return Array(values[(positions.lowerBound * perRow)..<(positions.upperBound * perRow)])
        }
        worst = max(worst, relativeError(got.mapValues { $0.floats.map(Double.init) }, reference: expected, outputs: outputs))
    }
    return worst
}

/// Runs a program with its parameters in float64: no rounding anywhere.
private func evaluate64(_ program: Program, _ inputs: [String: HostTensor], seq: Int) throws -> [String: [Double]] {
    let params = program.params.mapValues { (shape: $0.shape, values: $0.values) }
    return try Interpreter(module: program.module, float64Params: params).run(inputs: inputs, seqLen: seq)
}

/// max |a - r| / max |r| over every output; infinity for a missing output, a size mismatch
/// or a NaN or infinity anywhere.
private func relativeError(_ a: [String: [Double]], reference: [String: [Double]], outputs: [OutputRef]) -> Double {
    var worst = 0.0
    for output in outputs {
        guard let x = a[output.name], let r = reference[output.name], x.count == r.count else { return .infinity }
        if !x.allSatisfy(\.isFinite) || !r.allSatisfy(\.isFinite) { return .infinity }
        let scale = max(r.map(abs).max() ?? 0, 1e-300)
        let diff = zip(x, r).map { abs($0 - $1) }.max() ?? 0
        worst = max(worst, diff / scale)
    }
    return worst
}
