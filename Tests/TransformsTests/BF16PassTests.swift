// Passes on bf16 parameters: every rewritten parameter keeps its declared dtype, and the final
// rounding goes straight from float64 to bf16, once.
import Foundation
import Testing
import TIR
import TIRInterpreter
import TIRTransforms

@Suite struct BF16PassTests {
    @Test(arguments: [Variant.preRMS, .preCRMS])
    func variantsKeepBF16Parameters(_ variant: Variant) throws {
        let path = repoRoot.appendingPathComponent("Tests/TransformsTests/Golden/bf16-crmsnorm.tir").path
        let program = try loadProgram(path: path)
        #expect(program.module.params.allSatisfy { $0.type.dtype == .bf16 })
        let ctx = try apply(variant.passes, to: program)
        #expect(ctx.module.param(named: "wte.centered") != nil && ctx.module.param(named: "fc.bias") != nil)
        #expect(ctx.module.params.allSatisfy { $0.type.dtype == .bf16 }, "\(printModule(ctx.module))")

        let weights = ctx.program.weights
        for param in ctx.module.params {
            let tensor = try #require(weights[param.name])
            let data = try #require(ctx.program.params[param.name])
            guard case .bf16(let bits) = tensor.storage else {
                Issue.record("@\(param.name) is stored as \(tensor.dtype)")
                continue
            }
            #expect(tensor.shape == param.type.staticShape)
            #expect(bits == data.values.map { bf16Bits($0) }, "@\(param.name)")
        }

        // Rounded to bf16, the rewritten model still computes nearly the same function (bf16
        // keeps 8 significant bits; the exact float64 rewrite is checked by the golden test).
        let seq = program.module.maxSeqLen
        let inputs = randomInputs(program.module, seqLen: seq, seed: 3)
        let before = try evaluate(program, inputs, seqLen: seq)
        let after = try Interpreter(module: ctx.module, weights: weights).run(inputs: inputs, seqLen: seq)
        #expect(relativeDifference(before, after) < 3e-2, "\(relativeDifference(before, after))")
    }

    @Test func f32ParametersStayF32() throws {
        let program = try loadProgram(path: examplePath("gpt-tiny.tir"))
        let ctx = try apply(Variant.preCRMS.passes, to: program)
        #expect(ctx.module.params.allSatisfy { $0.type.dtype == .f32 })
        #expect(ctx.program.weights.tensors.values.allSatisfy { $0.dtype == .f32 })
    }
}
