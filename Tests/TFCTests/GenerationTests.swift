// Generation: the extend entry points from C, greedy decoding with the cache against decoding
// by full forwards, in every variant.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRCodegen
import TIRFormats
import TIRTransforms

/// Greedy decoding the slow way: a full forward over the whole prefix for every new token.
func greedyByForwards(_ model: JITModel, prompt: [Int32], count: Int) throws -> [Int32] {
    var tokens = prompt, generated: [Int32] = []
    for _ in 0..<count {
        let logits = try #require(try model.run(inputs: ["tokens": HostTensor(shape: [tokens.count], i32: tokens)])["logits"]).floats
        let last = logits[(logits.count - logits.count / tokens.count)...]
        let next = Int32(last.indices.max(by: { last[$0] < last[$1] })! - last.startIndex)
        generated.append(next)
        tokens.append(next)
    }
    return generated
}

@Test func extendEntryPointsFromC() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let harness = repoRoot.appendingPathComponent("Tests/TFCTests/C/extend_harness.c").path
    let exe = try buildCProgram(harness, in: dir, named: "extend_harness")
    let r = try run(exe, [])
    #expect(r.status == 0 && r.stdout == "ok\n", "\(r.stdout)\(r.stderr)")
}

@Test func cGenerationExampleMatchesGreedyForwards() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let exe = try buildCProgram(examplePath("c/generate.c"), in: dir, named: "generate")
    let prompt: [Int32] = [15, 27, 3, 99]
    let c = try run(exe, ["-n", "12", "-t", "2"] + prompt.map(String.init))
    #expect(c.status == 0, "\(c.stderr)")
    let fromC = c.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }

    let loaded = try loadModel(examplePath("gpt-tiny.tir"))
    let model = try JITModel(loaded.module, weights: loaded.weights, threads: 1)
    #expect(fromC == (try greedyByForwards(model, prompt: prompt, count: 12)))

    // At the end of the context it stops and says so.
    let long = try run(exe, ["-n", "100", "1", "2", "3"])
    #expect(long.status == 0 && long.stderr.contains("context is full (64 positions)"))
    #expect(long.stdout.split(whereSeparator: \.isWhitespace).count == 62)
}

/// Every variant, in both precisions, decodes the same tokens with its cache as with full
/// forwards of the same build (gpt-tiny's top-2 margins are far above float32 noise on this prompt).
@Test(arguments: Variant.allCases, [Precision.fp32, .bf16])
func cachedGreedyDecodingMatchesForwardsInEveryVariant(variant: Variant, precision: Precision) throws {
    let loaded = try loadModel(examplePath("gpt-tiny.tir"))
    let rewritten = try rewrite(loaded, variant: variant, precision: precision).model
    let model = try JITModel(rewritten.module, weights: rewritten.weights, threads: 1, extend: true)
    let prompt: [Int32] = [200, 1, 77]
    let session = try CacheSession(model)
    var generated: [Int32] = [], next = prompt
    for _ in 0..<20 {
        let logits = try session.extend(tokens: next)
        let best = Int32(logits.indices.max(by: { logits[$0] < logits[$1] })!)
        generated.append(best)
        next = [best]
    }
    #expect(generated == (try greedyByForwards(model, prompt: prompt, count: 20)))
}

// MARK: tfc generate

let generationFixture = repoRoot.appendingPathComponent("Tests/ImportTests/Fixtures/gpt2-gen").path

/// transformers' greedy text for the first prompt of gpt2-gen (or `folder`'s generation.json).
func firstGenerationCase(_ folder: String = generationFixture) throws -> (prompt: String, generated: [Int32], text: String) {
    let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/generation.json"))
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let cases = try #require(json["cases"] as? [[String: Any]])
    let first = try #require(cases.first)
    return (try #require(first["prompt"] as? String), try #require(first["generated"] as? [Int]).map(Int32.init),
            try #require(first["text"] as? String))
}

/// A GPT-NeoX whose checkpoint folder has only tokenizer.json (as Pythia's): `tfc generate
/// --prompt` reads it and streams transformers' greedy text.
@Test func generateWithATokenizerJSONOnlyNeoX() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let folder = repoRoot.appendingPathComponent("Tests/ImportTests/Fixtures/neox-gen").path
    #expect(!FileManager.default.fileExists(atPath: folder + "/vocab.json"))
    let imported = try tfc("import", folder, "-o", "\(dir)/neox.tir")
    #expect(imported.status == 0, "\(imported.stderr)")
    let expected = try firstGenerationCase(folder)
    let greedy = try tfc("generate", "\(dir)/neox.tir", "--prompt", expected.prompt, "--max-new-tokens",
                         String(expected.generated.count))
    #expect(greedy.status == 0, "\(greedy.stderr)")
    #expect(greedy.stdout == expected.text + "\n")
}

@Test func generateStreamsTransformersTextAndStopsWhereAsked() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let imported = try tfc("import", generationFixture, "-o", "\(dir)/gen.tir")
    #expect(imported.status == 0, "\(imported.stderr)")
    let expected = try firstGenerationCase()
    let count = String(expected.generated.count)

    let greedy = try tfc("generate", "\(dir)/gen.tir", "--prompt", expected.prompt, "--max-new-tokens", count)
    #expect(greedy.status == 0, "\(greedy.stderr)")
    #expect(greedy.stdout == expected.text + "\n")
    #expect(greedy.stderr.contains("prompt 5 tokens, \(count) new (stopped: --max-new-tokens reached)"), "\(greedy.stderr)")
    #expect(greedy.stderr.contains("ms/token"))

    // Every variant streams the same text.
    for variant in ["pre-rms", "pre-crms"] {
        let other = try tfc("generate", "\(dir)/gen.tir", "--prompt", expected.prompt, "--max-new-tokens", count,
                            "--variant", variant)
        #expect(other.stdout == greedy.stdout, "\(variant)")
    }

    // A stop string: the text up to it, and no further.
    let text = expected.text
    let cut = text.index(text.startIndex, offsetBy: text.count / 2)
    let stop = String(text[cut...].prefix(3))
    let stopped = try tfc("generate", "\(dir)/gen.tir", "--prompt", expected.prompt, "--max-new-tokens", count,
                          "--stop", stop)
    #expect(stopped.status == 0)
    #expect(stopped.stdout == String(text[..<(text.range(of: stop)!.lowerBound)]) + "\n")
    #expect(stopped.stderr.contains("(stopped: a stop string)"))

    // Token ids in, ids out without a tokenizer.
    let ids = try tfc("generate", "\(dir)/gen.tir", "--tokens", "316,1111", "--max-new-tokens", "3", "--tokenizer",
                      "/nonexistent")
    #expect(ids.status == 1 && ids.stderr.contains("/nonexistent"))

    // Sampling: one seed gives one text; top-k 1 is greedy whatever the temperature.
    func sample(_ extra: String...) throws -> String {
        let r = try tfc(["generate", "\(dir)/gen.tir", "--prompt", expected.prompt, "--max-new-tokens", "12",
                         "--temperature", "1.5"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }
    #expect(try sample("--seed", "5") == (try sample("--seed", "5")))
    let seeds = try Set((1...4).map { try sample("--seed", String($0)) })
    #expect(seeds.count > 1, "four seeds gave one text")
    let greedy12 = try tfc("generate", "\(dir)/gen.tir", "--prompt", expected.prompt, "--max-new-tokens", "12")
    #expect(try sample("--top-k", "1", "--seed", "9") == greedy12.stdout)
}

@Test func generateRefusesWhatItCannotDo() throws {
    let vit = try tfc("generate", examplePath("vit-tiny.tir"), "--tokens", "1")
    #expect(vit.status == 1 && vit.stderr.contains("cannot generate") && vit.stderr.contains("no sequence"), "\(vit.stderr)")
    let noTokenizer = try tfc("generate", examplePath("gpt-tiny.tir"), "--prompt", "hi")
    #expect(noTokenizer.status == 1 && noTokenizer.stderr.contains("names no tokenizer"), "\(noTokenizer.stderr)")
    let badId = try tfc("generate", examplePath("gpt-tiny.tir"), "--tokens", "1,256")
    #expect(badId.status == 1 && badId.stderr.contains("outside the model's vocabulary"), "\(badId.stderr)")
    let tooLong = try tfc("generate", examplePath("gpt-tiny.tir"), "--tokens", (0..<64).map { _ in "1" }.joined(separator: ","))
    #expect(tooLong.status == 1 && tooLong.stderr.contains("at least one must be left"), "\(tooLong.stderr)")
    let both = try tfc("generate", examplePath("gpt-tiny.tir"), "--tokens", "1", "--prompt", "x")
    #expect(both.status != 0)
}

/// The end-of-text token stops generation (it is not emitted) unless it is ignored.
@Test func endOfTextStopsUnlessIgnored() throws {
    let loaded = try loadModel(examplePath("gpt-tiny.tir"))
    let model = try JITModel(loaded.module, weights: loaded.weights, threads: 1, extend: true)
    var options = GenerationOptions()
    options.maxNewTokens = 6
    let free = try generate(try CacheSession(model), prompt: [3, 4], options: options, tokenizer: nil, endOfText: nil) { _ in }
    let eos = free.tokens[2]
    let stopped = try generate(try CacheSession(model), prompt: [3, 4], options: options, tokenizer: nil, endOfText: eos) { _ in }
    #expect(stopped.stop == .endOfText)
    #expect(stopped.tokens == Array(free.tokens.prefix { $0 != eos }))
    options.ignoreEOS = true
    var printed = ""
    let ignored = try generate(try CacheSession(model), prompt: [3, 4], options: options, tokenizer: nil, endOfText: eos) {
        printed += $0
    }
    #expect(ignored.tokens == free.tokens && ignored.stop == .maxTokens)
    #expect(printed == free.tokens.map(String.init).joined(separator: " "))
}

/// `tfc opt -o` into another folder names the tokenizer from there: the rewritten .tir generates
/// the original's text.
@Test func optKeepsTheTokenizerReachable() throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    #expect(try tfc("import", generationFixture, "-o", "\(dir)/gen.tir").status == 0)
    try FileManager.default.createDirectory(atPath: "\(dir)/a/b", withIntermediateDirectories: true)
    let opt = try tfc("opt", "\(dir)/gen.tir", "--variant", "pre-crms", "-o", "\(dir)/a/b/crms.tir")
    #expect(opt.status == 0, "\(opt.stderr)")
    let expected = try firstGenerationCase()
    let r = try tfc("generate", "\(dir)/a/b/crms.tir", "--prompt", expected.prompt, "--max-new-tokens",
                    String(expected.generated.count))
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout == expected.text + "\n")
}
