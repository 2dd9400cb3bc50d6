// Ahead-of-time outputs: objects for x86-64 and aarch64, headers, LLVM IR and assembly.
import Foundation
import LLVMBridge
import Testing
import TIR
@testable import TIRCodegen

/// ELF e_machine of an object file (little-endian u16 at offset 18).
func elfMachine(_ bytes: [UInt8]) -> Int? {
    guard bytes.count > 20, bytes[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else { return nil }
    return Int(bytes[18]) | Int(bytes[19]) << 8
}

@Test(arguments: [("x86_64", 62), ("aarch64", 183)])
func objectForTarget(target: String, machine: Int) throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let spec = try targetSpec(named: target, cpu: nil)
    let out = try compileAOT(module, weights: weights, AOTRequest(target: spec, headerName: "gpt_tiny.h",
                                                                 wantIR: true, wantAssembly: true))
    #expect(elfMachine(out.object) == machine)
    // The weights are embedded: the object is at least as large as the parameters.
    let paramBytes = weights.tensors.values.reduce(0) { $0 + $1.count * 4 }
    #expect(out.object.count > paramBytes)
    #expect(out.assembly?.contains("gpt_tiny_forward") == true)
    #expect(out.llvmIR?.contains("@gpt_tiny_forward(ptr") == true)
    #expect(out.header.contains("int32_t gpt_tiny_forward(const int32_t *tokens, int64_t seq_len, float *logits, void *workspace);"))
    #expect(out.header.contains("#define GPT_TINY_MAX_SEQ_LEN 64"))
    #expect(out.header.contains("#define GPT_TINY_WORKSPACE_SIZE \(out.entry.workspaceBytes)"))
}

@Test func hostCodeUsesTheWidestVectors() throws {
    let host = TargetSpec.host
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let out = try compileAOT(module, weights: weights, AOTRequest(target: host, headerName: "m.h", wantAssembly: true))
    let asm = try #require(out.assembly)
    switch host.vectorBits {
    case 512: #expect(asm.contains("zmm"))
    case 256: #expect(asm.contains("ymm"))
    default: #expect(asm.contains("xmm"))
    }
}

@Test func staticModelsTakeNoSequenceLength() throws {
    let (module, weights) = try load(path: examplePath("vit-tiny.tir"))
    let out = try compileAOT(module, weights: weights, AOTRequest(target: .host, headerName: "vit_tiny.h"))
    #expect(out.header.contains("int32_t vit_tiny_forward(const float *image, float *logits, void *workspace);"))
    #expect(!out.header.contains("MAX_SEQ_LEN"))
}

@Test func workspaceSlotsAreReusedOnceDead() throws {
    let (module, _) = try load(path: examplePath("gpt-tiny.tir"))
    let plan = try MemoryPlan(module, fusion: FusionPlan(module), gemm: GemmShape(lanes: 16, mr: 8))
    // Two blocks' worth of activations fold into a few live buffers.
    #expect(plan.workspaceBytes * 3 < plan.unsharedBytes, "\(plan.workspaceBytes) of \(plan.unsharedBytes)")
    #expect(plan.workspaceBytes > 0)
}

@Test func workspacesPastTheLimitAreRefused() throws {
    // 2^20 rows of 4096 floats: 16 GiB for one value, more with two.
    let (module, _) = try load(source: """
        model @m {
          seq T <= 1048576
          input %x : f32[T, 4096]
          %a = gelu(%x) : f32[T, 4096]
          %b = tanh(%a) : f32[T, 4096]
          %y = mul(%a, %b) : f32[T, 4096]
          output %y
        }
        """)
    #expect(throws: CodegenError.self) { _ = try LoweringPlans(module, target: .host) }
    do {
        _ = try LoweringPlans(module, target: .host)
    } catch {
        #expect("\(error)".contains("for 'seq T <= 1048576' (line 2)"), "\(error)")
    }
}
