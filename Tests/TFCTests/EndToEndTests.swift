// The tfc command line as a user runs it, and compiled objects linked into C programs.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRFormats

/// Compiles gpt-tiny with `tfc compile` into `dir` (every parallel loop split across threads,
/// however small) and links `source` against it.
func buildCProgram(_ source: String, in dir: String, named name: String) throws -> String {
    let compile = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/gpt_tiny.o", "--min-parallel-flops", "0")
    #expect(compile.status == 0, "\(compile.stderr)")
    let exe = "\(dir)/\(name)"
    let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", dir, source,
                                 "\(dir)/gpt_tiny.o", "-lm", "-lpthread", "-o", exe])
    #expect(cc.status == 0, "\(cc.stderr)")
    return exe
}

@Test func cExampleMatchesTheJIT() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let exe = try buildCProgram(examplePath("c/gpt_demo.c"), in: dir, named: "gpt_demo")
    let tokens: [Int32] = [15, 27, 3, 99, 0, 255, 128]
    let c = try run(exe, ["--all"] + tokens.map(String.init))
    #expect(c.status == 0, "\(c.stderr)")
    let fromC = c.stdout.split(whereSeparator: \.isWhitespace).compactMap { Float($0) }

    let model = try loadModel(examplePath("gpt-tiny.tir"))
    let jit = try runModel(model, inputs: ["tokens": HostTensor(shape: [tokens.count], i32: tokens)],
                           seqLen: nil, engine: .jit)
    let expected = try #require(jit["logits"]).floats
    #expect(fromC.count == expected.count)
    let scale = expected.map(abs).max() ?? 1
    let worst = zip(fromC, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst / scale <= 1e-6, "C vs JIT: max relative difference \(worst / scale)")

    // The summary mode names the argmax of each row.
    let summary = try run(exe, tokens.map(String.init))
    #expect(summary.stdout.split(separator: "\n").count == tokens.count)
}

@Test func compiledCodeChecksItsArgumentsFromC() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let harness = repoRoot.appendingPathComponent("Tests/TFCTests/C/status_harness.c").path
    let exe = try buildCProgram(harness, in: dir, named: "harness")
    let r = try run(exe, [])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout == "ok\n")

    // Through the example program too: an id outside the vocabulary is refused.
    let demo = try buildCProgram(examplePath("c/gpt_demo.c"), in: dir, named: "gpt_demo")
    let bad = try run(demo, ["1", "256"])
    #expect(bad.status == 1)
    #expect(bad.stderr.contains("status 2 (token id out of range)"))
    let tooLong = try run(demo, (0..<65).map { _ in "1" })
    #expect(tooLong.stderr.contains("status 1 (sequence length out of range)"))
}

@Test func runPrintsTheSameWithJITAndInterpreter() throws {
    let jit = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "1,2,3")
    let interp = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "1,2,3", "--interpret")
    #expect(jit.status == 0 && interp.status == 0, "\(jit.stderr)\(interp.stderr)")
    #expect(jit.stdout.hasPrefix("%logits f32[3, 256]\n"))
    // Same argmax per row in both engines.
    func argmaxes(_ s: String) -> [String] {
        s.split(separator: "\n").compactMap { line in line.range(of: "argmax").map { String(line[$0.upperBound...]) } }
    }
    #expect(argmaxes(jit.stdout) == argmaxes(interp.stdout))
    #expect(argmaxes(jit.stdout).count == 3)
}

@Test func runWritesNpyAndReadsNpyInputs() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    try writeNpy(HostTensor(shape: [1, 4], i32: [4, 8, 15, 16]), to: "\(dir)/ids.npy")
    let r = try tfc("run", examplePath("gpt-tiny.tir"), "--input", "tokens=\(dir)/ids.npy", "-o", "\(dir)/out.npy")
    #expect(r.status == 0, "\(r.stderr)")
    let out = try readNpy(path: "\(dir)/out.npy")
    #expect(out.shape == [4, 256])

    let vit = try tfc("run", examplePath("vit-tiny.tir"), "--random-inputs", "3", "-o", "\(dir)/vit.npy")
    #expect(vit.status == 0, "\(vit.stderr)")
    #expect(try readNpy(path: "\(dir)/vit.npy").shape == [1, 10])
}

@Test func badInputFailsCleanlyWithoutWritingFiles() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let bad = "\(dir)/bad.tir"
    try """
        model @m {
          input %x : f32[4, 8]
          %y = lnorm(%x) {eps = 1e-05} : f32[4, 8]
          output %y
        }
        """.write(toFile: bad, atomically: true, encoding: .utf8)
    let r = try tfc("compile", bad, "-o", "\(dir)/m.o")
    #expect(r.status == 1)
    #expect(r.stderr.contains("bad.tir:3:8: error: unknown op 'lnorm'"), "\(r.stderr)")
    #expect(r.stderr.contains("\n  %y = lnorm(%x) {eps = 1e-05} : f32[4, 8]\n       ^"), "caret under the op:\n\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.o"))
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/m.h"))

    let missing = try tfc("check", "\(dir)/nope.tir")
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("nope.tir: error: no such file"))

    let tokens = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "1,999")
    #expect(tokens.status == 1)
    #expect(tokens.stderr.contains("token id out of range"), "\(tokens.stderr)")

    let target = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/x.o", "--target", "sparc-sun-nowhere")
    #expect(target.status == 1)
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.o"))
}

@Test func compileEmitsIRAndAssemblyAndCrossObjects() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let r = try tfc("compile", examplePath("vit-tiny.tir"), "-o", "\(dir)/vit.o", "--emit", "obj,header,llvm-ir,asm",
                    "--target", "aarch64")
    #expect(r.status == 0, "\(r.stderr)")
    // Nothing but the files written: no function asks LLVM for an x86 CPU on another target.
    #expect(r.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("wrote ") }, "\(r.stderr)")
    for ext in ["o", "h", "ll", "s"] {
        #expect(FileManager.default.fileExists(atPath: "\(dir)/vit.\(ext)"), "vit.\(ext) missing")
    }
    let ir = try String(contentsOfFile: "\(dir)/vit.ll", encoding: .utf8)
    #expect(ir.contains("target triple = \"aarch64-unknown-linux-gnu\""))
    let asm = try String(contentsOfFile: "\(dir)/vit.s", encoding: .utf8)
    #expect(asm.contains("vit_tiny_forward:"))
}

@Test func everyCommandHasHelp() throws {
    for command in [[], ["compile"], ["run"], ["check"]] {
        let r = try run(tfcPath, command + ["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE:"), "\(command)")
    }
}

@Test func weightsFromASafetensorsFileGiveTheSameModel() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    // gpt-tiny with every parameter written to a file, and a .tir that reads them from it.
    let original = try loadModel(examplePath("gpt-tiny.tir"))
    let tensors = original.module.params.map { (name: $0.name, tensor: original.weights[$0.name]!) }
    try writeSafetensors(tensors, to: "\(dir)/gpt.safetensors")
    var module = original.module
    module.weights = .file("gpt.safetensors")
    for i in module.params.indices { module.params[i].initializer = .default }
    try printModule(module).write(toFile: "\(dir)/gpt.tir", atomically: true, encoding: .utf8)

    let fromFile = try loadModel("\(dir)/gpt.tir")
    #expect(fromFile.weights == original.weights)
    let ids = HostTensor(shape: [5], i32: [9, 8, 7, 6, 5])
    let a = try runModel(original, inputs: ["tokens": ids], seqLen: nil, engine: .jit)
    let b = try runModel(fromFile, inputs: ["tokens": ids], seqLen: nil, engine: .jit)
    #expect(a == b)

    // A truncated file is reported at the .tir line that names it, and nothing runs.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/gpt.safetensors"))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(dir)/gpt.safetensors"))
    let r = try tfc("run", "\(dir)/gpt.tir", "--tokens", "1,2")
    #expect(r.status == 1)
    #expect(r.stderr.contains("gpt.tir:3:3: error:"), "\(r.stderr)")
    #expect(r.stderr.contains("gpt.safetensors"), "\(r.stderr)")
}

@Test func oversizedModelsAreRefusedQuickly() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    // 20,001 ops: parses and verifies, but the code generator refuses it with a clear error.
    var lines = ["model @deep {", "  seq T <= 4", "  input %x0 : f32[T, 4]"]
    for i in 0..<20_001 { lines.append("  %x\(i + 1) = rmsnorm(%x\(i)) {eps = 1e-05} : f32[T, 4]") }
    lines += ["  output %x20001", "}"]
    try lines.joined(separator: "\n").write(toFile: "\(dir)/deep.tir", atomically: true, encoding: .utf8)
    let r = try tfc("compile", "\(dir)/deep.tir", "-o", "\(dir)/deep.o")
    #expect(r.status == 1)
    #expect(r.stderr.contains("has 20001 ops; tfc compiles models of at most 20000"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: "\(dir)/deep.o"))

    // A parameter too large to allocate is refused before anything is allocated.
    try """
        model @wide {
          input %x : f32[1, 4]
          param @w : f32[4, 1000000000]
          %y = linear(%x, @w) : f32[1, 1000000000]
          output %y
        }
        """.write(toFile: "\(dir)/wide.tir", atomically: true, encoding: .utf8)
    let wide = try tfc("check", "\(dir)/wide.tir")
    #expect(wide.status == 1)
    #expect(wide.stderr.contains("is too large"), "\(wide.stderr)")

    // A file of nothing but errors reports the first 50 and says that reading stopped there.
    try ("model @m {\n" + String(repeating: "$\n", count: 100_000) + "}\n").write(toFile: "\(dir)/errors.tir", atomically: true, encoding: .utf8)
    let errors = try tfc("check", "\(dir)/errors.tir")
    #expect(errors.status == 1)
    #expect(errors.stderr.components(separatedBy: ": error: ").count - 1 == 50)
    #expect(errors.stderr.contains("too many errors: stopped after the first 50; the rest of the file was not read"),
            "\(errors.stderr.suffix(200))")
}

/// `tfc bench` as a user runs it: every variant timed, pre-ln the baseline, GFLOP/s against the
/// FMA peak measured on the same threads; `--no-peak` leaves the peak out.
@Test func benchReportsEveryVariantAgainstThePeak() throws {
    let r = try tfc("bench", examplePath("gpt-tiny.tir"), "--runs", "3", "--warmup", "1", "--threads", "2", "--json")
    try #require(r.status == 0, "\(r.stderr)")
    let report = try JSONDecoder().decode(BenchReport.self, from: Data(r.stdout.utf8))
    #expect(report.rows.map(\.variant) == ["pre-ln", "pre-rms", "pre-crms"])
    #expect(report.threads == 2 && report.runs == 3 && report.seqLen == 64)
    let peak = try #require(report.peakGflops)
    // Positive and physically possible: a probe loop optimized away would read as absurdly fast.
    #expect(peak > 0.1 && peak < 20_000, "peak \(peak) GFLOP/s")
    for row in report.rows {
        #expect(row.medianMs > 0 && row.p10Ms <= row.medianMs && row.medianMs <= row.p90Ms, "\(row)")
        #expect(row.gflops > 0 && abs(row.gflops / peak - (row.ofPeak ?? -1)) < 1e-9, "\(row)")
        #expect(row.normsMs > 0, "\(row)")
    }
    #expect(report.rows[0].speedup == 1)
    #expect(abs(report.gflopPerCall - matmulFlops(try loadModel(examplePath("gpt-tiny.tir")).module, seqLen: 64) / 1e9) < 1e-12)

    let text = try tfc("bench", examplePath("gpt-tiny.tir"), "--runs", "1", "--warmup", "0", "--threads", "1",
                       "--variants", "pre-rms", "--no-peak")
    try #require(text.status == 0, "\(text.stderr)")
    #expect(!text.stdout.contains("FMA peak"))
    #expect(text.stdout.contains("pre-rms") && !text.stdout.contains("pre-ln "))

    // A model without a sequence axis: no sequence length in the report, and --seq is refused.
    let vit = try tfc("bench", examplePath("vit-tiny.tir"), "--runs", "1", "--warmup", "0", "--threads", "1",
                      "--variants", "pre-ln", "--no-peak")
    #expect(vit.status == 0 && !vit.stdout.contains("sequence length"), "\(vit.stdout)\(vit.stderr)")
    let seq = try tfc("bench", examplePath("vit-tiny.tir"), "--seq", "3", "--no-peak")
    #expect(seq.status != 0 && seq.stderr.contains("has no sequence axis"), "\(seq.stderr)")
}
