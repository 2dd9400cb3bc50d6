// `compute = bf16` linears: x rounded to bf16 and multiplied by bf16 weights, accumulated in
// float32: through `vdpbf16ps` on weights in pairs of k where the CPU has AVX512_BF16, through the
// float32 kernel on the rounded x elsewhere, and through the paired layout with the instruction
// emulated by two FMAs (so that layout is checked on every machine). Each is checked against a
// float64 reference of the same rounded operands at odd sizes: rows and columns around the
// register block and panel widths, K odd, below and above the K slice.
import Foundation
import Testing
import LLVMBridge
import TIR
import TIRCodegen

/// The bf16 GEMM paths that run here: each with the target and whether the paired layout is forced.
private var bf16Targets: [(name: String, target: TargetSpec, paired: Bool)] {
    let host = TargetSpec.host
    let without = host.without(["avx512bf16"])
    guard host.has("avx512bf16") && host.vectorBits == 512 else {
        print("note: this CPU has no AVX512_BF16: vdpbf16ps is checked in the assembly only, its layout through an emulation")
        return [("rounded x, float32 kernel", host, false), ("paired, emulated", host, true)]
    }
    return [("vdpbf16ps", host, false), ("rounded x, float32 kernel", without, false), ("paired, emulated", without, true)]
}

/// A one-linear model, y = x @ W (+ b), W bf16 [K, N] (or [N, K] transposed), compute = bf16.
private func bf16Linear(rows: String, k: Int, n: Int, transposed: Bool, bias: DType?, seqMax: Int = 40)
    throws -> (Module, Weights) {
    let weight = transposed ? "bf16[\(n), \(k)]" : "bf16[\(k), \(n)]"
    var text = "model @m {\n  \(rows == "T" ? "seq T <= \(seqMax)\n  " : "")weights random(seed = 3, std = 0.5)\n"
    text += "  input %x : f32[\(rows), \(k)]\n  param @w : \(weight)\n"
    if let bias { text += "  param @b : \(bias)[\(n)] = normal(0.0, 0.5)\n" }
    text += "  %y = linear(%x, @w\(bias == nil ? "" : ", @b")) {\(transposed ? "transposed = true, " : "")compute = bf16}"
    text += " : f32[\(rows), \(n)]\n  output %y\n}\n"
    return try load(source: text)
}

/// float64 y = round_bf16(x) @ W + b over the stored (bf16) weights.
private func reference(_ x: HostTensor, rows: Int, k: Int, n: Int, transposed: Bool, _ weights: Weights) -> [Double] {
    let w = weights["w"]!.floats.map(Double.init)
    let b = weights["b"]?.floats.map(Double.init)
    let xs = x.floats.map { Double(floatFromBF16(bf16Bits($0))) }
    var y = [Double](repeating: 0, count: rows * n)
    for r in 0..<rows {
        for j in 0..<n {
            var s = b?[j] ?? 0
            for kk in 0..<k { s += xs[r * k + kk] * (transposed ? w[j * k + kk] : w[kk * n + j]) }
            y[r * n + j] = s
        }
    }
    return y
}

@Test(arguments: [
    (1, 7, 5), (7, 15, 17), (17, 31, 33), (15, 33, 31), (9, 257, 47), (3, 767, 769), (2, 769, 767),
])
func bf16LinearMatchesRoundedReference(rows: Int, k: Int, n: Int) throws {
    for (name, target, paired) in bf16Targets {
        for transposed in [false, true] {
            for bias in [nil, DType.f32, DType.bf16] {
                let (module, weights) = try bf16Linear(rows: "\(rows)", k: k, n: n, transposed: transposed, bias: bias)
                let x = randomInputs(module, seqLen: 1, seed: UInt64(rows * 31 + k))["x"]!
                let y = try JITModel(module, weights: weights, threads: 1, target: target, pairedBF16: paired).run(inputs: ["x": x])["y"]!
                let error = relativeError(y.floats, reference(x, rows: rows, k: k, n: n, transposed: transposed, weights))
                // Float32 sums of k products of bf16 values: the order differs from the reference's.
                #expect(error < 2e-6, "\(name) \(rows)x\(k)x\(n) transposed \(transposed) bias \(String(describing: bias)): \(error)")
            }
        }
    }
}

/// Every run-time row count up to past two register blocks, on two threads with every loop split.
@Test func bf16LinearAtEverySequenceLength() throws {
    let (k, n) = (45, 70)
    for (name, target, paired) in bf16Targets {
        let (module, weights) = try bf16Linear(rows: "T", k: k, n: n, transposed: false, bias: .f32)
        let model = try JITModel(module, weights: weights, threads: 2, minParallelWork: 0, target: target, pairedBF16: paired)
        for seq in 1...19 {
            let x = randomInputs(module, seqLen: seq, seed: UInt64(seq))["x"]!
            let y = try model.run(inputs: ["x": x], seqLen: seq)["y"]!
            let error = relativeError(y.floats, reference(x, rows: seq, k: k, n: n, transposed: false, weights))
            #expect(error < 2e-6, "\(name) seq \(seq): \(error)")
        }
    }
}

/// A bf16 linear large enough for every level of the GEMM's blocking: 1060 columns are 34
/// panels (a group holds 32 at bf16 on AVX-512), K = 400 is two slices, and 260 rows cross two
/// groups of rows and end in a partial register block.
@Test func bf16LinearAcrossGemmBlocks() throws {
    let (k, n) = (400, 1060)
    let (module, weights) = try bf16Linear(rows: "T", k: k, n: n, transposed: false, bias: .f32, seqMax: 300)
    for seq in [129, 260] {
        let x = randomInputs(module, seqLen: seq, seed: UInt64(seq))["x"]!
        let expected = reference(x, rows: seq, k: k, n: n, transposed: false, weights)
        for (name, target, paired) in bf16Targets {
            let model = try JITModel(module, weights: weights, threads: 2, minParallelWork: 0, target: target, pairedBF16: paired)
            let y = try model.run(inputs: ["x": x], seqLen: seq)["y"]!
            let error = relativeError(y.floats, expected)
            #expect(error < 2e-6, "\(name) seq \(seq): \(error)")
        }
    }
}

/// x really is rounded: a value halfway between two bf16 numbers goes to the even one, and the
/// products differ from float32 ones.
@Test func bf16LinearRoundsItsInputToNearestEven() throws {
    for (name, target, paired) in bf16Targets {
        var (module, weights) = try bf16Linear(rows: "1", k: 2, n: 1, transposed: false, bias: nil)
        weights["w"] = HostTensor(shape: [2, 1], bf16: [bf16Bits(Float(1)), bf16Bits(Float(1))])
        // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even is 1. 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
        let x = HostTensor(shape: [1, 2], f32: [1 + 0x1p-8, 1 + 3 * 0x1p-8])
        let y = try JITModel(module, weights: weights, threads: 1, target: target, pairedBF16: paired).run(inputs: ["x": x])["y"]!
        #expect(y.floats == [1 + (1 + 0x1p-6)], "\(name): \(y.floats)")
        module.body[0].attrs.removeAll { $0.key == "compute" }  // the default: compute = f32
        let exact = try JITModel(module, weights: weights, threads: 1, target: target, pairedBF16: paired).run(inputs: ["x": x])["y"]!
        #expect(exact.floats == [2 + 4 * 0x1p-8], "\(name) without compute = bf16: \(exact.floats)")
    }
}

/// For a CPU with AVX512_BF16 the bf16 product is `vdpbf16ps` on zmm registers (checked in the
/// assembly, on any host: the numbers of that path are checked above where the CPU has it).
@Test func avx512BF16TargetsUseTheDotInstruction() throws {
    let (module, weights) = try bf16Linear(rows: "T", k: 64, n: 48, transposed: true, bias: .f32)
    let zen4 = TargetSpec(triple: "x86_64-pc-linux-gnu", cpu: "znver4",
                          features: "+avx512f,+avx512bw,+avx512vl,+avx512dq,+avx512bf16,+avx2,+fma,+avx,+f16c")
    let withDot = try compileAOT(module, weights: weights, AOTRequest(target: zen4, headerName: "m.h", wantAssembly: true))
    #expect(withDot.assembly?.contains("vdpbf16ps\t%zmm") == true)
    let without = try compileAOT(module, weights: weights,
                                 AOTRequest(target: zen4.without(["avx512bf16"]), headerName: "m.h", wantAssembly: true))
    #expect(without.assembly?.contains("vdpbf16ps") == false)
    #expect(without.assembly?.contains("vfmadd") == true)
}
