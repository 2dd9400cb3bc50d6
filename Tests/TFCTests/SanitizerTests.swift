// Compiled models under AddressSanitizer, UndefinedBehaviorSanitizer and ThreadSanitizer: every
// entry point, valid and invalid arguments, buffers of exactly their documented sizes
// (Tests/TFCTests/C/sanitizer_harness.c). Docs/testing.md describes these tests and what they need.
//
// A sanitizer sees only the code it instrumented, and the object `tfc compile` writes is not
// instrumented: linked with an ASan harness, its out-of-bounds writes into heap redzones would go
// unnoticed. So each model is checked two ways:
//  - the object as shipped, with the harness in guard-page modes (each buffer ends, or begins,
//    at an inaccessible page, so any access past it faults and ASan reports the SEGV);
//  - the model's optimized LLVM IR (`--emit llvm-ir`), its functions marked sanitize_address (or
//    sanitize_thread) and compiled by clang with the sanitizer, so every load and store of the
//    generated code is checked against the redzones around the exact-size heap buffers.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRTransforms

@Suite struct SanitizerTests {
    /// A clang whose sanitizer runtimes link and run here.
    struct SanitizerClang: Sendable {
        var path: String
        /// The major version: the IR tfc writes (LLVM 19) needs clang 19 or later to be read.
        var major: Int
    }

    /// Tried in order: $TFC_SANITIZER_CC, Debian's clang-19 (the LLVM tfc is built on), then any clang.
    static let candidates: [String] = {
        var names: [String] = []
        if let cc = ProcessInfo.processInfo.environment["TFC_SANITIZER_CC"], !cc.isEmpty { names.append(cc) }
        names += ["clang-19", "/usr/lib/llvm-19/bin/clang", "clang", "clang-21", "clang-20", "clang-18",
                  "clang-14", "/opt/swift/usr/bin/clang"]
        return names
    }()

    /// Whether `clang` builds and runs a program with `flags` (the sanitizer runtimes are there and work).
    static func probe(_ clang: String, _ flags: [String], in dir: String) -> Bool {
        let source = "\(dir)/probe.c", exe = "\(dir)/probe-\(UUID().uuidString)"
        let text = "#include <pthread.h>\n#include <stdlib.h>\nstatic void *f(void *p) { return p; }\n"
            + "int main(void) { pthread_t t; int *p = malloc(8); pthread_create(&t, 0, f, p); pthread_join(t, 0);"
            + " p[1] = 1; int r = p[1] - 1; free(p); return r; }\n"
        guard (try? text.write(toFile: source, atomically: true, encoding: .utf8)) != nil,
              let built = try? run(clang, flags + [source, "-lpthread", "-o", exe]), built.status == 0,
              let ran = try? run(exe, []) else { return false }
        return ran.status == 0 && !CompiledCode.hasSanitizerReport(ran.stderr)
    }

    /// The first candidate with working ASan + UBSan runtimes, and the first one that reads LLVM 19
    /// IR and has a working TSan runtime (Swift's clang, for one, has a TSan runtime that needs
    /// libdispatch to link).
    static let clangs: (address: SanitizerClang?, thread: SanitizerClang?) = {
        guard let dir = try? makeTempDir() else { return (nil, nil) }
        defer { cleanup(dir) }
        var address: SanitizerClang?, thread: SanitizerClang?
        var seen = Set<String>()
        for name in candidates {
            guard address == nil || thread == nil, let path = CompiledCode.findExecutable(name),
                  seen.insert(URL(fileURLWithPath: path).resolvingSymlinksInPath().path).inserted else { continue }
            let version = (try? run(path, ["--version"]))?.stdout ?? ""
            // "... clang version 19.1.7 ..." -> 19
            let major = version.range(of: "clang version ").flatMap { range in
                Int(version[range.upperBound...].prefix { $0.isNumber })
            } ?? 0
            let clang = SanitizerClang(path: path, major: major)
            if address == nil, probe(path, ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"], in: dir) {
                address = clang
            }
            if thread == nil, major >= 19, probe(path, ["-fsanitize=thread"], in: dir) { thread = clang }
        }
        return (address, thread)
    }()
    static var clang: SanitizerClang? { clangs.address }

    static let skipReason = "sanitizer tests skipped: no clang with working AddressSanitizer/UndefinedBehaviorSanitizer "
        + "runtimes (tried \(candidates.joined(separator: ", "))); apt-get install clang-19 libclang-rt-19-dev "
        + "(scripts/setup.sh installs them), or set TFC_SANITIZER_CC"
    static let available: Bool = {
        if let clang = clangs.address {
            print("sanitizer tests: ASan/UBSan with \(clang.path) (clang \(clang.major)), TSan with "
                  + (clangs.thread.map { "\($0.path) (clang \($0.major))" } ?? "none"))
        } else {
            print(skipReason)
        }
        return clangs.address != nil
    }()
    static let threadSanitizerAvailable: Bool = {
        if clangs.thread == nil {
            print("ThreadSanitizer test skipped: no clang 19 or later with a working ThreadSanitizer runtime (tried "
                  + "\(candidates.joined(separator: ", "))); apt-get install clang-19 libclang-rt-19-dev (scripts/setup.sh)")
        }
        return clangs.thread != nil
    }()

    #if arch(x86_64)
    static let nativeCPU = "-march=native"
    /// For ThreadSanitizer, which checks 1- to 16-byte accesses but not wider vectors: SSE2 only.
    static let narrowCPU = "x86-64"
    #else
    static let nativeCPU = "-mcpu=native"
    static let narrowCPU = "generic"
    #endif

    /// The IR with `attribute` added to the attribute group of every function it defines (a
    /// function without a group gets a new one).
    static func instrument(_ ir: String, with attribute: String) -> String {
        var lines = ir.components(separatedBy: "\n")
        var groups = Set<String>()
        var highest = -1
        for line in lines where line.hasPrefix("attributes #") {
            highest = max(highest, Int(line.dropFirst("attributes #".count).prefix { $0.isNumber }) ?? -1)
        }
        let fresh = "#\(highest + 1)"
        for i in lines.indices where lines[i].hasPrefix("define ") {
            // define ... @f(...) ... #5 {
            if let group = lines[i].split(separator: " ").last(where: { $0.hasPrefix("#") }) {
                groups.insert(String(group))
            } else if lines[i].hasSuffix(" {") {
                lines[i] = String(lines[i].dropLast(2)) + " \(fresh) {"
            }
        }
        for i in lines.indices where lines[i].hasPrefix("attributes #") {
            let parts = lines[i].split(separator: " ", maxSplits: 3)  // attributes #5 = { ...
            if parts.count == 4, groups.contains(String(parts[1])), parts[3].hasPrefix("{ ") {
                lines[i] = "attributes \(parts[1]) = { \(attribute) " + parts[3].dropFirst(2)
            }
        }
        lines.append("attributes \(fresh) = { \(attribute) }")
        return lines.joined(separator: "\n")
    }

    /// Compiles IR written by tfc with clang and a sanitizer (-O0: instrument exactly that code),
    /// and checks that the object calls the sanitizer's checks (`probe`: a symbol it must reference).
    static func compileInstrumented(_ ir: String, attribute: String, sanitizer: String, probe: String, to object: String,
                                    _ clang: SanitizerClang) throws {
        let path = (object as NSString).deletingPathExtension + ".ll"
        try instrument(ir, with: attribute).write(toFile: path, atomically: true, encoding: .utf8)
        let r = try run(clang.path, ["-c", "-O0", "-Wno-override-module", nativeCPU, sanitizer, path, "-o", object])
        try #require(r.status == 0, "\(clang.path) \(sanitizer) on tfc's IR:\n\(r.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: object))
        try #require(bytes.range(of: Data(probe.utf8)) != nil, "\(object) does not call \(probe): nothing was instrumented")
    }

    /// Builds the harness with `flags` against `objects` and the header in `includeDir` (default `dir`).
    static func buildHarness(_ example: CompiledCode.Example, objects: [String], in dir: String, includeDir: String? = nil,
                             named name: String, flags: [String], _ clang: SanitizerClang) throws -> String {
        let exe = "\(dir)/\(name)"
        let r = try run(clang.path, ["-std=c11", "-g", "-O1", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror",
                                     example.define, "-I", includeDir ?? dir, "-I", CompiledCode.cSources] + flags
                        + [CompiledCode.cSource("sanitizer_harness.c")] + objects + ["-lm", "-lpthread", "-o", exe])
        try #require(r.status == 0, "building \(name):\n\(r.stderr)")
        return exe
    }

    static func expectClean(_ exe: String, _ mode: String, _ what: String) throws {
        let r = try run(exe, [mode])
        #expect(r.status == 0 && r.stdout.hasPrefix("ok ") && !CompiledCode.hasSanitizerReport(r.stderr),
                "\(what), \(mode): exit \(r.status)\n\(r.stdout)\(r.stderr)")
    }

    /// ASan + UBSan: the object as `tfc compile` writes it (guard pages catch its stray accesses),
    /// and the same model compiled from its IR with ASan instrumentation.
    @Test(.enabled(if: SanitizerTests.available, "needs clang with ASan/UBSan runtimes: run scripts/setup.sh"),
          arguments: CompiledCode.Example.allCases, Variant.allCases)
    func addressAndUndefinedBehaviorSanitizers(_ example: CompiledCode.Example, _ variant: Variant) throws {
        let clang = try #require(Self.clang)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let object = try CompiledCode.compile(example, variant, into: dir, ["--emit", "obj,header,llvm-ir"])
        let what = "\(example) \(variant.rawValue)"
        let asan = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

        let shipped = try Self.buildHarness(example, objects: [object], in: dir, named: "harness", flags: asan, clang)
        for mode in ["heap", "guard-tail", "guard-head"] {
            try Self.expectClean(shipped, mode, "\(what), object from tfc compile")
        }

        guard clang.major >= 19 else {
            print("\(what): ASan-instrumented IR skipped: \(clang.path) is clang \(clang.major), older than the LLVM 19 IR")
            return
        }
        let ir = try String(contentsOfFile: "\(dir)/\(example.prefix).ll", encoding: .utf8)
        let instrumented = "\(dir)/\(example.prefix)-asan.o"
        try Self.compileInstrumented(ir, attribute: "sanitize_address", sanitizer: "-fsanitize=address",
                                     probe: "__asan_report_store", to: instrumented, clang)
        let checked = try Self.buildHarness(example, objects: [instrumented], in: dir, named: "harness-asan",
                                            flags: asan, clang)
        try Self.expectClean(checked, "heap", "\(what), IR compiled with ASan")
    }

    /// ThreadSanitizer on every entry point (<name>_forward_threads with 0 to 3 threads): the
    /// generated code, instrumented from its IR compiled for a CPU whose vectors TSan checks
    /// (SSE2 or NEON, 16 bytes; masked loads and stores are not checked), has no data race.
    @Test(.enabled(if: SanitizerTests.threadSanitizerAvailable, "needs clang 19+ with a TSan runtime: run scripts/setup.sh"),
          arguments: CompiledCode.Example.allCases, Variant.allCases)
    func threadSanitizer(_ example: CompiledCode.Example, _ variant: Variant) throws {
        let clang = try #require(Self.clangs.thread)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try CompiledCode.compile(example, variant, into: dir, ["--emit", "header,llvm-ir", "--cpu", Self.narrowCPU])
        let ir = try String(contentsOfFile: "\(dir)/\(example.prefix).ll", encoding: .utf8)
        let instrumented = "\(dir)/\(example.prefix)-tsan.o"
        try Self.compileInstrumented(ir, attribute: "sanitize_thread", sanitizer: "-fsanitize=thread",
                                     probe: "__tsan_write", to: instrumented, clang)
        let exe = try Self.buildHarness(example, objects: [instrumented], in: dir, named: "harness-tsan",
                                        flags: ["-fsanitize=thread"], clang)
        try Self.expectClean(exe, "heap", "\(example) \(variant.rawValue), IR compiled with TSan")
    }

    /// The checks above can fail: told that the workspace is 64 bytes shorter than it is, the
    /// harness gives the model a buffer it overruns, and both ways of checking catch it.
    @Test(.enabled(if: SanitizerTests.available, "needs clang with ASan/UBSan runtimes: run scripts/setup.sh"))
    func theChecksCatchAShortWorkspace() throws {
        let clang = try #require(Self.clang)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let example = CompiledCode.Example.gptTiny
        let object = try CompiledCode.compile(example, .preLN, into: dir, ["--emit", "obj,header,llvm-ir"])
        let header = try String(contentsOfFile: "\(dir)/gpt_tiny.h", encoding: .utf8)
        let line = try #require(header.split(separator: "\n").first { $0.hasPrefix("#define GPT_TINY_WORKSPACE_SIZE ") })
        let size = try #require(Int(line.split(separator: " ").last ?? ""))
        let short = "\(dir)/short"
        try FileManager.default.createDirectory(atPath: short, withIntermediateDirectories: true)
        try header.replacingOccurrences(of: String(line), with: "#define GPT_TINY_WORKSPACE_SIZE \(size - 64)")
            .write(toFile: "\(short)/gpt_tiny.h", atomically: true, encoding: .utf8)
        let asan = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]

        let shipped = try Self.buildHarness(example, objects: [object], in: dir, includeDir: short, named: "harness",
                                            flags: asan, clang)
        let faulted = try run(shipped, ["guard-tail"])
        #expect(faulted.status != 0 && faulted.stderr.contains("AddressSanitizer: SEGV"),
                "a workspace 64 bytes short went unnoticed in guard-tail mode: exit \(faulted.status)\n\(faulted.stderr)")

        guard clang.major >= 19 else { return }
        let ir = try String(contentsOfFile: "\(dir)/gpt_tiny.ll", encoding: .utf8)
        let instrumented = "\(dir)/gpt_tiny-asan.o"
        try Self.compileInstrumented(ir, attribute: "sanitize_address", sanitizer: "-fsanitize=address",
                                     probe: "__asan_report_store", to: instrumented, clang)
        let checked = try Self.buildHarness(example, objects: [instrumented], in: dir, includeDir: short,
                                            named: "harness-asan", flags: asan, clang)
        let reported = try run(checked, ["heap"])
        #expect(reported.status != 0 && reported.stderr.contains("AddressSanitizer: heap-buffer-overflow"),
                "a workspace 64 bytes short went unnoticed by ASan: exit \(reported.status)\n\(reported.stderr)")
    }

    /// `instrument` marks every defined function and nothing else (no tools needed).
    @Test func instrumentMarksEveryDefinedFunction() {
        let ir = """
            define i32 @f(ptr %p) #0 {
              ret i32 0
            }
            define internal void @g() {
              ret void
            }
            declare float @llvm.sqrt.f32(float) #1
            attributes #0 = { nounwind "prefer-vector-width"="512" }
            attributes #1 = { nocallback nofree }
            """
        let out = Self.instrument(ir, with: "sanitize_address").components(separatedBy: "\n")
        #expect(out.contains("attributes #0 = { sanitize_address nounwind \"prefer-vector-width\"=\"512\" }"))
        #expect(out.contains("attributes #1 = { nocallback nofree }"))
        #expect(out.contains("define internal void @g() #2 {"))
        #expect(out.last == "attributes #2 = { sanitize_address }")
    }
}
