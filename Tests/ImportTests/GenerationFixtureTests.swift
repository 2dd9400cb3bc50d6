// Generation against transformers: gpt2-gen and neox-gen (scripts/make_hf_fixtures.py) are a
// GPT-2 and a GPT-NeoX LM over the test tokenizer; `tfc import` names its tokenizer, and greedy
// decoding through the extend entry points gives transformers' `generate(do_sample=False)` tokens
// and text in every variant.
import Foundation
import Testing
import TFCDriver
import TFCTokenizer
import TIR
import TIRCodegen
import TIRFormats
import TIRTransforms

struct GenerationCase: Decodable {
    var prompt: String
    var ids: [Int32]
    var generated: [Int32]
    var margins: [Float]
    var text: String
}

struct GenerationFixture: Decodable {
    var eos: Int32
    var cases: [GenerationCase]

    static func load(_ name: String = "gpt2-gen") throws -> GenerationFixture {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name) + "/generation.json"))
        return try JSONDecoder().decode(GenerationFixture.self, from: data)
    }
}

@Suite struct GenerationFixtureTests {
    /// OPT's positions start at row 2 of their table: through the extend entry points, a cache
    /// filled a few positions at a time gives the forward's logits at every position, and the
    /// context is what the table holds past its offset (max_position_embeddings).
    @Test(arguments: Variant.allCases)
    func optExtendsLikeItsForward(variant: Variant) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try importModel(directory: fixture("opt-lm"), to: "\(dir)/opt.tir")
        let rewritten = try rewrite(try loadModel("\(dir)/opt.tir"), variant: variant).model
        let model = try JITModel(rewritten.module, weights: rewritten.weights, threads: 1, extend: true)
        let tokens = try readNpy(path: fixture("opt-lm") + "/tokens.npy")
        guard case .i32(let ids) = tokens.storage else { Issue.record("tokens.npy is not int32"); return }
        let forward = try #require(try model.run(inputs: ["tokens": tokens])["logits"]).floats
        let vocabulary = forward.count / ids.count
        let session = try CacheSession(model)
        #expect(session.maxContext == ids.count)  // max_position_embeddings = 24
        var at = 0, n = 1
        while at < ids.count {
            let chunk = min(n, ids.count - at)
            let got = try session.extend(["tokens": HostTensor(shape: [chunk], i32: Array(ids[at..<(at + chunk)]))],
                                         allPositions: true)["logits"]!.floats
            let want = forward[(at * vocabulary)..<((at + chunk) * vocabulary)]
            let gap = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            #expect(gap <= 1e-5, "\(variant.rawValue): positions \(at)..<\(at + chunk): \(gap)")
            at += chunk
            n += 2
        }
    }

    @Test(arguments: ["gpt2-gen", "neox-gen"]) func importNamesTheTokenizer(name: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/gen.tir"
        #expect(try importModel(directory: fixture(name), to: tir) == nil)
        let loaded = try loadModel(tir)
        let named = try #require(loaded.module.tokenizer)
        #expect(URL(fileURLWithPath: dir).appendingPathComponent(named).standardizedFileURL.resolvingSymlinksInPath().path
                == URL(fileURLWithPath: fixture(name)).standardizedFileURL.resolvingSymlinksInPath().path)
        let (tokenizer, folder) = try #require(try loadTokenizer(for: loaded))
        #expect(endOfTextID(folder: folder, tokenizer: tokenizer) == (try GenerationFixture.load(name)).eos)
    }

    /// Every variant: the tokenizer's prompt ids and the greedy tokens are transformers', up to the
    /// first step whose top-2 margin is within float32 noise (none in this fixture: reported if
    /// one appears after a regeneration), and the streamed text is its decode.
    ///
    /// neox-gen is a GPT-NeoX (rotary positions, parallel residual, tied head) whose folder holds
    /// only tokenizer.json, as Pythia's do.
    @Test(arguments: ["gpt2-gen", "neox-gen"], Variant.allCases)
    func greedyGenerationMatchesTransformers(name: String, variant: Variant) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/gen.tir"
        try importModel(directory: fixture(name), to: tir)
        let expected = try GenerationFixture.load(name)
        let rewritten = try rewrite(try loadModel(tir), variant: variant).model
        let (tokenizer, _) = try #require(try loadTokenizer(for: rewritten))
        let model = try JITModel(rewritten.module, weights: rewritten.weights, threads: 1, extend: true)
        for c in expected.cases {
            #expect(tokenizer.encode(c.prompt) == c.ids, "prompt \(c.prompt.debugDescription)")
            // transformers made as many tokens as the context allowed (max_new_tokens), or stopped
            // at the end-of-text token: ask for as many, or for more.
            let stoppedAtEOS = c.ids.count + c.generated.count < model.entry.maxContext!
            var options = GenerationOptions()
            options.maxNewTokens = c.generated.count + (stoppedAtEOS ? 5 : 0)
            var streamed = ""
            let g = try generate(try CacheSession(model), prompt: c.ids, options: options, tokenizer: tokenizer,
                                 endOfText: expected.eos) { streamed += $0 }
            let trusted = c.margins.firstIndex { $0 < Generation.nearTie } ?? c.margins.count
            if trusted < c.margins.count {
                Issue.record("note: \(c.prompt.debugDescription): step \(trusted) is a near tie (margin \(c.margins[trusted])); compared before it")
            }
            let n = min(trusted, c.generated.count)
            #expect(Array(g.tokens.prefix(n)) == Array(c.generated.prefix(n)), "\(variant.rawValue), \(c.prompt.debugDescription)")
            if trusted >= c.margins.count {
                #expect(g.tokens == c.generated)
                #expect(streamed == c.text && g.text == c.text)
                #expect(g.stop == (stoppedAtEOS ? .endOfText : .maxTokens))
            }
        }
    }
}
