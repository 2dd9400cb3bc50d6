// Vectorized exp, tanh, erf and GELU in LLVM IR: polynomial approximations that work lane by
// lane on <N x float> (or on a scalar float), with no calls into libm.
import LLVMBridge
import TIR

/// Builds math on vectors of `lanes` floats (1 = scalar).
struct VectorMath {
    let b: IRBuilder
    let lanes: Int

    private var ir: IRModule { b.module }
    func c(_ v: Double) -> Value { ir.f32(v, lanes: lanes) }
    private var intType: IRType { lanes == 1 ? ir.i32 : ir.vector(ir.i32, lanes) }
    private var floatType: IRType { lanes == 1 ? ir.f32 : ir.vector(ir.f32, lanes) }

    /// e^x: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (Cephes expf), 2^n
    /// built in the exponent bits. Relative error below 2 ulp on [-87, 88]; inputs are clamped
    /// there, so e^-inf is ~1e-38 rather than 0 and large inputs saturate near 2^127.
    func exp(_ x0: Value) -> Value {
        let x = b.minnum(b.maxnum(x0, c(-87.3)), c(88.3))
        let n = b.rint(b.fmul(x, c(1.4426950408889634)))
        var r = b.fma(n, c(-0.693359375), x)          // ln2 split in two for an exact product
        r = b.fma(n, c(2.12194440e-4), r)
        var p = c(1.9875691500e-4)
        for coefficient in [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1] {
            p = b.fma(p, r, c(coefficient))
        }
        let y = b.fadd(b.fma(b.fmul(p, r), r, r), c(1))
        let exponent = b.shl(b.wrappingAdd(b.fptosi(n, to: intType), ir.i32(127, lanes: lanes)),
                             ir.i32(23, lanes: lanes))
        return b.fmul(y, b.bitcast(exponent, to: floatType))
    }

    /// tanh(x) = (e^2x - 1) / (e^2x + 1), on |x| clamped to 9 (where tanh is 1 in float32).
    /// Absolute error below 2e-7.
    func tanh(_ x0: Value) -> Value {
        let x = b.minnum(b.maxnum(x0, c(-9)), c(9))
        let e = exp(b.fmul(x, c(2)))
        return b.fdiv(b.fsub(e, c(1)), b.fadd(e, c(1)))
    }

    /// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7 in exact arithmetic):
    /// erf(|x|) = 1 - t (a1 + t (a2 + ... + t a5)) e^-x^2 with t = 1 / (1 + p |x|).
    func erf(_ x: Value) -> Value {
        let ax = b.fabs(x)
        let t = b.fdiv(c(1), b.fma(c(0.3275911), ax, c(1)))
        var poly = c(1.061405429)
        for coefficient in [-1.453152027, 1.421413741, -0.284496736, 0.254829592] {
            poly = b.fma(poly, t, c(coefficient))
        }
        let y = b.fsub(c(1), b.fmul(b.fmul(poly, t), exp(b.fmul(b.fmul(ax, ax), c(-1)))))
        // Restore the sign: erf is odd.
        return b.select(b.fcmp(.olt, x, c(0)), b.fmul(y, c(-1)), y)
    }

    /// GELU: 0.5 x (1 + erf(x / sqrt 2)), or GPT-2's 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    func gelu(_ x: Value, tanhForm: Bool) -> Value {
        let inner: Value
        if tanhForm {
            let cube = b.fmul(b.fmul(x, x), x)
            inner = tanh(b.fmul(c((2 / Double.pi).squareRoot()), b.fma(c(0.044715), cube, x)))
        } else {
            inner = erf(b.fmul(x, c(0.5.squareRoot())))
        }
        return b.fmul(b.fmul(c(0.5), x), b.fadd(c(1), inner))
    }
}

/// An elementwise activation: what a standalone op computes and what a GEMM epilogue applies to
/// a fused one, through the same code.
enum Activation: Hashable {
    case geluTanh, geluErf, tanh, relu

    /// The activation an op computes, or nil for an op that is not one.
    init?(_ inst: Instruction) {
        switch inst.op {
        case .gelu: self = inst.word("approximation") == "tanh" ? .geluTanh : .geluErf
        case .tanh: self = .tanh
        case .relu: self = .relu
        default: return nil
        }
    }

    /// Short name, for kernel names and the fusion plan's printout.
    var name: String {
        switch self {
        case .geluTanh: return "gelu_tanh"
        case .geluErf: return "gelu"
        case .tanh: return "tanh"
        case .relu: return "relu"
        }
    }

    func apply(_ x: Value, _ math: VectorMath) -> Value {
        switch self {
        case .geluTanh: return math.gelu(x, tanhForm: true)
        case .geluErf: return math.gelu(x, tanhForm: false)
        case .tanh: return math.tanh(x)
        // x < 0 ? 0 : x, so that NaN stays NaN, as in the interpreter.
        case .relu: return math.b.select(math.b.fcmp(.olt, x, math.c(0)), math.c(0), x)
        }
    }
}
