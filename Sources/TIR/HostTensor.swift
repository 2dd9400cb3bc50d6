// Dense host-side tensors: parameter values, model inputs and outputs outside compiled code.

/// A row-major tensor held in Swift arrays.
public struct HostTensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case f32([Float])
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

    /// The elements as Float (i32 values converted).
    public var floats: [Float] {
        switch storage {
        case .f32(let v): return v
        case .bf16(let v): return v.map(floatFromBF16)
        case .i32(let v): return v.map { Float($0) }
        }
    }

    /// The elements as Double (i32 values converted).
    public var doubles: [Double] {
        switch storage {
        case .f32(let v): return v.map { Double($0) }
        case .bf16(let v): return v.map { Double(floatFromBF16($0)) }
        case .i32(let v): return v.map { Double($0) }
        }
    }
}

/// Every parameter of a module, resolved to float32 values (shape = the parameter's type).
public struct Weights: Sendable, Equatable {
    public var tensors: [String: HostTensor]

    public init(_ tensors: [String: HostTensor] = [:]) { self.tensors = tensors }

    public subscript(name: String) -> HostTensor? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }
}

/// The float a bfloat16 stands for (exact).
public func floatFromBF16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// x rounded to the nearest bfloat16, ties to even; NaN stays NaN.
public func bf16Bits(_ x: Float) -> UInt16 {
    let u = x.bitPattern
    if x.isNaN { return UInt16(u >> 16) | 0x40 }
    return UInt16((u + 0x7FFF + ((u >> 16) & 1)) >> 16)
}
