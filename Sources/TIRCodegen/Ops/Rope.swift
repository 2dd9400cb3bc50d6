// rope: rotary position embedding. The cosines and sines of every (position, frequency) pair the
// model can ask for are computed once, in float64, at compile time, and stored as a constant
// table; the code turns each row's pairs of columns with them, vectorized over the frequencies.
import Foundation
import LLVMBridge
import TIR

extension FunctionLowering {
    /// out[r, h*dh + i] and out[r, h*dh + i + rotary/2], for i < rotary/2, are x's pair turned
    /// by the angle p * base^(-2i/rotary), p the row's position (op.position + r: in an extend
    /// step, after the cache's); the other columns are copied.
    func lowerRope(_ op: OpContext) throws {
        let inst = op.inst, width = op.cols
        guard let heads = inst.int("heads"), let rotary = inst.int("rotary_dims"), let base = inst.double("base"),
              heads > 0, width % heads == 0, rotary > 0, rotary % 2 == 0, rotary <= width / heads else {
            throw CodegenError("rope %\(inst.result): heads and rotary_dims must fit the width \(width)")
        }
        // Every position a row can have: the most rows the value has (the sequence bound, or a
        // fixed row count); an extend step's positions stay below the cache's context, which the
        // sequence bound bounds.
        let dh = width / heads, half = rotary / 2
        let positions = inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1
        let table = ropeTable(half: half, rotary: rotary, base: base, positions: positions)
        let (x, out) = (op.operands[0], op.out)
        let lanes = gemm.shape.lanes, vec = ir.vector(f32, lanes)
        b.forLoop(op.rows) { r in
            let position = b.add(op.position, r)
            let cosines = b.gep(f32, table, b.mul(position, half))
            let sines = b.gep(f32, table, b.add(b.mul(position, half), ir.i64(positions * half)))
            let row = b.mul(r, width)
            // The columns past rotary_dims are x's (out is never x's buffer: the memory plan
            // keeps an operand's slot while its op writes).
            if rotary < dh {
                copyFloats(to: b.gep(f32, out, row), from: b.gep(f32, x, row), .f32, count: ir.i64(width))
            }
            b.forLoop(heads) { h in
                let at = b.add(row, b.mul(h, dh))
                let from = b.gep(f32, x, at), to = b.gep(f32, out, at)
                forEachChunk(half, lanes: lanes) { i, mask in
                    let a = b.maskedLoad(vec, b.gep(f32, from, i), mask)
                    let c = b.maskedLoad(vec, b.gep(f32, from, b.add(i, ir.i64(half))), mask)
                    let cosine = b.maskedLoad(vec, b.gep(f32, cosines, i), mask)
                    let sine = b.maskedLoad(vec, b.gep(f32, sines, i), mask)
                    b.maskedStore(b.fsub(b.fmul(a, cosine), b.fmul(c, sine)), b.gep(f32, to, i), mask)
                    b.maskedStore(b.fadd(b.fmul(c, cosine), b.fmul(a, sine)), b.gep(f32, to, b.add(i, ir.i64(half))), mask)
                }
            }
        }
    }

    /// cos then sin of p * base^(-2i/rotary) for p < positions, i < half, as [positions][half]
    /// floats each: one constant per (rotary, base, positions) in the module.
    private func ropeTable(half: Int, rotary: Int, base: Double, positions: Int) -> Value {
        func table() -> [UInt8] {
            var cosines = [Float](repeating: 0, count: positions * half), sines = cosines
            for i in 0..<half {
                let frequency = pow(base, -2 * Double(i) / Double(rotary))
                for p in 0..<positions {
                    let angle = Double(p) * frequency
                    cosines[p * half + i] = Float(cos(angle))
                    sines[p * half + i] = Float(sin(angle))
                }
            }
            return (cosines + sines).withUnsafeBytes { Array($0) }
        }
        return constant("rope.\(rotary).\(base.bitPattern).\(positions)", table())
    }
}
