// bf16 parameters in the interpreter: read as the f32 values they stand for, exactly.

import Testing
import TIR
import TIRFormats
import TIRInterpreter

@Suite("Interpreter on bf16 parameters")
struct BF16InterpreterTests {
    /// A model that reads bf16 parameters through every kind of operand: a table, positions, a
    /// norm's gain and bias, a linear's weight and bias, an add, a mul.
    private static let source = """
        model @bf16 {
          seq T <= 6
          weights random(seed = 11, std = 0.5)
          input %ids : i32[T]

          param @wte : bf16[20, 8]
          param @wpe : bf16[6, 8]
          param @g : bf16[8] = normal(1.0, 0.25)
          param @b : bf16[8]
          param @w : bf16[8, 8]
          param @c : bf16[8]
          param @row : bf16[1, 8]

          %tok = embedding(%ids, @wte) : f32[T, 8]
          %pos = positions(@wpe) : f32[T, 8]
          %x = add(%tok, %pos) : f32[T, 8]
          %n = layernorm(%x, @g, @b) {eps = 1e-05} : f32[T, 8]
          %h = linear(%n, @w, @c) {transposed = true} : f32[T, 8]
          %t = tanh(%h) : f32[T, 8]
          %r = relu(%h) : f32[T, 8]
          %m = mul(%t, %r) : f32[T, 8]
          %first = select_row(%m) : f32[1, 8]
          %shifted = add(%first, @row) : f32[1, 8]
          %scaled = mul(@row, %shifted) : f32[1, 8]
          output %m, %scaled
        }
        """

    @Test func equalsTheSameModelWithTheParametersWidenedToF32() throws {
        let narrow = try parseModule(Self.source, file: "bf16.tir")
        #expect(verifyModule(narrow, file: "bf16.tir").isEmpty)
        let weights = try loadWeights(for: narrow, tirPath: "bf16.tir")
        #expect(weights.tensors.values.allSatisfy { $0.dtype == .bf16 })

        var wide = narrow
        for i in wide.params.indices { wide.params[i].type.dtype = .f32 }
        #expect(verifyModule(wide, file: "wide.tir").isEmpty)
        let widened = Weights(weights.tensors.mapValues { HostTensor(shape: $0.shape, f32: $0.floats) })

        let inputs = ["ids": HostTensor(shape: [5], i32: [3, 19, 0, 7, 7])]
        let a = try Interpreter(module: narrow, weights: weights).run(inputs: inputs, seqLen: 5)
        let b = try Interpreter(module: wide, weights: widened).run(inputs: inputs, seqLen: 5)
        for name in ["m", "scaled"] {
            let (x, y) = (try #require(a[name]), try #require(b[name]))
            #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "%\(name)")
            #expect(x.contains { $0 != 0 })
        }
    }
}
