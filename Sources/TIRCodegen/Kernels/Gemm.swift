// Matrix multiplication y = x @ W (+ bias, GELU, residual) with a register-blocked microkernel in
// LLVM vector IR and weights packed at compile time into the microkernel's panel layout.
//
// W [K, N] is cut into panels of `nr` columns (two vectors); each panel is stored K-major,
// [K][nr], zero-padded past N, so the kernel reads it with two aligned vector loads per k (a
// panel starts on a vector boundary). The kernel keeps an mr x nr block of y in registers
// (mr * 2 accumulators), broadcasts one x value per row and k, and applies the epilogue to the
// block before a (masked) store.
//
// `compute = bf16` linears have bf16 weights and read x rounded to bf16 (a scratch copy the
// driver writes). With AVX512_BF16 the panels hold pairs of k ([K/2][nr][2], "VNNI" order) and
// one `vdpbf16ps` adds two products per lane (bf16Pairs). Elsewhere the copy holds the rounded
// values as floats and the float32 kernel multiplies them by the bf16 weights, which the
// driver widens once per panel slice into a stack buffer (bf16Rounded): the same products, since a product of two bf16 values is exact in float32,
// at float32 speed with half the weight bytes. On CPUs without the instruction the tests run
// the paired layout through a two-FMA emulation of it (CodegenOptions.pairedBF16), so that
// everything about that path but the one instruction is checked on every machine.
import LLVMBridge
import TIR

/// Register and cache blocking for a target.
struct GemmShape: Hashable {
    /// Slice of K per kernel call: a kc x nr weight block (32 KiB for AVX-512) stays in L1
    /// while every row block of x passes over it.
    static let kc = 256
    /// Weights per slice of K that a GEMM keeps in L2 while every group of rows passes over them.
    static let panelGroupBytes = 512 * 1024
    /// Rows per group: a slice of x that stays in L2 (128 KiB of float32 at kc = 256) while
    /// every panel of a group passes over it.
    static func rowGroup(mr: Int) -> Int { (128 / mr) * mr }
    /// Floats per vector register.
    let lanes: Int
    /// Rows of the register block.
    let mr: Int
    /// Columns of the register block (and of a weight panel): two vectors.
    /// Vectors per row of the register block.
    var vectors = 2
    var nr: Int { vectors * lanes }

    /// AVX-512: 32 zmm registers hold 8x2 accumulators, 2 weight vectors and a broadcast (on
    /// GPT-2's shapes 4x4, 6x3, 6x4 and 12x2 measured the same or slower).
    /// AVX2: 16 ymm registers, so 6x2. NEON/SSE: 32 (or 16) 128-bit registers, 8x2 (6x2).
    static func forTarget(_ target: TargetSpec) -> GemmShape {
        switch target.vectorBits {
        case 512: return GemmShape(lanes: 16, mr: 8)
        case 256: return GemmShape(lanes: 8, mr: 6)
        default: return GemmShape(lanes: 4, mr: target.isAArch64 ? 8 : 6)
        }
    }
}

/// How a GEMM's operands are stored and multiplied.
enum GemmPrecision: Hashable {
    /// x float32; weights float32 or bf16 (widened exactly, once per panel slice); FMA in float32.
    case f32
    /// compute = bf16 without bf16 instructions: x rounded to bf16 but stored as floats, read by
    /// the float32 kernel with bf16 weights.
    case bf16Rounded
    /// compute = bf16: x and weights bf16 in pairs of k, `vdpbf16ps` (or its emulation).
    case bf16Pairs

    /// The precision of `inst` on this module's kernels; `paired` forces the paired layout.
    static func of(_ inst: Instruction, shape: GemmShape, target: TargetSpec, paired: Bool) -> GemmPrecision {
        guard inst.computesInBF16 else { return .f32 }
        return paired || shape.hasDotInstruction(target) ? .bf16Pairs : .bf16Rounded
    }

    /// Elements of k a kernel step consumes.
    var kStep: Int { self == .bf16Pairs ? 2 : 1 }
    /// Whether x is read from a rounded copy.
    var roundsInput: Bool { self != .f32 }
}

extension GemmShape {
    /// Whether bf16 pairs are multiplied by `vdpbf16ps` (16 float lanes, AVX512_BF16); without
    /// it, the paired layout (forced for tests) is multiplied by two FMAs per pair.
    func hasDotInstruction(_ target: TargetSpec) -> Bool { lanes == 16 && target.has("avx512bf16") }
}

/// W in panel layout: panel p holds columns p*nr ..< p*nr+nr as [K][nr], zeros past N. The
/// elements keep their type (Float, or bf16 bits as UInt16: a zero is +0.0 in both).
func packWeights<Element: AdditiveArithmetic>(_ w: [Element], k: Int, n: Int, transposed: Bool, nr: Int) -> [Element] {
    let panels = (n + nr - 1) / nr
    var packed = [Element](repeating: .zero, count: panels * k * nr)
    for p in 0..<panels {
        for kk in 0..<k {
            let base = (p * k + kk) * nr
            for j in 0..<min(nr, n - p * nr) {
                let col = p * nr + j
                packed[base + j] = transposed ? w[col * k + kk] : w[kk * n + col]
            }
        }
    }
    return packed
}

/// W as packWeights lays it out, with each panel's k in pairs: panel p holds columns
/// p*nr ..< p*nr+nr as [ceil(K/2)][nr][2] (element (k, j) at [k/2][j][k%2]), zeros past N and
/// past K, the layout `vdpbf16ps` reads (one vector: 16 columns, two k each).
func packWeightsInPairs(_ w: [UInt16], k: Int, n: Int, transposed: Bool, nr: Int) -> [UInt16] {
    let panels = (n + nr - 1) / nr, pairs = (k + 1) / 2
    var packed = [UInt16](repeating: 0, count: panels * pairs * nr * 2)
    for p in 0..<panels {
        for kk in 0..<k {
            let base = ((p * pairs + kk / 2) * nr) * 2 + kk % 2
            for j in 0..<min(nr, n - p * nr) {
                let col = p * nr + j
                packed[base + 2 * j] = transposed ? w[col * k + kk] : w[kk * n + col]
            }
        }
    }
    return packed
}

/// What happens to a block of x @ W before it is stored.
struct Epilogue: Hashable {
    /// Multiply each row by its own scale first (a parameter-free RMSNorm/CRMSNorm on the input:
    /// (s_r x_r) @ W = s_r (x_r @ W), so the normalized input is never written).
    var rowScale = false
    var bias = false
    /// The bias's element type (a parameter may be bf16).
    var biasType = DType.f32
    var activation: Activation?
    /// Add a residual matrix (the other operand of a following add).
    var residual = false

    var name: String {
        var parts: [String] = []
        if rowScale { parts.append("scale") }
        if bias { parts.append(biasType == .f32 ? "bias" : "bias_\(biasType)") }
        if let activation { parts.append(activation.name) }
        if residual { parts.append("residual") }
        return parts.isEmpty ? "plain" : parts.joined(separator: "+")
    }
}

/// The microkernels of one module, generated on first use per (rows, epilogue).
final class GemmKernels {
    let ir: IRModule
    let shape: GemmShape
    let target: TargetSpec
    /// The start of the kernels' names (FunctionLowering.namespace).
    let namespace: String
    private var cache: [String: Function] = [:]

    init(ir: IRModule, target: TargetSpec, namespace: String = "tfc.") {
        self.ir = ir
        self.target = target
        self.namespace = namespace
        shape = GemmShape.forTarget(target)
    }

    /// `void kernel(ptr x, ptr panel, i64 K, ptr y, i64 ldy, i64 cols, ptr bias, ptr res, i64 ldres, ptr scale, ptr ahead)`:
    /// y[0..<rows, 0..<cols] (+)= x[0..<rows, 0..<K] @ panel, then the epilogue if `finish`.
    /// x's rows are `ldx` elements apart, a constant of the kernel: its loop then addresses every
    /// row from one register with no arithmetic beside the FMAs (a stride in a register cost a
    /// chain of address computations per step).
    /// With `prefetch`, step k also asks for the cache line at ahead + 64k bytes into the second
    /// level (weights the caller reads next), spreading a panel's trip from memory over the
    /// compute of the one before, rather than waiting on it at the first row block.
    /// With `accumulate` the block starts from y (a later slice of K), else from zero. bias and
    /// res point at the panel's first column, scale at the block's first row; each is read only
    /// if the epilogue uses it.
    /// The panel is float32 (bf16 weights are widened by the caller, GEMM driver), or with
    /// `precision` bf16Pairs, bf16 in pairs of k: x is bf16 too, ldx counts bf16 elements, the panel is in pairs of k
    /// and K counts pairs.
    func kernel(rows: Int, ldx: Int, _ epilogue: Epilogue, accumulate: Bool, finish: Bool,
                precision: GemmPrecision = .f32, prefetch: Bool = false) -> Function {
        let element = precision == .bf16Pairs ? "bf16pairs." : ""
        let key = namespace + "gemm.\(rows)x\(shape.nr).ldx\(ldx).\(element)\(prefetch ? "pf." : "")\(accumulate ? "acc." : "")"
            + (finish ? epilogue.name : "partial")
        if let f = cache[key] { return f }
        let p = ir.ptr, i64 = ir.i64
        let fn = ir.addFunction(key, ir.functionType(ir.void, [p, p, i64, p, i64, i64, p, p, i64, p, p]), linkage: .internal)
        ir.addCodeAttributes(to: fn, target: target)
        // Called in loops from many places (GEMM tasks, every row count of a tail, attention):
        // a call costs nothing next to one kernel's work, while inlining every call site would
        // multiply the optimizer's work (GPT-2 small compiled 3.5x slower).
        ir.addAttribute("noinline", to: fn)
        build(fn, rows: rows, ldx: ldx, finish ? epilogue : Epilogue(), accumulate: accumulate, precision: precision,
              prefetch: prefetch)
        cache[key] = fn
        return fn
    }

    private func build(_ fn: Function, rows: Int, ldx: Int, _ epilogue: Epilogue, accumulate: Bool,
                       precision: GemmPrecision, prefetch: Bool) {
        let b = IRBuilder(ir, fn)
        let (x, panel, K, y, ldy, cols, bias, res, ldres, scale) =
            (fn.param(0), fn.param(1), fn.param(2), fn.param(3), fn.param(4), fn.param(5), fn.param(6),
             fn.param(7), fn.param(8), fn.param(9))
        let ahead = fn.param(10)
        let lanes = shape.lanes, f32 = ir.f32
        let vec = ir.vector(f32, lanes)
        // Accumulators live in stack slots that mem2reg turns into registers (phis).
        let acc = (0..<rows).map { _ in (0..<shape.vectors).map { _ in b.alloca(vec) } }
        let masks = (0..<shape.vectors).map { v in b.prefixMask(b.sub(cols, ir.i64(v * lanes)), lanes: lanes) }
        for i in 0..<rows {
            for v in 0..<shape.vectors {
                let start = accumulate
                    ? b.maskedLoad(vec, b.gep(f32, b.gep(f32, y, b.mul(ldy, ir.i64(i))), ir.i64(v * lanes)), masks[v])
                    : ir.f32(0, lanes: lanes)
                b.store(start, acc[i][v], align: 4)
            }
        }
        let xElement = precision == .bf16Pairs ? ir.i16 : f32
        let rowBase = (0..<rows).map { i in b.gep(xElement, x, ir.i64(ldx * i)) }
        let dot = shape.hasDotInstruction(target) ? ir.intrinsic("llvm.x86.avx512bf16.dpbf16ps.512", []) : nil
        b.forLoop(K) { k in
            if prefetch { b.prefetch(b.gepAnyAddress(ir.i8, ahead, b.mul(k, ir.i64(64))), locality: 2) }
            if precision == .bf16Pairs {
                // Pair k of the panel: per vector, `lanes` columns x 2 k, as i32 lanes holding
                // (even k: low half, odd k: high half).
                let pairLanes = ir.vector(ir.i32, lanes)
                let wk = b.gep(ir.i16, panel, b.mul(k, 2 * shape.nr))
                let w = (0..<shape.vectors).map { v in
                    b.load(pairLanes, b.gep(ir.i16, wk, ir.i64(2 * v * lanes)), align: lanes * 4)
                }
                // x's pair of row i is one i32.
                let pairs = (0..<rows).map { i in b.load(ir.i32, b.gep(ir.i32, rowBase[i], k), align: 4) }
                if let dot {
                    let bf16Pairs = ir.vector(ir.bfloat, 2 * lanes)
                    for i in 0..<rows {
                        let a = b.bitcast(b.splat(pairs[i], lanes: lanes), to: bf16Pairs)
                        for v in 0..<shape.vectors {
                            let sum = b.call(dot, [b.load(vec, acc[i][v], align: 4), a, b.bitcast(w[v], to: bf16Pairs)])
                            b.store(sum, acc[i][v], align: 4)
                        }
                    }
                } else {
                    let (even, odd) = (w.map { splitPairs(b, $0, lanes: lanes).even }, w.map { splitPairs(b, $0, lanes: lanes).odd })
                    for i in 0..<rows {
                        let (xe, xo) = splitPairs(b, pairs[i], lanes: 1)
                        let (ae, ao) = (b.splat(xe, lanes: lanes), b.splat(xo, lanes: lanes))
                        for v in 0..<shape.vectors {
                            // The odd product first, as vdpbf16ps adds them.
                            let sum = b.fma(ae, even[v], b.fma(ao, odd[v], b.load(vec, acc[i][v], align: 4)))
                            b.store(sum, acc[i][v], align: 4)
                        }
                    }
                }
                return
            }
            let wk = b.gep(f32, panel, b.mul(k, shape.nr))
            let w = (0..<shape.vectors).map { v in b.load(vec, b.gep(f32, wk, ir.i64(v * lanes)), align: lanes * DType.f32.byteSize) }
            for i in 0..<rows {
                let a = b.splat(b.load(f32, b.gep(f32, rowBase[i], k)), lanes: lanes)
                for v in 0..<shape.vectors {
                    b.store(b.fma(a, w[v], b.load(vec, acc[i][v], align: 4)), acc[i][v], align: 4)
                }
            }
        }
        let math = VectorMath(b: b, lanes: lanes)
        for v in 0..<shape.vectors {
            // Lanes of this vector that are real columns (the last panel may be partial).
            let mask = masks[v]
            let biasVector = epilogue.bias
                ? loadFloats(b, bias, ir.i64(v * lanes), epilogue.biasType, lanes: lanes, mask: mask) : nil
            for i in 0..<rows {
                var value = b.load(vec, acc[i][v], align: 4)
                if epilogue.rowScale {
                    value = b.fmul(value, b.splat(b.load(f32, b.gep(f32, scale, ir.i64(i))), lanes: lanes))
                }
                if let biasVector { value = b.fadd(value, biasVector) }
                if let activation = epilogue.activation { value = activation.apply(value, math) }
                let offset = ir.i64(v * lanes)
                if epilogue.residual {
                    let r = b.gep(f32, b.gep(f32, res, b.mul(ldres, ir.i64(i))), offset)
                    value = b.fadd(value, b.maskedLoad(vec, r, mask))
                }
                b.maskedStore(value, b.gep(f32, b.gep(f32, y, b.mul(ldy, ir.i64(i))), offset), mask)
            }
        }
        b.retVoid()
    }
}

/// A vector of `lanes` floats from base[index...] of a buffer of `dtype` elements (bf16 widened
/// exactly), lanes off in `mask` reading 0.
func loadFloats(_ b: IRBuilder, _ base: Value, _ index: Value, _ dtype: DType, lanes: Int, mask: Value) -> Value {
    let ir = b.module
    switch dtype {
    case .bf16:
        let bits = b.maskedLoad(ir.vector(ir.i16, lanes), b.gep(ir.i16, base, index), mask, align: 2)
        return widenBF16(b, bits, lanes: lanes)
    default:
        return b.maskedLoad(ir.vector(ir.f32, lanes), b.gep(ir.f32, base, index), mask)
    }
}

/// bf16 bits (i16 or <N x i16>) to the floats they stand for: the bits are a float's upper half.
func widenBF16(_ b: IRBuilder, _ bits: Value, lanes: Int) -> Value {
    let ir = b.module
    let i32 = lanes == 1 ? ir.i32 : ir.vector(ir.i32, lanes)
    let wide = b.shl(b.zext(bits, to: i32), lanes == 1 ? ir.i32(16) : ir.i32(16, lanes: lanes))
    return b.bitcast(wide, to: lanes == 1 ? ir.f32 : ir.vector(ir.f32, lanes))
}

/// Floats (<lanes x float>) rounded to the nearest bf16, ties to even, as <lanes x i16> bits: the
/// rounding of bf16Bits(_: Float) in TIR, so compiled code and interpreter round alike (a NaN
/// stays a quiet NaN rather than carrying into infinity).
func roundToBF16(_ b: IRBuilder, _ v: Value, lanes: Int) -> Value {
    let ir = b.module
    let i32 = ir.vector(ir.i32, lanes)
    let bits = b.bitcast(v, to: i32)
    let high = b.lshr(bits, ir.i32(16, lanes: lanes))
    let lowestKept = b.and(high, ir.i32(1, lanes: lanes))
    let rounded = b.lshr(b.wrappingAdd(b.wrappingAdd(bits, ir.i32(0x7FFF, lanes: lanes)), lowestKept), ir.i32(16, lanes: lanes))
    let quietNaN = b.or(high, ir.i32(0x40, lanes: lanes))
    let result = b.select(b.fcmp(.uno, v, v), quietNaN, rounded)
    return b.trunc(result, to: ir.vector(ir.i16, lanes))
}

/// A pair of bf16 values per i32 lane (or a scalar i32), the first (lower address, low half) and
/// the second (high half), as floats: exact, since a bf16 is a float's upper half.
func splitPairs(_ b: IRBuilder, _ pairs: Value, lanes: Int) -> (even: Value, odd: Value) {
    let ir = b.module
    let float = lanes == 1 ? ir.f32 : ir.vector(ir.f32, lanes)
    let sixteen = lanes == 1 ? ir.i32(16) : ir.i32(16, lanes: lanes)
    let high = lanes == 1 ? ir.i32(Int(Int32(bitPattern: 0xFFFF_0000))) : ir.i32(Int(Int32(bitPattern: 0xFFFF_0000)), lanes: lanes)
    return (b.bitcast(b.shl(pairs, sixteen), to: float), b.bitcast(b.and(pairs, high), to: float))
}
