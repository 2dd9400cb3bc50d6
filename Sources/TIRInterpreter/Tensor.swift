// The interpreter's working value: a dense row-major tensor of Doubles, plus the error type.

import TIR

/// A value during interpretation. i32 token ids are held as Double too: every Int32 is exact
/// in a Double, and one element type keeps the kernels simple. `dtype` remembers which it was,
/// so an op that needs ids (or floats) can refuse the other kind.
struct Tensor: Equatable {
    var dtype: DType
    var shape: [Int]
    var data: [Double]

    init(_ dtype: DType = .f32, shape: [Int], data: [Double]) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// A host value; bf16 is widened exactly and then is an f32 value like any other (ops read
    /// a bf16 parameter as the f32 it stands for).
    init(_ host: HostTensor) {
        self.init(host.dtype == .i32 ? .i32 : .f32, shape: host.shape, data: host.doubles)
    }

    var rank: Int { shape.count }
    var count: Int { data.count }

    /// `[2, 3]`, for messages.
    var shapeText: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

    /// Row `r` of a rank-2 tensor whose rows have `cols` elements.
    func row(_ r: Int, cols: Int) -> ArraySlice<Double> {
        data[(r * cols)..<((r + 1) * cols)]
    }
}

/// The number of elements of `shape`, or nil when a dim is negative or the product overflows
/// (types in a malformed module can say anything).
func elementCount(_ shape: [Int]) -> Int? {
    var count = 1
    for dim in shape {
        guard dim >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dim)
        if overflow { return nil }
        count = product
    }
    return count
}

/// Why a run failed: bad inputs from the caller (`.invalidInput`: an unknown token id, a wrong
/// sequence length, a missing or misshapen input), or a module or weights that do not fit
/// together (`.invalidModule`: what the verifier should have rejected, or a missing weight).
public struct InterpreterError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case invalidInput
        case invalidModule
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func input(_ message: String) -> InterpreterError { InterpreterError(.invalidInput, message) }
    static func module(_ message: String) -> InterpreterError { InterpreterError(.invalidModule, message) }
}
