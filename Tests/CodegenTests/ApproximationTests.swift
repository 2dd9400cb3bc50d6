// The polynomial exp/tanh/erf of the generated code, through GELU and softmax, against the
// interpreter's libm (Double): the largest errors are stated and bounded here.
import Testing
import TIR
import TIRCodegen
import TIRInterpreter

@Suite struct ApproximationTests {
    /// GELU on 16384 points spread over [-12, 12] (and the extremes), both forms.
    @Test func geluIsAccurate() throws {
        let (module, weights) = try load(source: """
            model @m {
              seq T <= 32
              input %x : f32[T, 512]
              %e = gelu(%x) : f32[T, 512]
              %t = gelu(%x) {approximation = tanh} : f32[T, 512]
              output %e, %t
            }
            """)
        let n = 32 * 512
        var xs = (0..<n).map { Float(-12 + 24 * Double($0) / Double(n - 1)) }
        xs[0] = -80
        xs[n - 1] = 80
        let inputs = ["x": HostTensor(shape: [32, 512], f32: xs)]
        let native = try JITModel(module, weights: weights).run(inputs: inputs, seqLen: 32)
        let reference = try Interpreter(module: module, weights: weights).run(inputs: inputs, seqLen: 32)
        for name in ["e", "t"] {
            let a = try #require(native[name]).floats, r = try #require(reference[name])
            let worst = zip(a, r).map { abs(Double($0) - $1) }.max() ?? .infinity
            // Measured: 4.4e-7 (erf form) and 4.3e-7 (tanh form), where |gelu| reaches 12.
            print("gelu \(name == "e" ? "erf" : "tanh") form: max abs error \(worst) over [-12, 12] and +-80")
            #expect(worst < 1e-6, "gelu \(name): max abs error \(worst)")
            #expect(!a.contains { !$0.isFinite })
        }
    }

    /// Softmax through attention with scores spread over a wide range (exp over [-87, 0]), over
    /// three blocks of keys of the online softmax (128 keys each), so that a row's maximum
    /// grows from block to block and its earlier sums and outputs must shrink exactly.
    @Test func softmaxIsAccurateForLargeScores() throws {
        let (module, weights) = try load(source: """
            model @m {
              seq T <= 300
              input %x : f32[T, 48]
              %a = attention(%x) {heads = 1, causal = true} : f32[T, 16]
              %b = attention(%x) {heads = 1, causal = false} : f32[T, 16]
              output %a, %b
            }
            """)
        // Scores q.k / 4 up to ~1000 in magnitude; the keys' magnitude grows with their position,
        // so later blocks hold the larger scores.
        for seq in [40, 129, 300] {
            let xs: [Float] = (0..<(seq * 48)).map { (i: Int) -> Float in
                Float((i * 7919) % 1000 - 500) / 40 * (1 + Float(i / 48) / 100)
            }
            let inputs = ["x": HostTensor(shape: [seq, 48], f32: xs)]
            let native = try JITModel(module, weights: weights, minParallelWork: 0).run(inputs: inputs, seqLen: seq)
            let reference = try Interpreter(module: module, weights: weights).run(inputs: inputs, seqLen: seq)
            for name in ["a", "b"] {
                let a = try #require(native[name]).floats, r = try #require(reference[name])
                #expect(relativeError(a, r) < 1e-5, "seq \(seq) %\(name): \(relativeError(a, r))")
            }
        }
    }
}
