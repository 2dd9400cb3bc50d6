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
        return try time(jit, flopsPerIteration: Double(chains * lanes * 2), threads: threads, seconds: seconds, trials: trials)
    }

    /// The bf16 instruction this CPU's bf16 products use, and so the bf16 peak `measureBF16`
    /// times: `vdpbf16ps` with AVX512_BF16 (AMX tiles are not emitted yet); nil without.
    public static func bf16Instruction(_ target: TargetSpec = .host) -> String? {
        GemmShape.forTarget(target).hasDotInstruction(target) ? "vdpbf16ps" : nil
    }

    /// Measured bf16 throughput of `bf16Instruction` in GFLOP/s (each of its 16 lanes adds two
    /// products: 64 flops), as `measure` does for FMAs; nil on a CPU without one.
    public static func measureBF16(threads: Int = 1, seconds: Double = 0.05, trials: Int = 5) throws -> Double? {
        let jit = try JIT()
        guard bf16Instruction(jit.target) != nil else { return nil }
        _ = try generateCode("peak.bf16", target: jit.target, to: .jit(jit)) { ir in
            buildBF16Loop(ir, target: jit.target)
        }
        return try time(jit, flopsPerIteration: Double(chains * 16 * 4), threads: threads, seconds: seconds, trials: trials)
    }

    /// Measured read bandwidth from memory in GB/s: `threads` threads at once each summing its
    /// own part of a buffer far larger than any cache (`bytes` in all), with the target's vector
    /// loads; the best of `trials` passes. The ceiling of a decode step, which streams every
    /// weight once.
    public static func measureReadBandwidth(threads: Int = 1, bytes: Int = 1 << 30, trials: Int = 5) throws -> Double {
        let jit = try JIT()
        let lanes = GemmShape.forTarget(jit.target).lanes
        _ = try generateCode("bandwidth", target: jit.target, to: .jit(jit)) { ir in
            buildReadLoop(ir, target: jit.target, lanes: lanes)
        }
        typealias Loop = @convention(c) (UnsafeRawPointer, Int64) -> Float
        let loop = unsafeBitCast(try jit.lookup("tfc_read"), to: Loop.self)
        let count = max(1, threads)
        let step = lanes * 4 * readChains
        let perThread = max(step, bytes / count / step * step)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: perThread * count, alignment: 64)
        defer { buffer.deallocate() }
        // Touch every page (and make the values ordinary floats) before timing.
        buffer.initializeMemory(as: Float.self, repeating: 1, count: perThread * count / 4)
        let base = UInt(bitPattern: buffer)
        var best = 0.0
        for _ in 0..<max(1, trials) {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: count) { t in
                _ = withExtendedLifetime(jit) {
                    loop(UnsafeRawPointer(bitPattern: base + UInt(t * perThread))!, Int64(perThread / step))
                }
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            best = max(best, Double(perThread * count) / elapsed / 1e9)
        }
        return best
    }

    /// Independent sums of the read loop: enough loads in flight to keep memory busy.
    static let readChains = 8

    /// `float tfc_read(ptr p, i64 n)`: the sum of n blocks of `readChains` vectors from p.
    private static func buildReadLoop(_ ir: IRModule, target: TargetSpec, lanes: Int) {
        let f32 = ir.f32, vec = ir.vector(f32, lanes)
        let fn = ir.addFunction("tfc_read", ir.functionType(f32, [ir.ptr, ir.i64]))
        ir.addCodeAttributes(to: fn, target: target)
        let b = IRBuilder(ir, fn)
        let acc = (0..<readChains).map { _ -> Value in
            let slot = b.alloca(vec)
            b.store(ir.f32(0, lanes: lanes), slot, align: 4)
            return slot
        }
        b.forLoop(fn.param(1)) { i in
            let block = b.gep(f32, fn.param(0), b.mul(i, readChains * lanes))
            for (j, slot) in acc.enumerated() {
                let v = b.load(vec, b.gep(f32, block, ir.i64(j * lanes)), align: 64)
                b.store(b.fadd(b.load(vec, slot, align: 4), v), slot, align: 4)
            }
        }
        var sum = ir.f32(0, lanes: lanes)
        for slot in acc { sum = b.fadd(sum, b.load(vec, slot, align: 4)) }
        b.ret(b.reduceAdd(sum))
    }

    /// The probe loop's assembly for `target` (`bf16`: the vdpbf16ps loop), for tests.
    public static func assembly(for target: TargetSpec, bf16: Bool) throws -> String {
        let (_, code) = try generateCode("peak", target: target, to: .object(assembly: true)) { ir in
            if bf16 { buildBF16Loop(ir, target: target) } else { buildLoop(ir, target: target, lanes: GemmShape.forTarget(target).lanes) }
        }
        return code.assembly ?? ""
    }

    /// The best rate of `tfc_fma_peak` in `jit` over `trials` runs on `threads` threads at once.
    private static func time(_ jit: JIT, flopsPerIteration: Double, threads: Int, seconds: Double, trials: Int) throws -> Double {
        typealias Loop = @convention(c) (Int64, Float, Float) -> Float
        let loop = unsafeBitCast(try jit.lookup("tfc_fma_peak"), to: Loop.self)

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

    /// `float tfc_fma_peak(i64 n, float b, float c)`: `chains` vectors a_i += pairs(b) . pairs(c),
    /// n times, by `vdpbf16ps` (b and c rounded to bf16 and broadcast to every pair).
    private static func buildBF16Loop(_ ir: IRModule, target: TargetSpec) {
        let f32 = ir.f32, vec = ir.vector(f32, 16), pairs = ir.vector(ir.bfloat, 32)
        let fn = ir.addFunction("tfc_fma_peak", ir.functionType(f32, [ir.i64, f32, f32]))
        ir.addCodeAttributes(to: fn, target: target)
        let b = IRBuilder(ir, fn)
        let dot = ir.intrinsic("llvm.x86.avx512bf16.dpbf16ps.512", [])
        func bf16Pairs(_ x: Value) -> Value {
            let bits = roundToBF16(b, b.splat(x, lanes: 16), lanes: 16)  // <16 x i16>
            let both = b.or(b.zext(bits, to: ir.vector(ir.i32, 16)), b.shl(b.zext(bits, to: ir.vector(ir.i32, 16)), ir.i32(16, lanes: 16)))
            return b.bitcast(both, to: pairs)
        }
        let m = bf16Pairs(fn.param(1)), c = bf16Pairs(fn.param(2))
        let acc = (0..<chains).map { i -> Value in
            let slot = b.alloca(vec)
            b.store(ir.f32(Double(i), lanes: 16), slot, align: 4)
            return slot
        }
        b.forLoop(fn.param(0)) { _ in
            for slot in acc { b.store(b.call(dot, [b.load(vec, slot, align: 4), m, c]), slot, align: 4) }
        }
        var sum = ir.f32(0, lanes: 16)
        for slot in acc { sum = b.fadd(sum, b.load(vec, slot, align: 4)) }
        b.ret(b.reduceAdd(sum))
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
