// `tfc verify`: runs a model and its variants on seeded inputs, through the compiled code and
// the interpreter, and checks every one against the float64 interpreter of the original.
import Foundation
import TIR
import TIRCodegen
import TIRInterpreter
import TIRTransforms

public struct VerifyOptions: Sendable {
    /// Sequence lengths to try (default: 1, half the maximum and the maximum).
    public var seqLens: [Int]?
    /// Random inputs per sequence length.
    public var samples = 2
    public var seed: UInt64 = 1
    /// A variant passes when its error is at most `factor` times the compiled original's own
    /// float32 error (or `floor`, whichever is larger).
    public var factor = 10.0
    public var floor = 2e-6
    /// The compiled original itself must stay within this relative error of float64.
    public var baselineLimit = 1e-4
    /// bf16: the candidates round their matrix inputs and weights to bfloat16, which no
    /// multiple of the float32 noise can cover; they pass when their relative error is at most
    /// `bf16Tolerance` instead.
    public var precision: Precision = .fp32
    /// `bf16Factor` times bfloat16's relative rounding error 2^-8 (8 significant bits, round to
    /// nearest): every matrix product rounds its input and its weight once each, and the errors of
    /// the layers add up along the network, so a correct bf16 model lands within a few units of
    /// 2^-8 of float64 (gpt-tiny: about 3). This check is coarse: an error of a rewrite smaller
    /// than the tolerance passes it (a CRMSNorm dividing by d-1 scales its output by 0.8% on
    /// gpt-tiny); the fp32 check, exact up to float32 noise, is the one that proves a rewrite.
    public var bf16Factor = 8.0
    public var bf16Tolerance: Double { bf16Factor * 0x1p-8 }

    public init() {}
}

/// One (model, engine) pair's error against the reference.
public struct VerifyRow: Codable, Sendable {
    public var variant: String
    /// "compiled" (float32 native code, JIT) or "interpreter" (float64 arithmetic on the
    /// variant's float32 weights).
    public var engine: String
    public var maxAbs: Double
    /// maxAbs / max |reference|.
    public var maxRel: Double
    public var tolerance: Double
    public var pass: Bool
    /// Why the row failed when its numbers alone do not say (a non-finite output or tolerance).
    public var problem: String?
}

public struct VerifyReport: Codable, Sendable {
    public var model: String
    public var seqLens: [Int]
    /// Whether the model has a runtime sequence length (else seqLens is just [1]).
    public var dynamic: Bool
    public var inputs: Int
    /// The compiled original's relative error: float32 noise, the unit of the tolerance.
    public var baseline: Double
    /// The precision the candidates were rewritten to ("fp32" or "bf16").
    public var precision: String
    /// How the candidates' tolerance was set, in words (printed in the text report).
    public var toleranceRule: String
    public var rows: [VerifyRow]
    public var pass: Bool

    /// One line per pair, then the paper's summary lines.
    public var text: String {
        let lengths = dynamic ? "sequence lengths \(seqLens.map(String.init).joined(separator: ", "))" : "static shapes"
        var lines = ["\(model): \(inputs) random inputs (\(lengths)), each output against the float64 interpreter of the original"]
        if precision != Precision.fp32.rawValue { lines.append("tolerance: \(toleranceRule)") }
        let width = max(8, rows.map(\.variant.count).max() ?? 8)
        for r in rows {
            let name = r.variant.padding(toLength: width, withPad: " ", startingAt: 0)
            let engine = r.engine.padding(toLength: 11, withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(engine)  max abs \(sci(r.maxAbs))  max rel \(sci(r.maxRel))  tolerance \(sci(r.tolerance))  \(r.pass ? "ok" : "FAIL")"
                         + (r.problem.map { ": " + $0 } ?? ""))
        }
        let original = rows.first?.variant ?? Variant.preLN.rawValue
        for variant in uniqueVariants where variant != original {
            let ok = rows.filter { $0.variant == variant }.allSatisfy(\.pass)
            lines.append("\(displayName(original)) and \(displayName(variant)) are close: \(ok ? "True" : "False")")
        }
        return lines.joined(separator: "\n")
    }

    private var uniqueVariants: [String] {
        rows.map(\.variant).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }
}

private func sci(_ x: Double) -> String { String(format: "%.2e", x) }

/// A variant's name in the report: `pre-rms`, or `pre-rms+bf16` at bf16.
func verifyName(_ variant: Variant, _ precision: Precision) -> String {
    precision == .fp32 ? variant.rawValue : variant.rawValue + "+" + precision.rawValue
}

private func displayName(_ variant: String) -> String {
    for precision in Precision.allCases where precision != .fp32 && variant.hasSuffix("+" + precision.rawValue) {
        return displayName(String(variant.dropLast(precision.rawValue.count + 1))) + " (\(precision.rawValue))"
    }
    switch variant {
    case Variant.preLN.rawValue: return "Pre-LN"
    case Variant.preRMS.rawValue: return "Pre-RMSNorm"
    case Variant.preCRMS.rawValue: return "Pre-CRMSNorm"
    default: return variant
    }
}

/// Checks the original (named "pre-ln") and every candidate against the float64 interpreter
/// of the original, on the same seeded inputs.
public func verifyVariants(_ original: LoadedModel, candidates: [(name: String, model: LoadedModel)],
                           options: VerifyOptions = VerifyOptions(), progress: Progress = .silent) throws -> VerifyReport {
    let m = original.module
    let maxSeq = m.maxSeqLen
    let seqLens = options.seqLens ?? (m.seq == nil ? [1] : Array(Set([1, max(1, maxSeq / 2), maxSeq])).sorted())
    var inputSets: [(seq: Int, inputs: [String: HostTensor])] = []
    for seq in seqLens {
        for s in 0..<options.samples {
            let seed = options.seed &+ UInt64(seq) &* 1000 &+ UInt64(s)
            inputSets.append((seq, fillRandomInputs(original, given: [:], seed: seed, seqLen: seq)))
        }
    }
    progress.begin("computing the float64 reference")
    let reference = Interpreter(module: m, weights: original.weights)
    let references: [[String: [Double]]]
    do {
        references = try inputSets.map { try reference.run(inputs: $0.inputs, seqLen: $0.seq) }
    } catch {
        throw DriverError("error: \(error)")
    }

    // A reference with NaN or inf values makes every comparison meaningless: say so.
    var referenceProblem: String?
    for (set, ref) in zip(inputSets, references) {
        for out in m.outputs {
            if let r = ref[out.name], r.contains(where: { !$0.isFinite }) {
                referenceProblem = referenceProblem ?? "the float64 interpreter of the original gives non-finite values (NaN or inf) for output %\(out.name) at sequence length \(set.seq)"
            }
        }
    }

    /// (max abs, max rel, problem) of one engine over every input set and output. A NaN or inf
    /// output makes both errors infinite and names the output.
    func errors(_ model: LoadedModel, compiled: Bool) throws -> (Double, Double, String?) {
        let jit = compiled ? try JITModel(model.module, weights: model.weights) : nil
        let interpreter = Interpreter(module: model.module, weights: model.weights)
        var worstAbs = 0.0, worstRel = 0.0
        var problem = referenceProblem
        for (set, ref) in zip(inputSets, references) {
            var outputs: [String: [Double]]
            if let jit {
                outputs = try jit.run(inputs: set.inputs, seqLen: set.seq).mapValues { $0.floats.map(Double.init) }
            } else {
                outputs = try interpreter.run(inputs: set.inputs, seqLen: set.seq)
            }
            for out in m.outputs {
                guard let r = ref[out.name], let a = outputs[out.name], a.count == r.count else {
                    throw DriverError("error: \(model.path): output %\(out.name) is missing or has the wrong size")
                }
                if a.contains(where: { !$0.isFinite }) || r.contains(where: { !$0.isFinite }) {
                    // NaN compares false and inf - inf is NaN: make it the worst possible error.
                    if problem == nil, a.contains(where: { !$0.isFinite }) {
                        let kind = a.contains(where: \.isNaN) ? "NaN" : "inf"
                        problem = "output %\(out.name) has \(kind) values at sequence length \(set.seq)"
                    }
                    worstAbs = .infinity
                    worstRel = .infinity
                    continue
                }
                let diff = zip(a, r).map { abs($0 - $1) }.max() ?? 0
                let scale = max(r.map(abs).max() ?? 0, .leastNormalMagnitude)
                worstAbs = max(worstAbs, diff)
                worstRel = max(worstRel, diff / scale)
            }
        }
        return (worstAbs, worstRel, problem)
    }

    var rows: [VerifyRow] = []
    progress.begin("checking pre-ln")
    let (baseAbs, baseline, baseProblem) = try errors(original, compiled: true)
    let bf16 = options.precision == .bf16
    let tolerance = bf16 ? options.bf16Tolerance : max(options.factor * baseline, options.floor)
    let toleranceRule = bf16
        ? "\(sci(tolerance)) relative (max |a - r| / max |r|) = \(formatDouble(options.bf16Factor)) x 2^-8, bfloat16's relative rounding error: the bf16 candidates round every matrix input and weight to 8 significant bits, which float32 noise (the pre-ln compiled row) cannot measure"
        : "\(formatDouble(options.factor)) x the compiled original's relative error, at least \(sci(options.floor))"
    rows.append(VerifyRow(variant: Variant.preLN.rawValue, engine: "compiled", maxAbs: baseAbs, maxRel: baseline,
                          tolerance: options.baselineLimit, pass: baseProblem == nil && baseline <= options.baselineLimit,
                          problem: baseProblem))
    let toleranceProblem = tolerance.isFinite || bf16 ? nil
        : "the tolerance is not finite (\(options.factor) times the original's own error \(sci(baseline)))"
    for (name, model) in candidates {
        for compiled in [true, false] {
            progress.begin("checking \(name) (\(compiled ? "compiled" : "interpreter"))")
            let (a, r, problem) = try errors(model, compiled: compiled)
            let why = problem ?? toleranceProblem
            rows.append(VerifyRow(variant: name, engine: compiled ? "compiled" : "interpreter", maxAbs: a, maxRel: r,
                                  tolerance: tolerance, pass: why == nil && r.isFinite && r <= tolerance, problem: why))
        }
    }
    return VerifyReport(model: original.path, seqLens: seqLens, dynamic: m.seq != nil, inputs: inputSets.count, baseline: baseline,
                        precision: options.precision.rawValue, toleranceRule: toleranceRule, rows: rows, pass: rows.allSatisfy(\.pass))
}
