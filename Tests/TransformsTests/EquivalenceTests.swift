// Every variant computes the same function as the Pre-LN original, checked in exact float64.
import Testing
import TIR
import TIRFormats
import TIRTransforms

@Suite struct EquivalenceTests {
    @Test(arguments: ["gpt-tiny.tir", "vit-tiny.tir"], Variant.allCases)
    func exampleVariantsAreExact(file: String, variant: Variant) throws {
        let program = try loadProgram(path: examplePath(file))
        let rewritten = try apply(variant.passes, to: program)
        let seq = program.module.seq?.max ?? 1
        for s in Set([1, seq]) {
            let inputs = randomInputs(program.module, seqLen: s, seed: UInt64(s))
            let a = try evaluate(program, inputs, seqLen: s)
            let b = try evaluate(rewritten.program, inputs, seqLen: s)
            #expect(relativeDifference(a, b) < 1e-12, "\(file) \(variant.rawValue) seq \(s): \(relativeDifference(a, b))")
        }
    }

    @Test func preCRMSHasTheExpectedShape() throws {
        let program = try loadProgram(path: examplePath("gpt-tiny.tir"))
        let ctx = try apply(Variant.preCRMS.passes, to: program)
        let m = ctx.module
        #expect(!m.body.contains { $0.op == .layernorm || $0.op == .rmsnorm })
        #expect(m.body.filter { $0.op == .crmsnorm }.count == 5)
        #expect(m.body.allSatisfy { $0.op != .crmsnorm || $0.operands.count == 1 })
        // The stream is 63 wide; inner widths are unchanged.
        #expect(m.body.first { $0.result == "x0" }?.type.dims.last == .fixed(63))
        #expect(m.body.first { $0.result == "h0.qkv" }?.type.dims.last == .fixed(192))
        #expect(m.body.first { $0.result == "logits" }?.type.dims.last == .fixed(256))
        for r in ctx.remarks { print(r) }
    }
}
