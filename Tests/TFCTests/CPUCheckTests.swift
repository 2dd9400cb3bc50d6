// An object compiled for CPU features the running CPU lacks returns ERR_CPU on every call
// instead of dying of SIGILL; one compiled for what the CPU has runs. Each case is decided by
// what this host has, so the test means the same on every machine (on an AVX2-only CPU the
// AVX-512 and AMX objects must refuse; on a Sapphire Rapids every object runs).
import Foundation
import Testing
import LLVMBridge
import TFCDriver
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

    /// An object with code for several CPUs whose cache layouts differ (AVX-512's panels are 32
    /// keys wide, AVX2's 16, the baseline's 8): the cache is the largest, and the extend harness
    /// (every status, caches against the forward, two caches at once) passes on the CPU chosen.
    @Test func extendInAnObjectForSeveralCPUs() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let cpus = "skylake-avx512,x86-64-v3,x86-64"
        let compile = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/gpt_tiny.o", "--cpu", cpus)
        #expect(compile.status == 0, "\(compile.stderr)")
        let exe = "\(dir)/extend_harness"
        let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Werror", "-I", dir,
                                     repoRoot.appendingPathComponent("Tests/TFCTests/C/extend_harness.c").path,
                                     "\(dir)/gpt_tiny.o", "-lm", "-lpthread", "-o", exe])
        #expect(cc.status == 0, "\(cc.stderr)")
        let r = try run(exe, [])
        #expect(r.status == 0 && r.stdout == "ok\n", "\(r.stdout)\(r.stderr)")
        print("note: extend in an object for \(cpus) ran the code for \(firstRunnable(cpus.split(separator: ",").map(String.init)) ?? "none")")
    }

    /// The first CPU of `cpus` whose code this host can run (nil: none).
    private func firstRunnable(_ cpus: [String]) -> String? {
        cpus.first { cpu in TargetSpec.named(cpu, triple: TargetSpec.host.triple).checkedFeatures.allSatisfy { TargetSpec.host.has($0) } }
    }

    /// Compiles gpt-tiny for `cpus` (comma-separated) into dir/name.o and a program that prints
    /// `gpt_tiny_cpu()` and then runs the demo on tokens 1 2 3; returns the program's result.
    private func buildAndRun(_ cpus: String, _ dir: String, _ name: String) throws -> Result {
        let compile = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/\(name).o", "--cpu", cpus)
        #expect(compile.status == 0, "\(compile.stderr)")
        let demo = try String(contentsOfFile: examplePath("c/gpt_demo.c"), encoding: .utf8)
            .replacingOccurrences(of: "#include \"gpt_tiny.h\"", with: "#include \"\(name).h\"")
            .replacingOccurrences(of: "int main(int argc, char **argv) {", with: """
                int main(int argc, char **argv) {
                    const char *cpu = gpt_tiny_cpu();
                    printf("cpu %s\\n", cpu ? cpu : "none");
                """)
        #expect(demo.contains("gpt_tiny_cpu()"), "the demo's main changed: update this test")
        try demo.write(toFile: "\(dir)/\(name).c", atomically: true, encoding: .utf8)
        let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Werror", "-I", dir, "\(dir)/\(name).c", "\(dir)/\(name).o",
                                     "-lm", "-lpthread", "-o", "\(dir)/\(name)"])
        #expect(cc.status == 0, "\(cc.stderr)")
        return try run("\(dir)/\(name)", ["1", "2", "3"])
    }

    /// One object with code for several CPUs runs the first one this CPU can, with the same
    /// results as an object for that CPU alone, and says which; with none it refuses, as above.
    @Test(arguments: ["sapphirerapids,znver4,x86-64-v3,x86-64-v2", "znver4,skylake-avx512,x86-64-v3", "sapphirerapids,znver4"])
    func anObjectForSeveralCPUsRunsTheFirstThisOneCan(cpus: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let list = cpus.split(separator: ",").map(String.init)
        let many = try buildAndRun(cpus, dir, "many")
        let header = try String(contentsOfFile: "\(dir)/many.h", encoding: .utf8)
        #expect(header.contains("The object holds code for \(list.count) CPUs"), "\(header)")
        #expect(header.contains("const char *gpt_tiny_cpu(void);"))
        guard let chosen = firstRunnable(list) else {
            #expect(many.status == 1 && many.stdout.hasPrefix("cpu none\n"), "\(many.status) \(many.stdout) \(many.stderr)")
            #expect(many.stderr.contains("status 5 (this CPU lacks an instruction set extension"), "\(many.stderr)")
            print("note: --cpu \(cpus) on this \(TargetSpec.host.cpu): none runs, refused with ERR_CPU")
            return
        }
        let alone = try buildAndRun(chosen, dir, "alone")
        #expect(many.status == 0 && many.stdout.hasPrefix("cpu \(chosen)\n"), "\(many.status) \(many.stdout) \(many.stderr)")
        #expect(alone.status == 0 && alone.stdout == many.stdout, "\(alone.stdout) vs \(many.stdout)")
        print("note: --cpu \(cpus) on this \(TargetSpec.host.cpu): runs the code for \(chosen)")
    }

    /// CPUs whose kernels read the same weight layouts share them: a second AVX-512 CPU adds its
    /// code, not another copy of the weights.
    @Test func cpusWithTheSameLayoutsShareTheWeights() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        for (name, cpus) in [("one", "skylake-avx512"), ("two", "skylake-avx512,icelake-server")] {
            let r = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/\(name).o", "--cpu", cpus)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let one = try FileManager.default.attributesOfItem(atPath: "\(dir)/one.o")[.size] as! Int
        let two = try FileManager.default.attributesOfItem(atPath: "\(dir)/two.o")[.size] as! Int
        let model = try loadModel(examplePath("gpt-tiny.tir"))
        let weightBytes = model.module.params.reduce(0) { $0 + (model.weights[$1.name]?.floats.count ?? 0) * 4 }
        #expect(weightBytes > 200_000, "gpt-tiny has \(weightBytes) bytes of weights")
        #expect(two - one < weightBytes / 2, "two AVX-512 CPUs: \(two) bytes, one: \(one), weights \(weightBytes)")
    }

    @Test(arguments: [
        ("znver4,znver4", "CPU znver4 is listed twice"),
        ("znver4,", "a CPU name is empty"),
        ("znver4,no-such-cpu", "no-such-cpu"),
    ])
    func aBadListOfCPUsIsRefusedBeforeAnyFile(cpus: String, message: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let r = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/m.o", "--cpu", cpus)
        #expect(r.status == 1 && r.stderr.contains(message), "\(r.status) \(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func severalCPUsAreForX86() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let r = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/m.o", "--target", "aarch64", "--cpu", "generic,cortex-a72")
        #expect(r.status == 1 && r.stderr.contains("several CPUs in one object is for x86-64"), "\(r.status) \(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
