// The rooflines `tfc bench` quotes: the fp32 FMA probe and the bf16 probe, checked in their
// assembly for the CPUs they are for and, where this CPU has the instruction, run.
import Testing
import LLVMBridge
import TIRCodegen

@Suite(.enabled(if: TargetSpec.host.isX86, "the probes' instructions are x86's"))
struct PeakProbeTests {
    /// The bf16 probe's loop is `vdpbf16ps` on zmm registers, one per chain, for an AVX512_BF16 CPU.
    @Test func theBF16ProbeRunsVdpbf16ps() throws {
        let zen4 = TargetSpec.named("znver4", triple: TargetSpec.host.triple)
        #expect(PeakProbe.bf16Instruction(zen4) == "vdpbf16ps")
        let asm = try PeakProbe.assembly(for: zen4, bf16: true)
        let dots = asm.split(separator: "\n").filter { $0.contains("vdpbf16ps") && $0.contains("%zmm") }
        #expect(dots.count >= 12, "\(dots.count) vdpbf16ps in\n\(asm)")
        // A CPU without AVX512_BF16 has no bf16 probe (its bf16 products run on the FMAs).
        #expect(PeakProbe.bf16Instruction(TargetSpec.named("skylake-avx512", triple: TargetSpec.host.triple)) == nil)
        #expect(PeakProbe.bf16Instruction(TargetSpec.named("x86-64-v3", triple: TargetSpec.host.triple)) == nil)
    }

    @Test func theFMAProbeRunsFMAsAtTheVectorWidth() throws {
        let asm = try PeakProbe.assembly(for: TargetSpec.named("skylake-avx512", triple: TargetSpec.host.triple), bf16: false)
        let fmas = asm.split(separator: "\n").filter { $0.contains("vfmadd") && $0.contains("%zmm") }
        #expect(fmas.count >= 12, "\(fmas.count) zmm FMAs in\n\(asm)")
    }

    /// On this CPU: a bf16 peak where it has the instruction, none where it has not.
    @Test func theBF16ProbeMeasuresWhereTheCPUHasIt() throws {
        let peak = try PeakProbe.measureBF16(seconds: 0.01, trials: 1)
        if TargetSpec.host.has("avx512bf16") {
            #expect((peak ?? 0) > 1, "bf16 peak \(String(describing: peak))")
        } else {
            #expect(peak == nil)
            print("note: this CPU (\(TargetSpec.host.cpu)) has no AVX512_BF16: no bf16 peak to measure")
        }
    }
}
