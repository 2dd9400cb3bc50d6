// Objects compiled for aarch64 (`tfc compile --target aarch64`), linked into C programs with the
// aarch64 cross toolchain and run under qemu-user: same outputs as the host's JIT, same status
// codes, no access outside the buffers. Docs/testing.md describes these tests and what they need.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRCodegen
import TIRTransforms

/// What CrossTargetTests and SanitizerTests share: the example models, the C programs in
/// Tests/TFCTests/C, finding tools.
enum CompiledCode {
    /// The two example models and how the C programs select them (model_api.h).
    enum Example: String, CaseIterable, Sendable, CustomStringConvertible {
        case gptTiny = "gpt-tiny"
        case vitTiny = "vit-tiny"

        var tirPath: String { examplePath("\(rawValue).tir") }
        /// The symbol prefix, also the base name of the object and header.
        var prefix: String { rawValue.replacingOccurrences(of: "-", with: "_") }
        var define: String { self == .gptTiny ? "-DMODEL_GPT" : "-DMODEL_VIT" }
        var description: String { rawValue }
    }

    static let cSources = repoRoot.appendingPathComponent("Tests/TFCTests/C").path
    static func cSource(_ name: String) -> String { "\(cSources)/\(name)" }

    /// `name` on $PATH (or in one of `extraDirectories`), if it is an executable file.
    static func findExecutable(_ name: String, extraDirectories: [String] = []) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin"] + extraDirectories
        return dirs.lazy.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `tfc compile` of an example in a variant into `dir` (`dir/<prefix>.o`, `.h`, ...), with
    /// every parallel loop split across threads however small (the examples are tiny).
    static func compile(_ example: Example, _ variant: Variant, into dir: String, _ extra: [String] = []) throws -> String {
        let object = "\(dir)/\(example.prefix).o"
        let r = try run(tfcPath, ["compile", example.tirPath, "-o", object, "--variant", variant.rawValue,
                                  "--min-parallel-flops", "0"] + extra)
        try #require(r.status == 0, "tfc compile \(example) --variant \(variant.rawValue) \(extra): \(r.stderr)")
        return object
    }

    /// A tensor's elements as raw little-endian bytes, the layout the C entry points read.
    static func rawBytes(_ tensor: HostTensor) -> Data {
        switch tensor.storage {
        case .f32(let v): return v.withUnsafeBytes { Data($0) }
        case .bf16(let v): return v.withUnsafeBytes { Data($0) }
        case .i32(let v): return v.withUnsafeBytes { Data($0) }
        case .bf16(let v): return v.withUnsafeBytes { Data($0) }
        }
    }

    /// Whether a program's stderr holds a sanitizer report (or a fault the harness did not expect).
    static func hasSanitizerReport(_ stderr: String) -> Bool {
        ["Sanitizer", "runtime error:", "SUMMARY:", "Segmentation fault", "qemu: uncaught target signal"]
            .contains { stderr.contains($0) }
    }

    /// max|a - b| / max|reference|, the measure the aarch64 outputs are held to.
    static func relativeError(_ a: [Float], _ reference: [Float]) -> Double {
        let scale = reference.map { Double(abs($0)) }.max() ?? 0
        let worst = zip(a, reference).map { abs(Double($0) - Double($1)) }.max() ?? 0
        return scale > 0 ? worst / scale : worst
    }
}

@Suite struct CrossTargetTests {
    /// How to build and run an aarch64 program here: a cross compiler and qemu-user, or on an
    /// aarch64 machine the host's compiler and no emulator.
    struct Toolchain: Sendable {
        var compiler: String
        /// Put before the program to run it (qemu-aarch64 -L sysroot), or empty.
        var runner: [String]

        /// Runs an aarch64 program.
        func execute(_ program: String, _ arguments: [String]) throws -> Result {
            guard let emulator = runner.first else { return try run(program, arguments) }
            return try run(emulator, Array(runner.dropFirst()) + [program] + arguments)
        }
    }

    static let sysroot = "/usr/aarch64-linux-gnu"
    static let toolchain: Toolchain? = {
        #if arch(arm64)
        return Toolchain(compiler: cCompiler, runner: [])
        #else
        guard let gcc = CompiledCode.findExecutable("aarch64-linux-gnu-gcc"),
              let qemu = CompiledCode.findExecutable("qemu-aarch64") ?? CompiledCode.findExecutable("qemu-aarch64-static")
        else { return nil }
        return Toolchain(compiler: gcc, runner: [qemu, "-L", sysroot])
        #endif
    }()

    static let skipReason = "aarch64 tests skipped: they need aarch64-linux-gnu-gcc and qemu-aarch64 "
        + "(apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; scripts/setup.sh installs them)"
    /// The condition of the tests below; says once why they are skipped.
    static let available: Bool = {
        if toolchain == nil { print(skipReason) }
        return toolchain != nil
    }()

    /// Links `source` with the object for aarch64: static, else dynamic (qemu -L finds the loader).
    static func link(_ source: String, _ example: CompiledCode.Example, object: String, in dir: String,
                     named name: String, _ tools: Toolchain) throws -> String {
        let exe = "\(dir)/\(name)"
        let args = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", example.define, "-I", dir, "-I", CompiledCode.cSources,
                    source, object, "-lm", "-lpthread", "-o", exe]
        let staticBuild = try run(tools.compiler, ["-static"] + args)
        if staticBuild.status == 0 { return exe }
        let dynamicBuild = try run(tools.compiler, args)
        try #require(dynamicBuild.status == 0, "\(tools.compiler) \(name):\n\(staticBuild.stderr)\n\(dynamicBuild.stderr)")
        return exe
    }

    /// Runs dump_outputs on `input` and returns its lines.
    static func dump(_ exe: String, _ input: HostTensor, in dir: String, _ tools: Toolchain) throws -> (status: Int32, lines: [Substring]) {
        let file = "\(dir)/input-\(UUID().uuidString).bin"
        try CompiledCode.rawBytes(input).write(to: URL(fileURLWithPath: file))
        let r = try tools.execute(exe, [file])
        #expect(r.status == 0 && !CompiledCode.hasSanitizerReport(r.stderr), "dump_outputs exited \(r.status): \(r.stderr)")
        return (r.status, r.stdout.split(separator: "\n"))
    }

    /// An aarch64 object that reads its weights from a file (`--weights-file`), mapped by
    /// Examples/c/gpt_mapped.c under qemu: the host JIT's logits.
    @Test(.enabled(if: CrossTargetTests.available, "needs aarch64-linux-gnu-gcc and qemu-aarch64: run scripts/setup.sh"))
    func aarch64ObjectReadsAWeightsFile() throws {
        let tools = try #require(Self.toolchain)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let weights = "\(dir)/gpt_tiny.weights"
        let object = try CompiledCode.compile(.gptTiny, .preLN, into: dir, ["--target", "aarch64", "--weights-file", weights])
        let exe = try Self.link(examplePath("c/gpt_mapped.c"), .gptTiny, object: object, in: dir, named: "gpt_mapped", tools)
        let tokens: [Int32] = [3, 141, 59, 26, 255, 0]
        let r = try tools.execute(exe, [weights, "--all"] + tokens.map(String.init))
        #expect(r.status == 0, "\(r.stderr)")
        let values = r.stdout.split(whereSeparator: \.isWhitespace).compactMap { Float($0) }
        let model = try loadModel(CompiledCode.Example.gptTiny.tirPath)
        let expected = try #require(try runModel(model, inputs: ["tokens": HostTensor(shape: [tokens.count], i32: tokens)],
                                                 seqLen: nil, engine: .jit)["logits"]).floats
        #expect(values.count == expected.count)
        let scale = expected.map(abs).max() ?? 1
        let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst / scale <= 1e-5, "aarch64 with a weights file vs host JIT: \(worst / scale)")
    }

    /// For each model and variant, one aarch64 object from `tfc compile --target aarch64`:
    ///  - every output matches the host JIT within 1e-5 (relative to the largest output), and
    ///    _forward_threads with 1, 2 and 3 threads gives the bits of _forward (dump_outputs.c);
    ///  - bad ids or a bad length give their status without writing the output;
    ///  - it reads and writes nothing outside its buffers (each ends, or begins, at an inaccessible
    ///    page, and qemu faults like the hardware) and keeps every promise of the header
    ///    (sanitizer_harness.c in its guard-page modes, built without sanitizers).
    @Test(.enabled(if: CrossTargetTests.available, "needs aarch64-linux-gnu-gcc and qemu-aarch64: run scripts/setup.sh"),
          arguments: CompiledCode.Example.allCases, Variant.allCases)
    func aarch64ObjectMatchesHostJIT(_ example: CompiledCode.Example, _ variant: Variant) throws {
        let tools = try #require(Self.toolchain)
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let object = try CompiledCode.compile(example, variant, into: dir, ["--target", "aarch64"])
        let dump = try Self.link(CompiledCode.cSource("dump_outputs.c"), example, object: object, in: dir,
                                 named: "dump_outputs", tools)
        let harness = try Self.link(CompiledCode.cSource("sanitizer_harness.c"), example, object: object, in: dir,
                                    named: "harness", tools)

        let model = try rewrite(loadModel(example.tirPath), variant: variant).model
        // The host reference: what runModel(model, ..., engine: .jit) computes, compiled once.
        let jit = try JITModel(model.module, weights: model.weights)
        let outputName = try #require(model.module.outputs.first?.name)
        var inputSets: [[String: HostTensor]] = []
        switch example {
        case .gptTiny:
            // The longest sequence with both ends of the vocabulary, one position, and an odd length.
            var ids = (0..<64).map { Int32(($0 * 37 + 5) % 256) }
            ids[3] = 0
            ids[63] = 255
            inputSets.append(["tokens": HostTensor(shape: [64], i32: ids)])
            inputSets.append(["tokens": HostTensor(shape: [1], i32: [255])])
            inputSets.append(fillRandomInputs(model, given: [:], seed: 11, seqLen: 13))
        case .vitTiny:
            inputSets.append(fillRandomInputs(model, given: [:], seed: 11, seqLen: nil))
            inputSets.append(fillRandomInputs(model, given: [:], seed: 12, seqLen: nil))
        }

        var worst = 0.0
        for inputs in inputSets {
            let input = try #require(inputs.values.first)
            let out = try Self.dump(dump, input, in: dir, tools)
            try #require(out.lines.count >= 2, "dump_outputs printed \(out.lines)")
            #expect(out.lines[0] == "status 0")
            #expect(out.lines[1] == "threads identical", "aarch64: _forward_threads with 1, 2, 3 threads differs from _forward")
            let values = out.lines.dropFirst(2).compactMap { Float(String($0)) }
            let expected = try #require(jit.run(inputs: inputs, seqLen: nil)[outputName]).floats
            #expect(values.count == expected.count, "\(out.lines.count - 2) lines for \(expected.count) outputs")
            #expect(values.allSatisfy { $0.isFinite })
            let error = CompiledCode.relativeError(values, expected)
            worst = max(worst, error)
            #expect(error <= 1e-5, "\(example) \(variant.rawValue), input \(input.shape): aarch64 vs host JIT relative error \(error)")
        }
        print("aarch64 (qemu) vs host JIT, \(example) \(variant.rawValue): max relative error \(worst)")

        if example == .gptTiny {
            // An id = vocabulary size or -1 gives ERR_TOKEN_ID, 65 positions ERR_SEQ_LEN.
            let cases: [([Int32], String)] = [
                ((0..<64).map { $0 == 40 ? 256 : Int32($0) }, "status 2"),
                ((0..<5).map { $0 == 4 ? -1 : Int32($0) }, "status 2"),
                ((0..<65).map { Int32($0) }, "status 1"),
            ]
            for (ids, status) in cases {
                let out = try Self.dump(dump, HostTensor(shape: [ids.count], i32: ids), in: dir, tools)
                #expect(out.lines == [Substring(status), "output untouched"], "\(ids.count) ids: \(out.lines)")
            }
        }

        for mode in ["guard-tail", "guard-head"] {
            let r = try tools.execute(harness, [mode, "quick"])
            #expect(r.status == 0 && r.stdout.hasPrefix("ok ") && !CompiledCode.hasSanitizerReport(r.stderr),
                    "\(example) \(variant.rawValue) aarch64 \(mode): exit \(r.status)\n\(r.stdout)\(r.stderr)")
        }
    }
}
