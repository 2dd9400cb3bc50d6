// Helpers for the interpreter tests: a small module builder, deterministic weights shared with
// make_reference.py, and array comparisons.

import TIR
import TIRInterpreter

/// `seq` as a dim, for brevity in types: `[T, .fixed(8)]`.
let T = Dim.seq

/// Builds a Module instruction by instruction, the way a `.tir` file reads.
struct ModelBuilder {
    var module: Module

    init(_ name: String, maxSeq: Int? = nil) {
        module = Module(name: name, seq: maxSeq.map { SeqDecl(symbol: "T", max: $0) })
    }

    @discardableResult
    mutating func input(_ name: String, _ dtype: DType, _ dims: [Dim]) -> Operand {
        module.inputs.append(Input(name: name, type: TensorType(dtype, dims)))
        return .value(name)
    }

    @discardableResult
    mutating func param(_ name: String, _ shape: [Int]) -> Operand {
        module.params.append(Param(name: name, type: TensorType(.f32, shape.map { .fixed($0) })))
        return .param(name)
    }

    @discardableResult
    mutating func op(_ result: String, _ op: OpKind, _ operands: [Operand],
                     _ attrs: [(key: String, value: AttrValue)] = [], _ dims: [Dim]) -> Operand {
        module.body.append(Instruction(result: result, op: op, operands: operands, attrs: attrs,
                                       type: TensorType(.f32, dims)))
        return .value(result)
    }

    mutating func output(_ name: String) {
        module.outputs.append(OutputRef(name: name))
    }
}

func f32(_ shape: [Int], _ values: [Double]) -> HostTensor {
    HostTensor(shape: shape, f32: values.map { Float($0) })
}

/// An f32 tensor of `shape` with every element `value`.
func filled(_ shape: [Int], _ value: Double = 0) -> HostTensor {
    f32(shape, Array(repeating: value, count: shape.reduce(1, *)))
}

func i32(_ values: [Int32]) -> HostTensor {
    HostTensor(shape: [values.count], i32: values)
}

func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// True when the arrays have the same length and agree elementwise within `tolerance`.
func allClose(_ a: [Double], _ b: [Double], _ tolerance: Double) -> Bool {
    maxAbsDiff(a, b) <= tolerance
}

/// Runs a module and returns its first output.
func runFirstOutput(_ module: Module, weights: [String: HostTensor] = [:], inputs: [String: HostTensor],
                    seqLen: Int = 1) throws -> [Double] {
    let outputs = try Interpreter(module: module, weights: Weights(weights)).run(inputs: inputs, seqLen: seqLen)
    return outputs[module.outputs.first?.name ?? ""] ?? []
}

/// A static module with one instruction `%y = op(inputs..., params...) {attrs} : f32[shape]`,
/// run on the given inputs (their types taken from the tensors): one op tested on its own.
func evaluateOp(_ op: OpKind, inputs: KeyValuePairs<String, HostTensor>,
                params: KeyValuePairs<String, HostTensor> = [:],
                attrs: [(key: String, value: AttrValue)] = [], shape: [Int]) throws -> [Double] {
    var b = ModelBuilder("single_op")
    var operands: [Operand] = []
    for (name, tensor) in inputs { operands.append(b.input(name, tensor.dtype, tensor.shape.map { .fixed($0) })) }
    for (name, tensor) in params { operands.append(b.param(name, tensor.shape)) }
    b.op("y", op, operands, attrs, shape.map { .fixed($0) })
    b.output("y")
    return try runFirstOutput(b.module, weights: Dictionary(uniqueKeysWithValues: params.map { ($0, $1) }),
                              inputs: Dictionary(uniqueKeysWithValues: inputs.map { ($0, $1) }))
}

// MARK: - Deterministic weights, bit-identical to make_reference.py

/// Fills every parameter (and any extra named tensor) from a per-name splitmix64 stream seeded
/// with FNV-1a of the name. Each value is `offset + scale * (k - 1024) / 1024` with k an 11-bit
/// integer and power-of-two offset and scale, so it is exact in Float and in Double: Swift and
/// numpy start from the very same numbers and only the arithmetic is compared.
enum DyadicWeights {
    static func tensor(_ name: String, _ shape: [Int]) -> HostTensor {
        let (offset, scale) = spec(name)
        var state = fnv1a(name)
        let count = shape.reduce(1, *)
        let values = (0..<count).map { _ -> Float in
            let k = Int(splitmix64(&state) >> 53)  // top 11 bits: 0..<2048
            return Float(offset + scale * Double(k - 1024) / 1024)
        }
        return HostTensor(shape: shape, f32: values)
    }

    static func weights(for module: Module) -> Weights {
        var tensors: [String: HostTensor] = [:]
        for param in module.params {
            tensors[param.name] = tensor(param.name, param.type.staticShape ?? [])
        }
        return Weights(tensors)
    }

    /// (offset, scale) by name; the same table is in make_reference.py.
    static func spec(_ name: String) -> (Double, Double) {
        if name.hasSuffix(".g") { return (1, 0.25) }
        switch name {
        case "wte": return (0.5, 1)
        case "wpe", "pos": return (-0.25, 0.5)
        default: return (0, 0.5)
        }
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in s.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    static func splitmix64(_ state: inout UInt64) -> UInt64 {
        state = state &+ 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
