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

/// Every variant decodes the same tokens with its cache as with full forwards (gpt-tiny's
/// top-2 margins are far above float32 noise on this prompt).
@Test(arguments: Variant.allCases)
func cachedGreedyDecodingMatchesForwardsInEveryVariant(variant: Variant) throws {
    let loaded = try loadModel(examplePath("gpt-tiny.tir"))
    let rewritten = try rewrite(loaded, variant: variant).model
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
