// The hostile-input suite of the command line: what a careless user or a file supplied by
// someone else can make tfc do. Every case runs the built `tfc` and checks for a clean non-zero
// exit with a located message and no file of the user's changed (Docs/testing.md lists them).
import Foundation
import Testing
import TFCDriver
import TIR
import TIRFormats

/// Every regular file under `dir` (relative name -> bytes): what a test compares before and after.
func snapshot(_ dir: String) -> [String: Data] {
    var files: [String: Data] = [:]
    for name in (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? [] {
        let path = dir + "/" + name
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            files[name] = FileManager.default.contents(atPath: path)
        }
    }
    return files
}

/// A copy of gpt-tiny as `dir/v.tir`.
func copyTinyModel(to dir: String, as name: String = "v.tir") throws -> String {
    let path = dir + "/" + name
    try FileManager.default.copyItem(atPath: examplePath("gpt-tiny.tir"), toPath: path)
    return path
}

/// Runs tfc in `dir` with extra environment variables, reporting a signal death apart.
func tfcIn(_ dir: String, environment: [String: String] = [:], _ arguments: [String]) throws
    -> (status: Int32, signaled: Bool, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tfcPath)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: dir)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let err = Pipe()
    process.standardOutput = FileHandle.nullDevice
    process.standardError = err
    try process.run()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, process.terminationReason == .uncaughtSignal,
            String(decoding: stderrData, as: UTF8.self))
}

@Suite struct NeverDestroyUserFilesTests {
    @Test func compileNeverWritesOverItsModel() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        let before = snapshot(dir)
        for args in [["-o", "v.tir"], ["-o", "m.o", "--header", "v.tir"], ["-o", "./sub/../v.tir"],
                     ["-o", "m.o", "--emit", "obj,header,llvm-ir", "--header", "m.ll"]] {
            if args.contains("./sub/../v.tir") { try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true) }
            let r = try tfcIn(dir, ["compile", "v.tir"] + args)
            #expect(r.status != 0 && !r.signaled, "\(args)")
            #expect(r.stderr.contains("error: "), "\(args): \(r.stderr)")
            try? FileManager.default.removeItem(atPath: dir + "/sub")
            #expect(snapshot(dir) == before, "\(args) changed a file")
        }
        let model = try tfcIn(dir, ["compile", "v.tir", "-o", "v.tir"])
        #expect(model.stderr.contains("-o v.tir: would overwrite the input model v.tir"), "\(model.stderr)")
    }

    @Test func compileOutputsNeverShareAPath() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        let before = snapshot(dir)
        // -o m.h: the object and the header (m.h by default) are the same file.
        let header = try tfcIn(dir, ["compile", "v.tir", "-o", "m.h"])
        #expect(header.status != 0)
        #expect(header.stderr.contains("names the same file as -o m.h"), "\(header.stderr)")
        let same = try tfcIn(dir, ["compile", "v.tir", "-o", "same.o", "--header", "same.o"])
        #expect(same.status != 0)
        #expect(same.stderr.contains("--header same.o: names the same file as -o same.o"), "\(same.stderr)")
        let viaDots = try tfcIn(dir, ["compile", "v.tir", "-o", "x.o", "--header", "./x.o"])
        #expect(viaDots.status != 0)
        #expect(snapshot(dir) == before)
    }

    @Test func linksToAnInputAreInputs() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        try FileManager.default.createSymbolicLink(atPath: dir + "/soft.o", withDestinationPath: "v.tir")
        try FileManager.default.linkItem(atPath: dir + "/v.tir", toPath: dir + "/hard.o")
        let before = snapshot(dir)
        for output in ["soft.o", "hard.o"] {
            let r = try tfcIn(dir, ["compile", "v.tir", "-o", output])
            #expect(r.status != 0)
            #expect(r.stderr.contains("would overwrite the input model"), "\(output): \(r.stderr)")
        }
        #expect(snapshot(dir) == before)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/soft.o")
        #expect(attributes[.type] as? FileAttributeType == .typeSymbolicLink)
    }

    @Test func runNeverWritesOverItsModelOrInputs() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        try writeNpy(HostTensor(shape: [3], i32: [1, 2, 3]), to: dir + "/t.npy")
        let before = snapshot(dir)
        let model = try tfcIn(dir, ["run", "v.tir", "--tokens", "1,2", "-o", "v.tir"])
        #expect(model.status != 0)
        #expect(model.stderr.contains("-o v.tir: would overwrite the input model v.tir"), "\(model.stderr)")
        let input = try tfcIn(dir, ["run", "v.tir", "--input", "tokens=t.npy", "-o", "t.npy"])
        #expect(input.status != 0)
        #expect(input.stderr.contains("-o t.npy: would overwrite the input file t.npy"), "\(input.stderr)")
        #expect(snapshot(dir) == before)
        // A fresh output is written as before.
        let ok = try tfcIn(dir, ["run", "v.tir", "--input", "tokens=t.npy", "-o", "out.npy"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try readNpy(path: dir + "/out.npy").shape == [3, 256])
    }

    @Test func optNeverWritesOverTheWeightsItReads() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        // b.tir reads b.safetensors; a.tir is a copy that reads the same weights.
        let first = try tfcIn(dir, ["opt", "v.tir", "--variant", "pre-rms", "-o", "b.tir"])
        #expect(first.status == 0, "\(first.stderr)")
        try FileManager.default.copyItem(atPath: dir + "/b.tir", toPath: dir + "/a.tir")
        try FileManager.default.removeItem(atPath: dir + "/b.tir")
        let before = snapshot(dir)
        let r = try tfcIn(dir, ["opt", "a.tir", "--variant", "pre-crms", "-o", "b.tir"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("b.safetensors: would overwrite the input weights file"), "\(r.stderr)")
        let model = try tfcIn(dir, ["opt", "a.tir", "--variant", "pre-crms", "-o", "a.tir"])
        #expect(model.status != 0)
        #expect(snapshot(dir) == before)
        // The original still runs on its own weights.
        #expect(try tfcIn(dir, ["check", "a.tir"]).status == 0)
    }

    @Test func importNeverWritesOverTheCheckpoint() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = dir + "/ckpt"
        try FileManager.default.copyItem(atPath: repoRoot.appendingPathComponent("Tests/ImportTests/Fixtures/gpt2-lm").path,
                                          toPath: checkpoint)
        let before = snapshot(dir)
        for target in ["ckpt/model.safetensors", "ckpt/config.json"] {
            let r = try tfcIn(dir, ["import", "ckpt", "-o", target])
            #expect(r.status != 0)
            #expect(r.stderr.contains("-o \(target): would overwrite the input checkpoint file"), "\(r.stderr)")
        }
        #expect(snapshot(dir) == before)
        #expect(try tfcIn(dir, ["import", "ckpt", "-o", "m.tir"]).status == 0)
    }

    @Test func outputPathsThatCannotBeFilesAreLocated() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        let before = snapshot(dir)
        let cases: [([String], String)] = [
            (["compile", "v.tir", "-o", ""], "-o \"\": the path is empty"),
            (["compile", "v.tir", "-o", "out/"], "-o out/: is a folder"),
            (["compile", "v.tir", "-o", "out"], "-o out: is a folder"),
            (["compile", "v.tir", "-o", "missing/m.o"], "-o missing/m.o: the folder missing does not exist"),
            (["compile", "v.tir", "-o", "/dev/null"], "is not a regular file"),
            (["run", "v.tir", "--tokens", "1", "-o", "out/"], "-o out/: is a folder"),
            (["opt", "v.tir", "--variant", "pre-rms", "-o", ""], "-o \"\": the path is empty"),
            (["import", repoRoot.appendingPathComponent("Tests/ImportTests/Fixtures/gpt2-lm").path, "-o", ""],
             "-o \"\": the path is empty"),
        ]
        for (args, message) in cases {
            let r = try tfcIn(dir, args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain"), "\(args): \(r.stderr)")
        }
        #expect(snapshot(dir) == before)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalWhileWritingLeavesNoTemporaries(signal: Int32) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        let before = snapshot(dir)
        let r = try tfcIn(dir, environment: ["TFC_RAISE_AFTER_TEMPORARIES": "\(signal)"],
                          ["compile", "v.tir", "-o", "m.o", "--emit", "obj,header,fusion"])
        #expect(r.signaled && r.status == signal, "status \(r.status): \(r.stderr)")
        #expect(snapshot(dir) == before, "left \(snapshot(dir).keys.sorted())")
    }

    @Test func compileWritesEveryOutputWithNoTemporaryLeft() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        _ = try copyTinyModel(to: dir)
        let r = try tfcIn(dir, ["compile", "v.tir", "-o", "m.o", "--emit", "obj,header,fusion"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Set(snapshot(dir).keys) == ["v.tir", "m.o", "m.h", "m.fusion.txt"])
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/m.o")[.posixPermissions] as? Int
        #expect((mode ?? 0) & 0o044 != 0, "a new output is readable as any new file is, not private")
    }
}

@Suite struct NoSilentWrongAnswerTests {
    @Test func npyInputsMustHaveTheDeclaredShape() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let image = [Float](repeating: 0.5, count: 3 * 32 * 32)
        try writeNpy(HostTensor(shape: [32, 32, 3], f32: image), to: dir + "/hwc.npy")
        try writeNpy(HostTensor(shape: [3072], f32: image), to: dir + "/flat.npy")
        try writeNpy(HostTensor(shape: [2, 3, 32, 16], f32: image), to: dir + "/batch2.npy")
        try writeNpy(HostTensor(shape: [1, 3, 32, 32], f32: image), to: dir + "/batch1.npy")
        try writeNpy(HostTensor(shape: [3, 32, 32], f32: image), to: dir + "/chw.npy")
        let vit = examplePath("vit-tiny.tir")
        let hwc = try tfcIn(dir, ["run", vit, "--input", "image=hwc.npy"])
        #expect(hwc.status != 0)
        #expect(hwc.stderr.contains("--input image=hwc.npy: dimension 1 is 32, expected 3 (shape [32, 32, 3], expected [3, 32, 32])"),
                "\(hwc.stderr)")
        for file in ["flat.npy", "batch2.npy"] {
            let r = try tfcIn(dir, ["run", vit, "--input", "image=\(file)"])
            #expect(r.status != 0, "\(file)")
            #expect(r.stderr.contains("--input image=\(file):"), "\(r.stderr)")
        }
        // The declared shape, and with a leading batch dimension of 1, run alike.
        let chw = try tfc("run", vit, "--input", "image=\(dir)/chw.npy")
        let batch1 = try tfc("run", vit, "--input", "image=\(dir)/batch1.npy")
        #expect(chw.status == 0 && batch1.status == 0, "\(chw.stderr)\(batch1.stderr)")
        #expect(chw.stdout == batch1.stdout)
    }

    @Test func tokenArraysAreNotFlattened() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try writeNpy(HostTensor(shape: [2, 3], i32: [1, 2, 3, 4, 5, 6]), to: dir + "/t23.npy")
        try writeNpy(HostTensor(shape: [1, 3], i32: [1, 2, 3]), to: dir + "/t13.npy")
        let r = try tfcIn(dir, ["run", examplePath("gpt-tiny.tir"), "--input", "tokens=t23.npy"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--input tokens=t23.npy: the array has 2 dimensions (shape [2, 3]), expected 1 (shape [T])"),
                "\(r.stderr)")
        let one = try tfc("run", examplePath("gpt-tiny.tir"), "--input", "tokens=\(dir)/t13.npy")
        let inline = try tfc("run", examplePath("gpt-tiny.tir"), "--tokens", "1,2,3")
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stdout == inline.stdout)
    }

    /// A model whose float32 and float64 outputs both overflow to inf (a product of ten factors
    /// near 1e38), so that every error is inf - inf = NaN.
    static let overflowingModel = """
        model @overflow {
          weights random(seed = 1, std = 1.0)
          input %x : f32[2, 4]
          param @w : f32[2, 4] = uniform(1e37, 2e37)
          %a1 = mul(%x, @w) : f32[2, 4]
          %a2 = mul(%a1, @w) : f32[2, 4]
          %a3 = mul(%a2, @w) : f32[2, 4]
          %a4 = mul(%a3, @w) : f32[2, 4]
          %a5 = mul(%a4, @w) : f32[2, 4]
          %a6 = mul(%a5, @w) : f32[2, 4]
          %a7 = mul(%a6, @w) : f32[2, 4]
          %a8 = mul(%a7, @w) : f32[2, 4]
          %a9 = mul(%a8, @w) : f32[2, 4]
          output %a9
        }

        """

    @Test func verifyFailsOnNonFiniteOutputs() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let path = dir + "/overflow.tir"
        try Self.overflowingModel.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try tfc("verify", path, "--samples", "1")
        #expect(r.status != 0, "\(r.stdout)")
        #expect(r.stdout.contains("FAIL: "), "\(r.stdout)")
        #expect(r.stdout.contains("non-finite") || r.stdout.contains("inf values") || r.stdout.contains("NaN"), "\(r.stdout)")
        #expect(!r.stdout.contains("close: True"), "\(r.stdout)")
        let json = try tfc("verify", path, "--samples", "1", "--json")
        #expect(json.status != 0)
        #expect(json.stdout.contains("\"problem\""), "\(json.stdout)")
    }

    @Test func verifyRefusesANonFiniteFactor() throws {
        for factor in ["inf", "nan"] {
            let r = try tfc("verify", examplePath("gpt-tiny.tir"), "--factor", factor)
            #expect(r.status != 0, "\(factor)")
            #expect(r.stderr.contains("--factor"), "\(r.stderr)")
        }
    }
}

@Suite struct CommandLineMessageTests {
    @Test func noArgumentsIsAFailureWithTheUsage() throws {
        let r = try tfc()
        #expect(r.status != 0)
        #expect(r.stderr.contains("USAGE"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func negativeNumbersAreNamedNotMissing() throws {
        let model = examplePath("gpt-tiny.tir")
        let cases: [([String], String)] = [
            (["run", model, "--random-inputs", "-1"], "--random-inputs -1"),
            (["run", model, "--random-inputs", "1", "--seq", "-3"], "--seq -3: the sequence length must be at least 1"),
            (["bench", model, "--seq", "-3", "--runs", "1"], "--seq -3"),
            (["bench", model, "--runs", "-2"], "--runs"),
            (["verify", model, "--seq", "-3"], "-3"),
            (["verify", model, "--samples", "-1"], "--samples"),
            (["compile", model, "-o", "/tmp/x.o", "--min-parallel-flops", "-5"], "--min-parallel-flops"),
        ]
        for (args, message) in cases {
            let r = try run(tfcPath, args)
            #expect(r.status != 0, "\(args)")
            #expect(!r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    @Test func inputsAreGivenOnce() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try writeNpy(HostTensor(shape: [2], i32: [1, 2]), to: dir + "/t.npy")
        let model = examplePath("gpt-tiny.tir")
        let both = try tfcIn(dir, ["run", model, "--tokens", "3,4", "--input", "tokens=t.npy"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("--input tokens=t.npy: --tokens already gives %tokens"), "\(both.stderr)")
        let twice = try tfcIn(dir, ["run", model, "--input", "tokens=t.npy", "--input", "%tokens=t.npy"])
        #expect(twice.status != 0)
        #expect(twice.stderr.contains("--input %tokens=t.npy: %tokens is given twice"), "\(twice.stderr)")
    }

    @Test func compiledCodeStatusesSayWhatWasWrong() throws {
        let model = examplePath("gpt-tiny.tir")
        let id = try tfc("run", model, "--tokens", "1,2,300,-1")
        #expect(id.status != 0)
        #expect(id.stderr.contains("token id out of range"), "\(id.stderr)")
        #expect(id.stderr.contains("%tokens[2] is 300, outside [0, 256)"), "\(id.stderr)")
        let long = try tfc("run", model, "--tokens", Array(repeating: "1", count: 65).joined(separator: ","))
        #expect(long.status != 0)
        #expect(long.stderr.contains("the sequence length is 65; the model takes 1 to 64"), "\(long.stderr)")
    }

    @Test func unreadableConfigIsNotEchoed() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = dir + "/ckpt"
        try FileManager.default.createDirectory(atPath: checkpoint, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repoRoot.appendingPathComponent("Tests/ImportTests/Fixtures/gpt2-lm/model.safetensors").path,
                                          toPath: checkpoint + "/model.safetensors")
        try "private-line-7f3a: not for anyone's eyes\nsecond line\n".write(toFile: dir + "/private.txt", atomically: true,
                                                                            encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: checkpoint + "/config.json", withDestinationPath: dir + "/private.txt")
        let r = try tfcIn(dir, ["import", "ckpt", "-o", "m.tir"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("config.json"), "\(r.stderr)")
        #expect(!r.stderr.contains("private-line-7f3a"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.tir"))
    }
}

@Suite struct OutputSetTests {
    @Test func aFailingOutputLeavesNeitherOutputsNorTemporaries() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/a.txt"))
        let outputs = OutputSet()
        try outputs.declare(dir + "/a.txt", option: "-o")
        // b.txt's folder disappears between declaring and committing: its temporary cannot be
        // created, after a.txt's was written.
        try FileManager.default.createDirectory(atPath: dir + "/gone", withIntermediateDirectories: false)
        try outputs.declare(dir + "/gone/b.txt", option: "--other")
        try FileManager.default.removeItem(atPath: dir + "/gone")
        outputs.provide(dir + "/a.txt", Data("new".utf8))
        outputs.provide(dir + "/gone/b.txt", Data("other".utf8))
        #expect(throws: DriverError.self) { try outputs.commit() }
        // The old a.txt is untouched, b.txt never appeared, no hidden temporary is left.
        #expect(snapshot(dir) == ["a.txt": Data("old".utf8)])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.txt"])
    }

    @Test func outputsAreRenamedInTheOrderTheirContentsWereGiven() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let outputs = OutputSet()
        try outputs.declare(dir + "/m.tir", option: "-o")
        try outputs.declare(dir + "/m.safetensors", option: "-o (its weights)")
        outputs.provide(dir + "/m.safetensors", Data([1, 2, 3]))
        outputs.provide(dir + "/m.tir", Data("model".utf8))
        #expect(try outputs.commit() == [dir + "/m.tir", dir + "/m.safetensors"])
        #expect(snapshot(dir) == ["m.tir": Data("model".utf8), "m.safetensors": Data([1, 2, 3])])
    }
}
