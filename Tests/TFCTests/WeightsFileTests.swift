// Objects that read their weights from a file beside them (tfc compile --weights-file): the same
// outputs as the JIT's, the file checked by <prefix>_set_weights, and the files written safely.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRCodegen
import TIRFormats

/// Compiles gpt-tiny (or `model`) with its weights in `dir/<name>.weights`.
private func compileWithWeightsFile(_ model: String = examplePath("gpt-tiny.tir"), in dir: String,
                                    name: String = "gpt_tiny") throws -> (object: String, weights: String) {
    let object = "\(dir)/\(name).o", weights = "\(dir)/\(name).weights"
    let r = try tfc("compile", model, "-o", object, "--weights-file", weights, "--min-parallel-flops", "0")
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("wrote \(weights)"))
    return (object, weights)
}

private func link(_ source: String, _ object: String, in dir: String, named name: String) throws -> String {
    let exe = "\(dir)/\(name)"
    let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", dir, source, object,
                                 "-lm", "-lpthread", "-o", exe])
    #expect(cc.status == 0, "\(cc.stderr)")
    return exe
}

@Test func mappedWeightsExampleMatchesTheJIT() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let (object, weights) = try compileWithWeightsFile(in: dir)
    // The object holds code only: gpt-tiny's weights are in the file, none in the object.
    let objectBytes = try #require(FileManager.default.attributesOfItem(atPath: object)[.size] as? Int)
    let weightBytes = try #require(FileManager.default.attributesOfItem(atPath: weights)[.size] as? Int)
    let header = try String(contentsOfFile: "\(dir)/gpt_tiny.h", encoding: .utf8)
    #expect(header.contains("#define GPT_TINY_WEIGHTS_SIZE \(weightBytes)ull"))
    let embedded = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/embedded.o")
    #expect(embedded.status == 0, "\(embedded.stderr)")
    let embeddedBytes = try #require(FileManager.default.attributesOfItem(atPath: "\(dir)/embedded.o")[.size] as? Int)
    #expect(objectBytes + weightBytes / 2 < embeddedBytes, "object \(objectBytes) + file \(weightBytes) vs \(embeddedBytes)")

    let exe = try link(examplePath("c/gpt_mapped.c"), object, in: dir, named: "gpt_mapped")
    let tokens: [Int32] = [15, 27, 3, 99, 0, 255, 128]
    let c = try run(exe, [weights, "--all"] + tokens.map(String.init))
    #expect(c.status == 0, "\(c.stderr)")
    let fromC = c.stdout.split(whereSeparator: \.isWhitespace).compactMap { Float($0) }
    let model = try loadModel(examplePath("gpt-tiny.tir"))
    let jit = try runModel(model, inputs: ["tokens": HostTensor(shape: [tokens.count], i32: tokens)], seqLen: nil, engine: .jit)
    let expected = try #require(jit["logits"]).floats
    #expect(fromC.count == expected.count)
    let scale = expected.map(abs).max() ?? 1
    let worst = zip(fromC, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst / scale <= 1e-6, "C vs JIT: max relative difference \(worst / scale)")

    // Another file is refused by the program, with the reason.
    let wrong = try run(exe, [examplePath("gpt-tiny.tir"), "1"])
    #expect(wrong.status == 1)
    #expect(wrong.stderr.contains("not the weights file of this build"))
}

@Test func setWeightsChecksTheFile() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let (object, weights) = try compileWithWeightsFile(in: dir)
    // The same model with other random weights: a file of the same size from another compile.
    let source = try String(contentsOfFile: examplePath("gpt-tiny.tir"), encoding: .utf8)
    let otherModel = "\(dir)/other/gpt_tiny.tir"
    try FileManager.default.createDirectory(atPath: "\(dir)/other", withIntermediateDirectories: true)
    try source.replacingOccurrences(of: "seed = 7", with: "seed = 8").write(toFile: otherModel, atomically: true, encoding: .utf8)
    let (_, otherWeights) = try compileWithWeightsFile(otherModel, in: "\(dir)/other")
    let harness = repoRoot.appendingPathComponent("Tests/TFCTests/C/weights_harness.c").path
    let exe = try link(harness, object, in: dir, named: "harness")
    let r = try run(exe, [weights, otherWeights])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout == "ok\n")
}

@Test func weightsFileIsWrittenSafely() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let model = examplePath("gpt-tiny.tir")
    // Never over an input, nor over another output.
    let overModel = try tfc("compile", model, "-o", "\(dir)/m.o", "--weights-file", model)
    #expect(overModel.status != 0)
    #expect(overModel.stderr.contains("--weights-file \(model): would overwrite the input model"), "\(overModel.stderr)")
    let overObject = try tfc("compile", model, "-o", "\(dir)/m.o", "--weights-file", "\(dir)/m.o")
    #expect(overObject.status != 0)
    #expect(overObject.stderr.contains("two outputs cannot share a path"), "\(overObject.stderr)")
    // A compile that fails after the file was opened leaves no file and no temporary behind.
    let bad = "\(dir)/bad.tir"
    try String(contentsOfFile: model, encoding: .utf8).replacingOccurrences(of: "model @gpt_tiny", with: "model @__bad")
        .write(toFile: bad, atomically: true, encoding: .utf8)
    let failed = try tfc("compile", bad, "-o", "\(dir)/bad.o", "--weights-file", "\(dir)/bad.weights")
    #expect(failed.status != 0)
    #expect(failed.stderr.contains("reserved"), "\(failed.stderr)")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "bad.tir" }
    #expect(left.isEmpty, "left behind: \(left)")
}

@Test func objectsPastTheEmbeddingLimitAreRefused() throws {
    let loaded = try loadModel(examplePath("gpt-tiny.tir"))
    let (module, weights) = (loaded.module, loaded.weights)
    var request = AOTRequest(target: .host, headerName: "gpt_tiny.h")
    request.maxEmbeddedBytes = 100_000
    #expect {
        _ = try compileAOT(module, weights: weights, request)
    } throws: { error in
        let text = String(describing: error)
        return text.contains("more than 100000 bytes in the object's layout, the most an object embeds") && text.contains("--weights-file FILE")
    }
    // With a weights file, the same request compiles.
    request.weightsFile = { _, _ in }
    let artifacts = try compileAOT(module, weights: weights, request)
    #expect(artifacts.entry.weightsFile != nil)
}

/// Embedded weights are a section appended to the object LLVM wrote (ObjectWeights), defining
/// symbols named after the model: two models' objects link into one program, each with its own.
@Test func embeddedWeightsAreTheObjectsOwnSection() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    for name in ["first", "second"] {
        let r = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/\(name).o", "--name", name)
        #expect(r.status == 0, "\(r.stderr)")
        let object = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).o"))
        #expect(object.range(of: Data(".rodata.tfc.weights".utf8)) != nil)
        #expect(object.range(of: Data("tfc.\(name).weight.".utf8)) != nil)
    }
    // Asking for the IR keeps the weights in it (a whole module): no section then.
    let withIR = try tfc("compile", examplePath("gpt-tiny.tir"), "-o", "\(dir)/ir.o", "--emit", "obj,header,llvm-ir")
    #expect(withIR.status == 0, "\(withIR.stderr)")
    let irObject = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ir.o"))
    #expect(irObject.range(of: Data(".rodata.tfc.weights".utf8)) == nil)

    let source = """
    #include <stdio.h>
    #include <stdlib.h>
    #include "first.h"
    #include "second.h"
    int main(void) {
        int32_t tokens[3] = {5, 9, 200};
        float *a = malloc(sizeof(float) * FIRST_LOGITS_COUNT(3)), *b = malloc(sizeof(float) * SECOND_LOGITS_COUNT(3));
        void *w = aligned_alloc(64, (FIRST_WORKSPACE_SIZE + SECOND_WORKSPACE_SIZE + 63) / 64 * 64);
        if (first_forward(tokens, 3, a, w) != FIRST_OK || second_forward(tokens, 3, b, w) != SECOND_OK) return 1;
        for (size_t i = 0; i < FIRST_LOGITS_COUNT(3); i++) printf("%.9g %.9g\\n", a[i], b[i]);
        return 0;
    }
    """
    try source.write(toFile: "\(dir)/both.c", atomically: true, encoding: .utf8)
    let exe = "\(dir)/both"
    let cc = try run(cCompiler, ["-std=c11", "-O2", "-Wall", "-Werror", "-I", dir, "\(dir)/both.c", "\(dir)/first.o",
                                 "\(dir)/second.o", "-lm", "-lpthread", "-o", exe])
    #expect(cc.status == 0, "\(cc.stderr)")
    let r = try run(exe, [])
    #expect(r.status == 0, "\(r.stderr)")
    let rows = r.stdout.split(separator: "\n").map { $0.split(separator: " ").compactMap { Float($0) } }
    let model = try loadModel(examplePath("gpt-tiny.tir"))
    let jit = try runModel(model, inputs: ["tokens": HostTensor(shape: [3], i32: [5, 9, 200])], seqLen: nil, engine: .jit)
    let expected = try #require(jit["logits"]).floats
    #expect(rows.count == expected.count)
    let scale = expected.map(abs).max() ?? 1
    for (row, e) in zip(rows, expected) {
        #expect(row.count == 2 && abs(row[0] - e) <= 1e-6 * scale && row[0] == row[1], "\(row) vs \(e)")
    }
}

/// A model whose weights cannot fit in an object is refused before its weights are read (these
/// would take 2.9 GB), with the way out; nothing is written.
@Test func oversizedEmbeddingIsRefusedBeforeReadingWeights() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let model = "\(dir)/big.tir"
    try """
    model @big {
      seq T <= 16
      weights random(seed = 3, std = 0.5)
      input %tokens : i32[T]
      param @emb : f32[50, 24]
      param @w : f32[24, 30000000] = zeros
      %tok = embedding(%tokens, @emb) : f32[T, 24]
      %y = linear(%tok, @w) : f32[T, 30000000]
      output %y
    }
    """.write(toFile: model, atomically: true, encoding: .utf8)
    let r = try tfc("compile", model, "-o", "\(dir)/big.o")
    #expect(r.status != 0)
    #expect(r.stderr.contains("the weights take at least 2880 MB, more than an object embeds"), "\(r.stderr)")
    #expect(r.stderr.contains("--weights-file FILE"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["big.tir"])
}
