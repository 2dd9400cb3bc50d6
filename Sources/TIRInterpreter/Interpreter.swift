// The reference interpreter: runs a TIR Module in Double, one instruction at a time, checking
// every input, weight and shape on the way so that a bad call or a malformed module throws.

import TIR

public struct Interpreter: Sendable {
    public let module: Module
    public let weights: Weights

    /// Parameters given in float64 (they take precedence over `weights`): rewrites of the
    /// weights can then be checked in exact arithmetic, with no float32 rounding in between.
    private let float64Params: [String: Tensor]

    public init(module: Module, weights: Weights) {
        self.module = module
        self.weights = weights
        self.float64Params = [:]
    }

    public init(module: Module, float64Params: [String: (shape: [Int], values: [Double])]) {
        self.module = module
        self.weights = Weights()
        self.float64Params = float64Params.mapValues { Tensor(.f32, shape: $0.shape, data: $0.values) }
    }

    /// inputs: one HostTensor per module input, by name (i32 ids, f32 images), with the input's
    /// shape at `seqLen` (a flat, rank-1 tensor of the right length is accepted too).
    /// seqLen: the runtime length (the size of the `seq` dim); ignored for static models.
    /// Returns every output of the module by name, as Double, row-major.
    public func run(inputs: [String: HostTensor], seqLen: Int) throws -> [String: [Double]] {
        let seqLen = try checkedSeqLen(seqLen)
        var values = try checkedInputs(inputs, seqLen: seqLen)
        for inst in module.body {
            guard values[inst.result] == nil else {
                throw InterpreterError.module("%\(inst.result) is defined twice")
            }
            do {
                let result = try evaluate(inst, values: values, seqLen: seqLen)
                try checkResult(result, of: inst, seqLen: seqLen)
                values[inst.result] = result
            } catch let error as InterpreterError {
                // Name the instruction: kernels only know their operands.
                throw InterpreterError(error.kind, "\(context(inst)): \(error.message)")
            }
        }
        var outputs: [String: [Double]] = [:]
        for output in module.outputs {
            guard let value = values[output.name] else {
                throw InterpreterError.module("output %\(output.name) is never defined")
            }
            outputs[output.name] = value.data
        }
        return outputs
    }

    // MARK: - Inputs

    /// The sequence length the shapes are evaluated at: the caller's for a model with `seq`,
    /// 1 for a static one (which has no `seq` dim to size).
    private func checkedSeqLen(_ seqLen: Int) throws -> Int {
        guard let seq = module.seq else { return 1 }
        guard seqLen >= 1, seqLen <= seq.max else {
            throw InterpreterError.input(
                "sequence length \(seqLen) is outside [1, \(seq.max)] (\(seq.symbol) <= \(seq.max))")
        }
        return seqLen
    }

    /// Exactly the module's inputs, each of its declared dtype and shape.
    private func checkedInputs(_ inputs: [String: HostTensor], seqLen: Int) throws -> [String: Tensor] {
        let declared = Set(module.inputs.map(\.name))
        if let unknown = inputs.keys.sorted().first(where: { !declared.contains($0) }) {
            throw InterpreterError.input(
                "unknown input '\(unknown)' (\(module.name) takes \(inputNamesText))")
        }
        var values: [String: Tensor] = [:]
        for input in module.inputs {
            guard let host = inputs[input.name] else {
                throw InterpreterError.input("missing input '\(input.name)' (\(module.name) takes \(inputNamesText))")
            }
            guard host.dtype == input.type.dtype else {
                throw InterpreterError.input("input '\(input.name)' must be \(input.type.dtype), got \(host.dtype)")
            }
            let shape = input.type.shape(seqLen: seqLen)
            guard let count = elementCount(shape) else {
                throw InterpreterError.module(
                    "input '\(input.name)' has an invalid type \(describe(input.type, seqLen: seqLen))")
            }
            // The declared shape, or the same elements flat. data.count (not host.count, the
            // product of its shape) guards a HostTensor whose shape was edited after it was built.
            let data = host.doubles
            guard host.shape == shape || host.shape == [count], data.count == count else {
                let holding = data.count == host.count ? "" : " holding \(data.count) elements"
                let expected = describe(input.type, seqLen: seqLen)
                throw InterpreterError.input("input '\(input.name)' must be \(expected), got \(host.shape)\(holding)")
            }
            values[input.name] = Tensor(input.type.dtype, shape: shape, data: data)
        }
        return values
    }

    private var inputNamesText: String {
        module.inputs.isEmpty ? "no inputs" : module.inputs.map { "%\($0.name)" }.joined(separator: ", ")
    }

    // MARK: - Instructions

    /// One instruction: fetch and check its operands and attributes, then run its kernel.
    private func evaluate(_ inst: Instruction, values: [String: Tensor], seqLen: Int) throws -> Tensor {
        let info = OpInfo.of(inst.op)
        let operandCount = inst.operands.count
        guard operandCount >= info.requiredOperands, operandCount <= info.maxOperands else {
            throw InterpreterError.module(
                "takes \(info.requiredOperands)...\(info.maxOperands) operands, got \(operandCount)")
        }
        // Operand i as an f32 tensor; `float` gives nil for an absent optional operand.
        func float(_ i: Int) throws -> Tensor? {
            guard i < operandCount else { return nil }
            return try fetch(inst.operands[i], values: values, dtype: .f32)
        }
        func required(_ i: Int) throws -> Tensor {
            guard let t = try float(i) else { throw InterpreterError.module("operand \(i) is missing") }
            return t
        }

        switch inst.op {
        case .embedding:
            return try Kernel.embedding(ids: fetch(inst.operands[0], values: values, dtype: .i32), table: required(1))
        case .positions:
            guard let rows = inst.type.shape(seqLen: seqLen).first else {
                throw InterpreterError.module("result type must be [R, d]")
            }
            return try Kernel.positions(table: required(0), rows: rows, offset: inst.int("offset") ?? 0)
        case .patchEmbed:
            return try Kernel.patchEmbed(image: required(0), weight: required(1), bias: float(2),
                                         patch: intAttr(inst, "patch"), transposed: boolAttr(inst, "transposed"),
                                         bf16Input: computesInBF16(inst))
        case .clsToken:
            return try Kernel.clsToken(required(0), cls: required(1))
        case .add:
            return try Kernel.add(required(0), required(1))
        case .mul:
            return try Kernel.mul(required(0), required(1))
        case .linear:
            return try Kernel.linear(required(0), weight: required(1), bias: float(2),
                                     transposed: boolAttr(inst, "transposed"), bf16Input: computesInBF16(inst))
        case .layernorm:
            return try Kernel.layerNorm(required(0), gain: float(1), bias: float(2), eps: doubleAttr(inst, "eps"))
        case .rmsnorm:
            return try Kernel.rmsNorm(required(0), gain: float(1), bias: float(2), eps: doubleAttr(inst, "eps"))
        case .crmsnorm:
            return try Kernel.crmsNorm(required(0), gain: float(1), bias: float(2), eps: doubleAttr(inst, "eps"))
        case .attention:
            let heads = try intAttr(inst, "heads")
            let causal = try boolAttr(inst, "causal")
            switch operandCount {
            case 1:
                let (q, k, v) = try Kernel.splitFused(required(0))
                return try Kernel.attention(q: q, k: k, v: v, heads: heads, causal: causal)
            case 3:
                return try Kernel.attention(q: required(0), k: required(1), v: required(2),
                                            heads: heads, causal: causal)
            default:
                throw InterpreterError.module("takes one fused qkv operand or three (q, k, v), got \(operandCount)")
            }
        case .gelu:
            return try Kernel.gelu(required(0), approximation: wordAttr(inst, "approximation"))
        case .tanh:
            return Kernel.tanh(try required(0))
        case .relu:
            return Kernel.relu(try required(0))
        case .rope:
            return try Kernel.rope(required(0), heads: intAttr(inst, "heads"), rotaryDims: intAttr(inst, "rotary_dims"),
                                   base: doubleAttr(inst, "base"))
        case .selectRow:
            return try Kernel.selectRow(required(0), index: intAttr(inst, "index"))
        }
    }

    /// An operand's value: an input or earlier result, or a parameter read from the weights
    /// (which must exist and have the parameter's declared shape).
    private func fetch(_ operand: Operand, values: [String: Tensor], dtype: DType) throws -> Tensor {
        let value: Tensor
        switch operand {
        case .value(let name):
            guard let v = values[name] else { throw InterpreterError.module("%\(name) is used before it is defined") }
            value = v
        case .param(let name):
            guard let param = module.param(named: name) else {
                throw InterpreterError.module("@\(name) is not a declared parameter")
            }
            if let exact = float64Params[name] {
                value = exact
            } else if let host = weights[name] {
                value = Tensor(host)
            } else {
                throw InterpreterError.module("no weight for @\(name)")
            }
            guard let shape = param.type.staticShape, value.shape == shape, elementCount(shape) == value.count else {
                throw InterpreterError.module(
                    "weight @\(name) has shape \(value.shapeText), declared \(describe(param.type, seqLen: 1))")
            }
        }
        guard value.dtype == dtype else {
            throw InterpreterError.module("\(operand) is \(value.dtype), expected \(dtype)")
        }
        return value
    }

    /// Every op yields f32 of its declared type; a mismatch means the module's types are wrong.
    private func checkResult(_ result: Tensor, of inst: Instruction, seqLen: Int) throws {
        let declared = inst.type.shape(seqLen: seqLen)
        guard inst.type.dtype == .f32, result.shape == declared else {
            throw InterpreterError.module(
                "computed f32\(result.shapeText), but the declared type is \(describe(inst.type, seqLen: seqLen))")
        }
    }

    // MARK: - Attributes (the op table's default when omitted)

    private func attr(_ inst: Instruction, _ key: String) throws -> AttrValue {
        if let value = inst.attr(key) { return value }
        if let value = OpInfo.of(inst.op).attrs.first(where: { $0.key == key })?.defaultValue { return value }
        throw InterpreterError.module("missing attribute '\(key)'")
    }

    private func intAttr(_ inst: Instruction, _ key: String) throws -> Int {
        guard case .int(let v) = try attr(inst, key) else { throw wrongKind(key, "an integer") }
        return v
    }

    private func doubleAttr(_ inst: Instruction, _ key: String) throws -> Double {
        guard let v = try attr(inst, key).doubleValue else { throw wrongKind(key, "a number") }
        return v
    }

    private func boolAttr(_ inst: Instruction, _ key: String) throws -> Bool {
        guard case .bool(let v) = try attr(inst, key) else { throw wrongKind(key, "true or false") }
        return v
    }

    private func wordAttr(_ inst: Instruction, _ key: String) throws -> String {
        guard case .word(let v) = try attr(inst, key) else { throw wrongKind(key, "a word") }
        return v
    }

    /// `compute = bf16` (the matrix input is rounded to bfloat16 first); f32 otherwise.
    private func computesInBF16(_ inst: Instruction) throws -> Bool {
        switch try wordAttr(inst, "compute") {
        case "f32": return false
        case "bf16": return true
        case let other: throw InterpreterError.module("unknown compute '\(other)'")
        }
    }

    private func wrongKind(_ key: String, _ expected: String) -> InterpreterError {
        InterpreterError.module("attribute '\(key)' must be \(expected)")
    }

    // MARK: - Messages

    /// `%h0.att = attention (line 12)`: where an error happened.
    private func context(_ inst: Instruction) -> String {
        let line = inst.loc.line > 0 ? " (line \(inst.loc.line))" : ""
        return "%\(inst.result) = \(inst.op.rawValue)\(line)"
    }

    /// `f32[T, 64] ([5, 64] at T = 5)`, or `f32[3, 32, 32]` when static.
    private func describe(_ type: TensorType, seqLen: Int) -> String {
        let written = "\(type.dtype)[" + type.dims.map { dim -> String in
            if dim == .seq, let seq = module.seq { return seq.symbol }
            return dim.description
        }.joined(separator: ", ") + "]"
        guard type.isDynamic else { return written }
        return written + " (\(type.shape(seqLen: seqLen)) at \(module.seq?.symbol ?? "seq") = \(seqLen))"
    }
}
