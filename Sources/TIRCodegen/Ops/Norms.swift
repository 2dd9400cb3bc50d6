// layernorm, rmsnorm and crmsnorm, one row at a time, vectorized along the row.
import LLVMBridge
import TIR

extension FunctionLowering {
    /// The statistics in one vectorized pass (sum and sum of squares together; for LayerNorm
    /// shifted by the row's first element, which keeps the variance free of cancellation when the
    /// mean is large), then y = (x - mean) * rsqrt(var + eps) * g + b. A parameter-free norm read
    /// only by GEMMs (FusionPlan.scaleOnlyNorms), which apply the scale in their epilogue, stores
    /// just rsqrt(var + eps), one float per row.
    func lowerNorm(_ op: OpContext) throws {
        let kind = op.inst.op, x = op.operands[0], d = op.cols
        let eps = op.inst.double("eps") ?? 1e-5
        let gain = op.optional(1), bias = op.optional(2)
        let gainType = op.optionalType(1), biasType = op.optionalType(2)
        let scalesOnly = fusion.scaleOnlyNorms[op.inst.result] != nil
        let lanes = gemm.shape.lanes
        let vec = ir.vector(f32, lanes)
        let zero = ir.f32(0, lanes: lanes)
        let sums = b.alloca(vec), squares = b.alloca(vec)
        b.forLoop(op.rows) { r in
            let xr = b.gep(f32, x, b.mul(r, d))
            let shift = kind == .layernorm ? b.splat(loadF(xr, ir.i64(0)), lanes: lanes) : zero
            b.store(zero, sums, align: 4)
            b.store(zero, squares, align: 4)
            forEachChunk(d, lanes: lanes) { offset, mask in
                // Masked-off lanes load 0; minus the shift they would count, so select them out.
                let v = b.select(mask, b.fsub(b.maskedLoad(vec, b.gep(f32, xr, offset), mask), shift), zero)
                b.store(b.fadd(b.load(vec, sums, align: 4), v), sums, align: 4)
                b.store(b.fma(v, v, b.load(vec, squares, align: 4)), squares, align: 4)
            }
            let (total, totalSquares) = (b.reduceAdd(b.load(vec, sums, align: 4)), b.reduceAdd(b.load(vec, squares, align: 4)))
            let invD = ir.f32(1 / Double(d))
            var mean: Value = zero
            let meanSquare: Value
            switch kind {
            case .layernorm:
                let shiftedMean = b.fmul(total, invD)
                mean = b.fadd(shift, b.splat(shiftedMean, lanes: lanes))
                let variance = b.fsub(b.fmul(totalSquares, invD), b.fmul(shiftedMean, shiftedMean))
                meanSquare = b.maxnum(variance, ir.f32(0))
            case .crmsnorm:
                // The row stands for the zero-mean (d+1)-vector [x, -sum(x)].
                meanSquare = b.fmul(b.fma(total, total, totalSquares), ir.f32(1 / Double(d + 1)))
            default:
                meanSquare = b.fmul(totalSquares, invD)
            }
            let inv = b.fdiv(ir.f32(1), b.sqrt(b.fadd(meanSquare, ir.f32(eps))))
            if scalesOnly {
                storeF(inv, op.out, r)
                return
            }
            let yr = b.gep(f32, op.out, b.mul(r, d))
            let invVector = b.splat(inv, lanes: lanes)
            forEachChunk(d, lanes: lanes) { at, mask in
                var y = b.fmul(b.fsub(b.maskedLoad(vec, b.gep(f32, xr, at), mask), mean), invVector)
                if let gain { y = b.fmul(y, loadFloats(gain, at, gainType, lanes: lanes, mask: mask)) }
                if let bias { y = b.fadd(y, loadFloats(bias, at, biasType, lanes: lanes, mask: mask)) }
                b.maskedStore(y, b.gep(f32, yr, at), mask)
            }
        }
    }
}
