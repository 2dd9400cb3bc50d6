// Elementwise ops over whole rows, vectorized: add and mul, and the activations (GELU, tanh, ReLU), which
// share their code with the GEMM epilogue (Activation in Kernels/VectorMath.swift) so that a fused
// and an unfused activation compute the same numbers.
import LLVMBridge
import TIR

extension FunctionLowering {
    /// out = lhs + rhs (or lhs * rhs), element by element (both of the result's shape; a parameter may be bf16).
    func lowerBinary(_ op: OpContext) throws {
        let lanes = gemm.shape.lanes
        let (lhs, rhs) = (op.operands[0], op.operands[1])
        let (lhsType, rhsType) = (op.types[0].dtype, op.types[1].dtype)
        let combine: (Value, Value) -> Value
        switch op.inst.op {
        case .add: combine = { x, y in self.b.fadd(x, y) }
        case .mul: combine = { x, y in self.b.fmul(x, y) }
        default: throw CodegenError("%\(op.inst.result): \(op.inst.op) is not a binary elementwise op")
        }
        forEachChunk(b.mul(op.rows, op.cols), lanes: lanes) { at, mask in
            let x = loadFloats(lhs, at, lhsType, lanes: lanes, mask: mask)
            let y = loadFloats(rhs, at, rhsType, lanes: lanes, mask: mask)
            b.maskedStore(combine(x, y), b.gep(f32, op.out, at), mask)
        }
    }

    /// out = f(x) for an activation f.
    func lowerActivation(_ op: OpContext) throws {
        guard let activation = Activation(op.inst) else {
            throw CodegenError("%\(op.inst.result): \(op.inst.op) is not an activation")
        }
        let lanes = gemm.shape.lanes, x = op.operands[0], dtype = op.types[0].dtype
        let math = VectorMath(b: b, lanes: lanes)
        forEachChunk(b.mul(op.rows, op.cols), lanes: lanes) { at, mask in
            let y = activation.apply(loadFloats(x, at, dtype, lanes: lanes, mask: mask), math)
            b.maskedStore(y, b.gep(f32, op.out, at), mask)
        }
    }
}
