// Pass infrastructure: a pass is a named value that rewrites a program through a context;
// pipelines are lists of names (`remove-mean,layernorm-to-rmsnorm`).
import Foundation  // trimmingCharacters
import TIR

/// A module together with its parameters in float64. Passes do their weight arithmetic here;
/// `weights` rounds once, at the end of a pipeline, to each parameter's declared dtype (f32,
/// or bf16 round-to-nearest-even straight from the float64 value).
public struct Program: Sendable {
    public var module: Module
    public var params: [String: ParamData]

    public init(module: Module, weights: Weights) {
        self.module = module
        params = weights.tensors.mapValues { ParamData(shape: $0.shape, values: $0.doubles) }
    }

    /// The parameters rounded to their declared dtypes, each exactly once.
    public var weights: Weights {
        var result = Weights()
        for (name, data) in params {
            let bf16 = module.param(named: name)?.type.dtype == .bf16
            result[name] = bf16 ? HostTensor(shape: data.shape, bf16: data.values.map { bf16Bits($0) })
                : HostTensor(shape: data.shape, f32: data.values.map { Float($0) })
        }
        return result
    }
}

/// A row-major parameter in float64.
public struct ParamData: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Double]

    public init(shape: [Int], values: [Double]) {
        precondition(shape.reduce(1, *) == values.count)
        self.shape = shape
        self.values = values
    }

    /// Elements per row: the last axis (the hidden axis of every parameter that touches the stream).
    public var cols: Int { shape.last ?? 1 }
    public var rows: Int { values.count / max(cols, 1) }

    public func row(_ r: Int) -> ArraySlice<Double> { values[(r * cols)..<((r + 1) * cols)] }
}

/// What a pass sees: the program, a log of remarks, and helpers that keep names unique and
/// drop parameters nobody reads.
public struct PassContext {
    public var program: Program
    public var remarks: [Diagnostic] = []
    /// The `.tir` file remarks point into.
    public let file: String

    public init(program: Program, file: String) {
        self.program = program
        self.file = file
    }

    public var module: Module {
        get { program.module }
        set { program.module = newValue }
    }

    public mutating func remark(_ loc: SourceLoc, _ message: String) {
        remarks.append(Diagnostic(.remark, file: file, loc: loc, message))
    }

    /// Every (instruction index, operand index) that reads `operand`.
    public func users(of operand: Operand) -> [(inst: Int, operand: Int)] {
        var result: [(Int, Int)] = []
        for (i, inst) in module.body.enumerated() {
            for (j, o) in inst.operands.enumerated() where o == operand { result.append((i, j)) }
        }
        return result
    }

    public func isOutput(_ name: String) -> Bool { module.outputs.contains { $0.name == name } }

    public func instruction(defining name: String) -> Int? { module.body.firstIndex { $0.result == name } }

    /// Adds a parameter holding `data`, stored as `dtype`, named `base` or `base.2`, `base.3`...
    /// if taken.
    public mutating func addParam(_ base: String, _ data: ParamData, dtype: DType = .f32, near loc: SourceLoc) -> String {
        var name = base, n = 2
        while program.params[name] != nil || module.param(named: name) != nil {
            name = "\(base).\(n)"
            n += 1
        }
        program.params[name] = data
        module.params.append(Param(name: name, type: TensorType(dtype, data.shape.map { .fixed($0) }), loc: loc))
        return name
    }

    /// Replaces a parameter's values (and shape; its dtype stays); its initializer now means
    /// "these values".
    public mutating func setParam(_ name: String, _ data: ParamData) {
        program.params[name] = data
        if let i = module.params.firstIndex(where: { $0.name == name }) {
            module.params[i].type = TensorType(module.params[i].type.dtype, data.shape.map { .fixed($0) })
            module.params[i].initializer = .default
        }
    }

    /// A parameter `name` that only the operand at (inst, operand) will own: itself when that is
    /// its only reader, else a copy (e.g. untying an embedding shared with the LM head).
    public mutating func ownedParam(_ name: String, at use: (inst: Int, operand: Int), suffix: String) -> String {
        guard users(of: .param(name)).count > 1, let data = program.params[name] else { return name }
        let dtype = module.param(named: name)?.type.dtype ?? .f32
        let copy = addParam(name + suffix, data, dtype: dtype, near: module.body[use.inst].loc)
        module.body[use.inst].operands[use.operand] = .param(copy)
        return copy
    }

    /// Drops parameters that no instruction reads any more.
    public mutating func removeDeadParams() {
        let used = Set(module.body.flatMap { $0.operands.compactMap { if case .param(let n) = $0 { return n } else { return nil } } })
        module.params.removeAll { !used.contains($0.name) }
        program.params = program.params.filter { used.contains($0.key) }
    }
}

/// A rewrite over a program. Each pass proves its own preconditions and, where they fail,
/// leaves the program alone and says why in a remark.
public struct Pass: Sendable {
    public let name: String
    public let summary: String
    public let run: @Sendable (inout PassContext) throws -> Void

    public init(name: String, summary: String, run: @escaping @Sendable (inout PassContext) throws -> Void) {
        self.name = name
        self.summary = summary
        self.run = run
    }
}

/// Every pass, in the order the full pipeline applies them (`to-bf16`, which rounds, last).
public let allPasses: [Pass] = [removeMean, layerNormToRMSNorm, foldNormAffine, compressCRMSNorm, toBF16]

public struct PassError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `remove-mean,layernorm-to-rmsnorm` -> the passes, or an error naming the unknown one.
public func parsePipeline(_ text: String) throws -> [Pass] {
    try text.split(separator: ",").map { piece in
        let name = piece.trimmingCharacters(in: .whitespaces)
        guard let pass = allPasses.first(where: { $0.name == name }) else {
            throw PassError("unknown pass '\(name)' (passes: \(allPasses.map(\.name).joined(separator: ", ")))")
        }
        return pass
    }
}

/// The model variants of the Pre-LN -> Pre-RMSNorm -> Pre-CRMSNorm rewrite.
public enum Variant: String, Sendable, CaseIterable {
    case preLN = "pre-ln"
    case preRMS = "pre-rms"
    case preCRMS = "pre-crms"

    public var passes: [Pass] {
        switch self {
        case .preLN: return []
        case .preRMS: return [removeMean, layerNormToRMSNorm, foldNormAffine]
        case .preCRMS: return [removeMean, layerNormToRMSNorm, foldNormAffine, compressCRMSNorm]
        }
    }
}

/// Runs `passes` in order. `afterEach` sees the program after every pass (the driver prints it
/// for `--print-after-all`; tests verify it).
public func runPipeline(_ passes: [Pass], on program: Program, file: String,
                        afterEach: (Pass, PassContext) throws -> Void = { _, _ in }) throws -> PassContext {
    var context = PassContext(program: program, file: file)
    for pass in passes {
        try pass.run(&context)
        context.removeDeadParams()
        try afterEach(pass, context)
    }
    return context
}
