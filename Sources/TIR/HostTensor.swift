// Dense host-side tensors: parameter values, model inputs and outputs outside compiled code.

/// A row-major tensor held in Swift arrays.
public struct HostTensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case f32([Float])
        /// Raw bfloat16 bits: each is the top 16 bits of the f32 it stands for.
        case bf16([UInt16])
        case i32([Int32])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], f32 data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) elements")
        self.shape = shape
        self.storage = .f32(data)
    }

    public init(shape: [Int], bf16 bits: [UInt16]) {
        precondition(shape.reduce(1, *) == bits.count, "shape \(shape) does not hold \(bits.count) elements")
        self.shape = shape
        self.storage = .bf16(bits)
    }

    public init(shape: [Int], i32 data: [Int32]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) elements")
        self.shape = shape
        self.storage = .i32(data)
    }

    public var dtype: DType {
        switch storage {
        case .f32: return .f32
        case .bf16: return .bf16
        case .i32: return .i32
        }
    }

    public var count: Int { shape.reduce(1, *) }

    /// The elements as Float (bf16 widened exactly, i32 values converted).
    public var floats: [Float] {
        switch storage {
        case .f32(let v): return v
        case .bf16(let v): return v.map(floatFromBF16)
        case .i32(let v): return v.map { Float($0) }
        }
    }

    /// Rows `range` of the first axis.
    public func rows(_ range: Range<Int>) -> HostTensor {
        let perRow = shape.dropFirst().reduce(1, *)
        let elements = (range.lowerBound * perRow)..<(range.upperBound * perRow)
        let shape = [range.count] + shape.dropFirst()
        switch storage {
        case .f32(let v): return HostTensor(shape: shape, f32: Array(v[elements]))
        case .bf16(let v): return HostTensor(shape: shape, bf16: Array(v[elements]))
        case .i32(let v): return HostTensor(shape: shape, i32: Array(v[elements]))
        }
    }

    /// The elements as Double (bf16 widened exactly, i32 values converted).
    public var doubles: [Double] {
        switch storage {
        case .f32(let v): return v.map { Double($0) }
        case .bf16(let v): return v.map { Double(floatFromBF16($0)) }
        case .i32(let v): return v.map { Double($0) }
        }
    }
}

/// The f32 a bfloat16 stands for: its bits are the top half of that f32's, so this is exact.
public func floatFromBF16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// `x` rounded to the nearest bfloat16, ties to even; values past the largest bfloat16 round
/// to infinity as IEEE rounding does, and a NaN stays a (quiet) NaN of the same sign.
public func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    // Dropping the low half could turn a NaN whose payload lives there into infinity.
    if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    // Adding 0x7FFF plus the lowest kept bit carries into the kept half exactly when the
    // dropped half is above one half, or equal to it with an odd kept half.
    let lowestKept = (bits >> 16) & 1
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lowestKept) >> 16)
}

/// `x` rounded to the nearest bfloat16, ties to even, in one step: going through Float first
/// would round twice, and a value just off a bfloat16 tie could land on it.
public func bf16Bits(_ x: Double) -> UInt16 {
    if x.isNaN { return x.sign == .minus ? 0xFFC0 : 0x7FC0 }
    if x.isInfinite || x == 0 { return UInt16(truncatingIfNeeded: Float(x).bitPattern >> 16) }
    // bfloat16 keeps 8 significant bits; below 2^-126 its spacing stays 2^-133 (subnormals).
    // Scaling by a power of two is exact, so only `rounded` rounds.
    let exponent = max(Int(x.exponent), -126)
    let spacing = Double(sign: .plus, exponent: exponent - 7, significand: 1)
    let rounded = (x / spacing).rounded(.toNearestOrEven) * spacing
    // `rounded` is a bfloat16 value (or past the largest, which Float makes infinite).
    return UInt16(truncatingIfNeeded: Float(rounded).bitPattern >> 16)
}

/// Every parameter of a module, resolved to host values (shape = the parameter's type; f32
/// or bf16 storage as the parameter is declared).
public struct Weights: Sendable, Equatable {
    public var tensors: [String: HostTensor]

    public init(_ tensors: [String: HostTensor] = [:]) { self.tensors = tensors }

    public subscript(name: String) -> HostTensor? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }
}

extension Module {
    /// The sequence length that `inputs` imply: the first axis of the first given input whose
    /// first axis is `seq`; 1 for a model without such an input. nil when the model has such
    /// inputs but none of them is given. (The one rule of the driver and the JIT runner.)
    public func impliedSeqLen(_ inputs: [String: HostTensor]) -> Int? {
        let sequenceInputs = self.inputs.filter { $0.type.dims.first == .seq }
        guard !sequenceInputs.isEmpty else { return 1 }
        for input in sequenceInputs {
            if let t = inputs[input.name] { return t.shape.first ?? 1 }
        }
        return nil
    }
}
