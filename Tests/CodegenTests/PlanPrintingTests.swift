// The code generator's plans as text (what `tfc compile --emit fusion,memory-plan` writes): what
// each GEMM computes, and where every value of the model lives.
import Foundation
import Testing
import TIR
import TIRCodegen

@Test func fusionPlanSaysWhatEachGemmComputes() throws {
    let (module, _) = try load(path: examplePath("gpt-tiny.tir"))
    let plans = try LoweringPlans(module, target: .host)
    let text = plans.fusion.description
    // The MLP's first linear computes its GELU; the second computes the residual add.
    #expect(text.contains("%h0.fc: gemm, epilogue bias+gelu_tanh, computes %h0.act, stores %h0.act"), "\(text)")
    #expect(text.contains("%h0.out: gemm, epilogue bias+residual (residual %h0.x1), computes %h0.x2, stores %h0.x2"),
            "\(text)")
    // One line per linear.
    let linears = module.body.filter { $0.op == .linear }.count
    #expect(text.split(separator: "\n").filter { $0.contains(": gemm") }.count == linears)
}

@Test func memoryPlanPlacesEveryValue() throws {
    let (module, _) = try load(path: examplePath("gpt-tiny.tir"))
    let plans = try LoweringPlans(module, target: .host)
    let text = plans.memory.description
    #expect(text.contains("workspace \(plans.entry.workspaceBytes) bytes"))
    // Every op's result is either in the workspace, an output, or computed inside a GEMM.
    for inst in module.body {
        let lines = text.split(separator: "\n").filter { $0.hasSuffix("%\(inst.result)") || $0.hasPrefix("%\(inst.result):") }
        #expect(lines.count == 1, "%\(inst.result): \(lines)")
    }
    // Attention's packed K/V scratch is there, live while its op runs only.
    #expect(text.contains("%h0.att.kv"))
    #expect(text.contains("%h0.fc: not written"))
    #expect(text.contains("%logits: output"))
}

@Test func unoptimizedIRIsKeptOnRequest() throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let out = try compileAOT(module, weights: weights,
                             AOTRequest(target: .host, headerName: "m.h", wantIR: true, wantUnoptimizedIR: true))
    let unoptimized = try #require(out.unoptimizedIR), optimized = try #require(out.llvmIR)
    // Before optimization the forward function still allocates its locals on the stack.
    #expect(unoptimized.contains("alloca"))
    #expect(unoptimized != optimized)
    #expect(unoptimized.contains("define i32 @gpt_tiny_forward_threads("))
}

@Test func activationsAfterALinearAreFused() throws {
    let source = try #require(opCases.first { $0.0.hasPrefix("linear + relu") }?.1)
    let (module, _) = try load(source: source)
    let text = try LoweringPlans(module, target: .host).fusion.description
    #expect(text.contains("%h: gemm, epilogue bias+relu, computes %r, stores %r"), "\(text)")
    #expect(text.contains("%o: gemm, epilogue tanh, computes %t, stores %t"), "\(text)")
}
