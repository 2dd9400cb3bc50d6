// Dense host-side tensors: parameter values, model inputs and outputs outside compiled code.

/// A row-major tensor held in Swift arrays.
public struct HostTensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case f32([Float])
        case i32([Int32])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], f32 data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) elements")
        self.shape = shape
        self.storage = .f32(data)
    }

    public init(shape: [Int], i32 data: [Int32]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) elements")
        self.shape = shape
        self.storage = .i32(data)
    }

    public var dtype: DType {
        switch storage {
        case .f32: return .f32
        case .i32: return .i32
        }
    }

    public var count: Int { shape.reduce(1, *) }

    /// The elements as Float (i32 values converted).
    public var floats: [Float] {
        switch storage {
        case .f32(let v): return v
        case .i32(let v): return v.map { Float($0) }
        }
    }

    /// The elements as Double (i32 values converted).
    public var doubles: [Double] {
        switch storage {
        case .f32(let v): return v.map { Double($0) }
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
