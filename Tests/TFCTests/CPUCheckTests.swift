// An object compiled for CPU features the running CPU lacks returns ERR_CPU on every call
// instead of dying of SIGILL; one compiled for what the CPU has runs. Each case is decided by
// what this host has, so the test means the same on every machine (on an AVX2-only CPU the
// AVX-512 and AMX objects must refuse; on a Sapphire Rapids every object runs).
import Foundation
import Testing
import LLVMBridge
import TIRCodegen

@Suite(.enabled(if: TargetSpec.host.isX86, "the CPU check is for x86-64 objects"))
struct CPUCheckTests {
    @Test(arguments: ["x86-64-v2", "x86-64-v3", "skylake-avx512", "znver4", "sapphirerapids"])
    func anObjectForAnotherCPURunsOrSaysWhy(cpu: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let compile = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/gpt_tiny.o", "--cpu", cpu)
        #expect(compile.status == 0, "\(compile.stderr)")
        let header = try String(contentsOfFile: "\(dir)/gpt_tiny.h", encoding: .utf8)
        let named = TargetSpec.named(cpu, triple: TargetSpec.host.triple)
        let needed = named.checkedFeatures
        // Every SIMD feature of the CPU's table is checked, but AMX, which tfc does not emit yet.
        #expect(needed == named.features.split(separator: ",").map { String($0.dropFirst()) }.filter { !$0.hasPrefix("amx") }.sorted())
        if needed.isEmpty {
            #expect(!header.contains("uses:"), "a baseline object needs no check")
        } else {
            #expect(header.contains("compiled for CPU \(cpu) and uses: \(needed.joined(separator: ", "))"), "\(header)")
        }
        let exe = "\(dir)/demo"
        let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Werror", "-I", dir, examplePath("c/gpt_demo.c"),
                                     "\(dir)/gpt_tiny.o", "-lm", "-lpthread", "-o", exe])
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try run(exe, ["1", "2", "3"])
        let runnable = needed.allSatisfy { TargetSpec.host.has($0) }
        if runnable {
            #expect(r.status == 0 && r.stdout.split(separator: "\n").count == 3, "\(cpu): \(r.status) \(r.stderr)")
        } else {
            // A clean refusal: exit 1 from the demo's status check, no signal.
            #expect(r.status == 1, "\(cpu): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("status 5 (this CPU lacks an instruction set extension"), "\(r.stderr)")
        }
        print("note: --cpu \(cpu) on this \(TargetSpec.host.cpu): \(runnable ? "runs" : "refused with ERR_CPU")")
    }
}
