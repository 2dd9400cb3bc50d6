// `--target` and `--cpu` are checked against what LLVM knows before a TargetMachine is made: an
// unknown CPU used to make LLVM warn and then abort in code generation (SIGABRT).
import Foundation
import Testing
@testable import LLVMBridge
@testable import TIRCodegen

@Suite struct TargetValidationTests {
    static func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    @Test func anUnknownCPUIsRefusedWithTheValidNames() throws {
        let host = try #require(Self.message { _ = try targetSpec(named: nil, cpu: "bogus") })
        #expect(host.contains("unknown CPU 'bogus'"), "\(host)")
        #expect(host.contains("generic"), "the valid names are listed: \(host)")
        let x86 = try #require(Self.message { _ = try targetSpec(named: "x86_64", cpu: "bogus") })
        #expect(x86.contains("unknown CPU 'bogus' for x86_64-pc-linux-gnu") && x86.contains("x86-64-v3, ")
                && x86.contains("skylake-avx512"), "\(x86)")
        let arm = try #require(Self.message { _ = try targetSpec(named: "aarch64", cpu: "skylake") })
        #expect(arm.contains("unknown CPU 'skylake' for aarch64-unknown-linux-gnu") && arm.contains("neoverse-v2"), "\(arm)")
        #expect(Self.message { _ = try targetSpec(named: "aarch64", cpu: "") } != nil)
        #expect(Self.message { _ = try targetSpec(named: "aarch64", cpu: "native") }?.contains("only for the host") == true)
    }

    @Test func aCPUWithoutSixtyFourBitModeIsRefusedForX86_64() throws {
        for cpu in ["i386", "pentium4", "athlon-xp", "lakemont"] {
            let m = try #require(Self.message { _ = try targetSpec(named: "x86_64", cpu: cpu) }, "\(cpu)")
            #expect(m.contains("unknown CPU '\(cpu)'") && m.contains("no 64-bit mode"), "\(m)")
        }
        // The same CPUs are fine for a 32-bit x86 triple.
        #expect(try targetSpec(named: "i686-pc-linux-gnu", cpu: "i386").cpu == "i386")
    }

    @Test func anUnknownTargetNamesTheSupportedOnes() throws {
        for name in ["sparc-sun-nowhere", "bogus", "", "riscv64-unknown-linux-gnu"] {
            let m = try #require(Self.message { _ = try targetSpec(named: name, cpu: nil) }, "'\(name)'")
            #expect(m.contains("unknown target '\(name)'") && m.contains("x86_64, aarch64"), "\(m)")
        }
    }

    @Test func validNamesPass() throws {
        #expect(try targetSpec(named: "x86_64", cpu: "znver4").cpu == "znver4")
        #expect(try targetSpec(named: "x86_64", cpu: nil).cpu == "x86-64-v2")
        #expect(try targetSpec(named: "aarch64", cpu: nil).cpu == "generic")
        #expect(try targetSpec(named: "arm64-apple-macosx", cpu: "apple-m1").cpu == "apple-m1")
        #expect(try targetSpec(named: nil, cpu: nil) == TargetSpec.host)
        #expect(try targetSpec(named: "host", cpu: "native") == TargetSpec.host)
    }

    /// Every CPU the check lets through builds an object without LLVM aborting (a one-function
    /// module: the abort was in creating the subtarget, which every emission does).
    @Test(arguments: ["x86_64-pc-linux-gnu", "aarch64-unknown-linux-gnu"])
    func everyAcceptedCPUEmitsCode(triple: String) throws {
        for cpu in try TargetSpec.cpuNames(forTriple: triple) {
            let machine = try TargetMachine(TargetSpec(triple: triple, cpu: cpu, features: ""))
            let ir = IRModule(name: "probe")
            machine.configure(ir)
            let fn = ir.addFunction("probe", ir.functionType(ir.i32, []))
            IRBuilder(ir, fn).ret(ir.i32(0))
            #expect(!(try machine.emit(ir, .object)).isEmpty, "\(cpu)")
        }
    }

    // MARK: The table against the installed llc-19

    static let llc: String? = ["/usr/bin/llc-19", "/usr/lib/llvm-19/bin/llc"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Runs a program with its output (stdout and stderr) in a file, read once it has exited.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-llc-\(UUID().uuidString).txt")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
    }

    /// `llc-19 -mtriple=T -mcpu=help`: the names under "Available CPUs for this target:".
    static func llcCPUs(_ triple: String) throws -> [String] {
        let text = try run(try #require(llc), ["-mtriple=\(triple)", "-mcpu=help"]).output
        let start = try #require(text.range(of: "Available CPUs for this target:"))
        let end = text.range(of: "Available features for this target:")?.lowerBound ?? text.endIndex
        return text[start.upperBound..<end].split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    @Test(.enabled(if: TargetValidationTests.llc != nil, "needs llc-19 (apt-get install llvm-19)"))
    func theCPUTableIsLLVMs() throws {
        #expect(try Self.llcCPUs("x86_64-pc-linux-gnu").sorted() == (try TargetSpec.cpuNames(forTriple: "i686-pc-linux-gnu")).sorted())
        let aarch64 = try Self.llcCPUs("aarch64-unknown-linux-gnu")
        #expect(aarch64.sorted() == (try TargetSpec.cpuNames(forTriple: "aarch64-unknown-linux-gnu"))
            .filter { !KnownCPUs.aarch64Aliases.contains($0) }.sorted())
        // The aliases -mcpu=help does not list: llc-19 takes each one silently (an unknown name
        // makes it print "is not a recognized processor").
        let ir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-probe-\(UUID().uuidString).ll").path
        try "define i32 @f() {\n  ret i32 0\n}\n".write(toFile: ir, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ir) }
        for alias in KnownCPUs.aarch64Aliases + ["bogus"] {
            let r = try Self.run(try #require(Self.llc), ["-mtriple=aarch64-unknown-linux-gnu", "-mcpu=\(alias)", "-filetype=null", ir])
            #expect((r.status == 0 && !r.output.contains("not a recognized processor")) == (alias != "bogus"), "\(alias): \(r.output)")
        }
    }

    static let clang: String? = ["/usr/bin/clang-19", "/usr/lib/llvm-19/bin/clang"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The features tfc spells out for a CPU named with --cpu are the ones clang-19 predefines
    /// for it, for every x86-64 CPU LLVM knows.
    @Test(.enabled(if: TargetValidationTests.clang != nil, "needs clang-19 (apt-get install clang-19)"))
    func theX86FeatureTableIsClangs() throws {
        let macros = ["__AVX__": "avx", "__AVX2__": "avx2", "__FMA__": "fma", "__AVX512F__": "avx512f",
                      "__AVX512BW__": "avx512bw", "__AVX512VL__": "avx512vl", "__AVX512DQ__": "avx512dq",
                      "__AVX512BF16__": "avx512bf16", "__AMX_TILE__": "amx-tile", "__AMX_BF16__": "amx-bf16"]
        for cpu in try TargetSpec.cpuNames(forTriple: "x86_64-pc-linux-gnu") {
            let r = try Self.run(try #require(Self.clang), ["-march=\(cpu)", "-m64", "-dM", "-E", "-x", "c", "/dev/null"])
            guard r.status == 0 else { continue }  // an LLVM alias clang does not take: x86Features(of:) maps it
            let defined = Set(r.output.split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst().first.map(String.init) })
            let expected = Set(macros.filter { defined.contains($0.key) }.map(\.value))
            #expect(Set(KnownCPUs.x86Features(of: cpu) ?? []) == expected, "\(cpu)")
        }
        #expect(KnownCPUs.x86Features(of: "skylake_avx512") == KnownCPUs.x86Features(of: "skylake-avx512"))
        let zen4 = try targetSpec(named: "x86_64", cpu: "znver4")
        #expect(zen4.vectorBits == 512 && zen4.has("avx512bf16") && !zen4.has("amx-bf16"))
        #expect(try targetSpec(named: nil, cpu: "sapphirerapids").has("amx-bf16"))
    }

    /// The x86 CPUs refused for x86-64 are exactly those on which llc-19 aborts there.
    @Test(.enabled(if: TargetValidationTests.llc != nil, "needs llc-19 (apt-get install llvm-19)"))
    func theThirtyTwoBitOnlyCPUsAreThoseLLVMAbortsOn() throws {
        let all = try TargetSpec.cpuNames(forTriple: "i686-pc-linux-gnu")
        let accepted = Set(try TargetSpec.cpuNames(forTriple: "x86_64-pc-linux-gnu"))
        let ir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-probe-\(UUID().uuidString).ll").path
        try "define i32 @f() {\n  ret i32 0\n}\n".write(toFile: ir, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ir) }
        for cpu in all {
            let r = try Self.run(try #require(Self.llc), ["-mtriple=x86_64-pc-linux-gnu", "-mcpu=\(cpu)", "-filetype=null", ir])
            #expect((r.status == 0) == accepted.contains(cpu), "\(cpu): llc exit \(r.status), accepted \(accepted.contains(cpu))")
        }
    }
}
