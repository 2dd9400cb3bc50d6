// The machine's floating-point roofline, measured: a JIT-compiled loop of independent vector
// FMAs (the target's vector width, as the GEMM microkernel uses it) timed on 1...N threads. The
// benchmark quotes its results against this, so that "GFLOP/s" has a ceiling next to it.
import Foundation
import LLVMBridge

public enum PeakProbe {
    /// Independent accumulator chains: more than FMA latency x FMA pipes on every current core.
    static let chains = 12

    /// Measured fp32 FMA throughput in GFLOP/s (2 flops per lane per FMA) with `threads` threads
    /// running the loop at once: the best of `trials` runs of about `seconds` each.
    public static func measure(threads: Int = 1, seconds: Double = 0.05, trials: Int = 5) throws -> Double {
        let jit = try JIT()
        let lanes = GemmShape.forTarget(jit.target).lanes
        _ = try generateCode("peak", target: jit.target, to: .jit(jit)) { ir in
            buildLoop(ir, target: jit.target, lanes: lanes)
        }
        typealias Loop = @convention(c) (Int64, Float, Float) -> Float
        let loop = unsafeBitCast(try jit.lookup("tfc_fma_peak"), to: Loop.self)
        let flopsPerIteration = Double(chains * lanes * 2)

        // Calibrate on one thread: iterations for about `seconds`.
        var iterations: Int64 = 1 << 16
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = loop(iterations, 1.0000001, 1e-7)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if elapsed > seconds / 4 || iterations > 1 << 40 {
                iterations = Int64(Double(iterations) * seconds / max(elapsed, 1e-9))
                break
            }
            iterations *= 4
        }
        let count = max(1, threads), n = iterations
        var best = 0.0
        for _ in 0..<max(1, trials) {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: count) { _ in _ = loop(n, 1.0000001, 1e-7) }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            best = max(best, Double(count) * Double(n) * flopsPerIteration / elapsed / 1e9)
        }
        return best
    }

    /// `float tfc_fma_peak(i64 n, float b, float c)`: `chains` vectors a_i = a_i * b + c, n times.
    private static func buildLoop(_ ir: IRModule, target: TargetSpec, lanes: Int) {
        let f32 = ir.f32, vec = ir.vector(f32, lanes)
        let fn = ir.addFunction("tfc_fma_peak", ir.functionType(f32, [ir.i64, f32, f32]))
        ir.addCodeAttributes(to: fn, target: target)
        let b = IRBuilder(ir, fn)
        let m = b.splat(fn.param(1), lanes: lanes), c = b.splat(fn.param(2), lanes: lanes)
        let acc = (0..<chains).map { i -> Value in
            let slot = b.alloca(vec)
            b.store(ir.f32(Double(i), lanes: lanes), slot, align: 4)
            return slot
        }
        b.forLoop(fn.param(0)) { _ in
            for slot in acc { b.store(b.fma(b.load(vec, slot, align: 4), m, c), slot, align: 4) }
        }
        var sum = ir.f32(0, lanes: lanes)
        for slot in acc { sum = b.fadd(sum, b.load(vec, slot, align: 4)) }
        b.ret(b.reduceAdd(sum))
    }
}
