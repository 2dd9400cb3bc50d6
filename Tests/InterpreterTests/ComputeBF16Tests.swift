// `compute = bf16` in the interpreter: x is rounded to bfloat16 (from its float32 value, nearest
// even) before the product; the weight is a bf16 parameter read exactly; sums stay in Double.

import Testing
import TIR
import TIRInterpreter

@Suite("Interpreter: compute = bf16")
struct ComputeBF16Tests {
    private static func linearModel(_ compute: String) throws -> Module {
        try parseAndVerifyModule("""
            model @m {
              input %x : f32[3, 7]
              param @w : bf16[7, 5]
              param @b : f32[5]
              %y = linear(%x, @w, @b) {compute = \(compute)} : f32[3, 5]
              output %y
            }
            """, file: "test.tir")
    }

    /// Values with more than 8 significant bits, so that rounding x to bf16 changes them.
    private static let x: [Float] = (0..<21).map { i in Float(i - 10) * 0.1234567 + 0.0078125 * Float(i % 3) }
    private static let wBits: [UInt16] = (0..<35).map { i in bf16Bits(Float(i % 11 - 5) * 0.3141 + 0.01 * Float(i)) }
    private static let b: [Float] = [0.5, -0.25, 1.0 / 3, 0.125, -2]

    private static func weights() -> Weights {
        Weights(["w": HostTensor(shape: [7, 5], bf16: wBits), "b": HostTensor(shape: [5], f32: b)])
    }

    private static func run(_ compute: String) throws -> [Double] {
        let outputs = try Interpreter(module: linearModel(compute), weights: weights())
            .run(inputs: ["x": HostTensor(shape: [3, 7], f32: x)], seqLen: 1)
        return try #require(outputs["y"])
    }

    /// y = b + sum_i round(x[r, i]) * w[i, o], in the interpreter's order (bias first, then i).
    private static func expected(roundingX: Bool) -> [Double] {
        let w = wBits.map { Double(floatFromBF16($0)) }
        var y: [Double] = []
        for r in 0..<3 {
            for o in 0..<5 {
                var sum = Double(b[o])
                for i in 0..<7 {
                    let xi = x[r * 7 + i]
                    let rounded = roundingX ? Double(floatFromBF16(bf16Bits(xi))) : Double(xi)
                    sum += rounded * w[i * 5 + o]
                }
                y.append(sum)
            }
        }
        return y
    }

    @Test func bf16ComputeEqualsTheHandRoundedProduct() throws {
        let bf16 = try Self.run("bf16")
        #expect(bf16 == Self.expected(roundingX: true))
        let f32 = try Self.run("f32")
        #expect(f32 == Self.expected(roundingX: false))
        // The rounding matters at these values: the two differ by more than float32 noise.
        let diff = maxAbsDiff(bf16, f32)
        #expect(diff > 1e-3, "\(diff)")
        #expect(diff < 0.1, "\(diff)")
    }

    /// A Double just above a bfloat16 tie that rounds to float32 exactly on the tie: the
    /// interpreter rounds the float32 the compiled code holds (to even: 1.0), not the Double
    /// (which would round up to 1 + 2^-7).
    @Test func roundsTheFloat32ValueNotTheDouble() throws {
        let m = try parseAndVerifyModule("""
            model @m {
              input %a : f32[1, 1]
              input %c : f32[1, 1]
              param @one : bf16[1, 1]
              %x = add(%a, %c) : f32[1, 1]
              %y = linear(%x, @one) {compute = bf16} : f32[1, 1]
              output %y
            }
            """, file: "test.tir")
        let weights = Weights(["one": HostTensor(shape: [1, 1], bf16: [bf16Bits(Float(1))])])
        let tie = 1 + 0x1p-8, nudge = 0x1p-30
        #expect(bf16Bits(tie + nudge) != bf16Bits(Float(tie + nudge)))
        let outputs = try Interpreter(module: m, weights: weights).run(
            inputs: ["a": HostTensor(shape: [1, 1], f32: [Float(tie)]), "c": HostTensor(shape: [1, 1], f32: [Float(nudge)])],
            seqLen: 1)
        #expect(outputs["y"] == [1.0])
    }

    @Test func patchEmbedRoundsItsPixels() throws {
        let m = try parseAndVerifyModule("""
            model @m {
              input %image : f32[1, 2, 2]
              param @w : bf16[4, 1]
              %p = patch_embed(%image, @w) {patch = 2, compute = bf16} : f32[1, 1]
              output %p
            }
            """, file: "test.tir")
        let pixels: [Float] = [1.00390625, 1.01171875, 2.005, 3.3]
        let weights = Weights(["w": HostTensor(shape: [4, 1], bf16: Array(repeating: bf16Bits(Float(1)), count: 4))])
        let outputs = try Interpreter(module: m, weights: weights).run(inputs: ["image": HostTensor(shape: [1, 2, 2], f32: pixels)], seqLen: 1)
        let expected = pixels.reduce(0.0) { $0 + Double(floatFromBF16(bf16Bits($1))) }
        #expect(outputs["p"] == [expected])
        #expect(expected != pixels.reduce(0.0) { $0 + Double($1) })
    }
}
