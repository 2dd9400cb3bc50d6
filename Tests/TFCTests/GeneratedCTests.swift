// The code generator's refusals through the built `tfc`, and the headers it writes compiled by the
// C (and C++) compiler: a bad --cpu or --target is a clean error, never an abort inside LLVM.
import Foundation
import Testing

@Suite struct GeneratedCTests {
    @Test func anUnknownCPUOrTargetIsACleanErrorNamingTheValidOnes() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let cases: [([String], String, String)] = [
            (["--cpu", "bogus"], "unknown CPU 'bogus'", "x86-64-v3"),
            (["--target", "x86_64", "--cpu", "i386"], "unknown CPU 'i386' for x86_64-pc-linux-gnu (it has no 64-bit mode)", "znver4"),
            (["--target", "aarch64", "--cpu", "skylake"], "unknown CPU 'skylake' for aarch64-unknown-linux-gnu", "neoverse-v2"),
            (["--target", "sparc-sun-solaris"], "unknown target 'sparc-sun-solaris'", "x86_64, aarch64"),
        ]
        #if !arch(x86_64)
        let expectedHostCPU = "generic"
        #else
        let expectedHostCPU = "x86-64-v3"
        #endif
        for (options, message, listed) in cases {
            let r = try run(tfcPath, ["compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/m.o"] + options)
            let wanted = options == ["--cpu", "bogus"] ? expectedHostCPU : listed
            #expect(r.status == 1, "\(options): exit \(r.status)\n\(r.stderr)")
            #expect(r.stderr.hasPrefix("error: ") && r.stderr.contains(message) && r.stderr.contains(wanted), "\(options): \(r.stderr)")
            #expect(!r.stderr.contains("LLVM ERROR") && !r.stderr.contains("not a recognized processor"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.o") && !FileManager.default.fileExists(atPath: "\(dir)/m.h"))
        }
    }
}
