// Hugging Face checkpoints imported and checked against the transformers library's outputs.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRFormats
import TIRImport
import TIRTransforms

/// The checkpoints made by scripts/make_hf_fixtures.py, with an input and transformers' output.
let fixtureNames = ["gpt2-lm", "gpt2-base-odd", "gpt2-lm-fp16", "gpt2-sharded", "opt-lm", "opt-base-odd", "neox-lm",
                    "neox-seq-odd", "vit-cls", "vit-base-odd", "vit-cls-bf16"]

let fixturesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) -> String { fixturesDir.appendingPathComponent(name).path }

/// The largest absolute difference the compiled code and the interpreter may have from transformers.
let tolerance = 1e-4

@Suite struct ImportTests {
    // MARK: Numbers: every fixture, variant and engine against transformers

    @Test(arguments: fixtureNames) func matchesTransformers(_ name: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/\(name).tir"
        try importModel(directory: fixture(name), to: tir)
        let original = try loadModel(tir)
        let input = try #require(original.module.inputs.first)
        let output = try #require(original.module.outputs.first).name
        let given = try readNpy(path: "\(fixture(name))/\(input.name).npy")
        let expected = try readNpy(path: "\(fixture(name))/expected.npy")

        // The whole input; for a GPT also a prefix, whose outputs (causal attention) are the
        // first rows of the whole input's.
        var cases: [(inputs: HostTensor, rows: Int)] = [(given, expected.shape[0])]
        if case .i32(let ids) = given.storage, ids.count > 2 {
            let prefix = ids.count / 3
            cases.append((HostTensor(shape: [prefix], i32: Array(ids.prefix(prefix))), prefix))
        }
        let width = expected.count / max(expected.shape[0], 1)

        var lines: [String] = []
        var worst = 0.0
        for variant in Variant.allCases {
            let model = try rewrite(original, variant: variant).model
            for engine in Engine.allCases {
                var error = 0.0
                for (inputs, rows) in cases {
                    let outputs = try runModel(model, inputs: [input.name: inputs], seqLen: nil, engine: engine)
                    let got = try #require(outputs[output])
                    try #require(got.count == rows * width, "\(name): output shape \(got.shape)")
                    let want = Array(expected.floats.prefix(got.count))
                    error = max(error, maxAbsDifference(got.floats, want))
                }
                lines.append("  \(variant.rawValue) \(engine.rawValue): max abs error " + String(format: "%.2e", error))
                worst = max(worst, error)
            }
        }
        // The errors as Docs/import.md tabulates them ("Measured errors").
        print("note: \(name) against transformers, max abs error:", lines.map { $0.replacingOccurrences(of: "  ", with: "")
            .replacingOccurrences(of: ": max abs error", with: "") }.joined(separator: ", "))
        #expect(worst <= tolerance, "\(name) against transformers:\n\(lines.joined(separator: "\n"))")
    }

    /// ViTModel's pooler, tanh(dense(final state of the class token)), a second output, against
    /// transformers' pooler_output in every variant (the interpreter; the rewrites must still
    /// fire: the pooler reads the final norm's output, not the residual stream).
    @Test func vitPoolerMatchesTransformers() throws {
        let name = "vit-base-odd"
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/\(name).tir"
        try importModel(directory: fixture(name), to: tir)
        let original = try loadModel(tir)
        #expect(original.module.outputs.map(\.name) == ["hidden", "pooler"])
        let image = try readNpy(path: "\(fixture(name))/image.npy")
        let expected = try readNpy(path: "\(fixture(name))/expected_pooler.npy")
        try #require(expected.shape == [1, 20])
        for variant in Variant.allCases {
            let rewritten = try rewrite(original, variant: variant)
            let norms = rewritten.model.module.body.filter { $0.op == .layernorm || $0.op == .rmsnorm }
            if variant != .preLN {
                #expect(norms.allSatisfy { $0.op == .rmsnorm }, "\(variant.rawValue): \(rewritten.remarks)")
            }
            let outputs = try runModel(rewritten.model, inputs: ["image": image], seqLen: nil, engine: .interpreter)
            let pooler = try #require(outputs["pooler"])
            #expect(pooler.shape == [1, 20])
            let error = maxAbsDifference(pooler.floats, expected.floats)
            #expect(error <= tolerance, "\(variant.rawValue): pooler max abs error \(error)")
        }
    }

    /// A ViTModel saved without its pooler (add_pooling_layer=False) has one output; an
    /// activation TIR lacks is refused at its key.
    @Test func vitPoolerIsOptional() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("vit-base-odd", to: dir)
        let path = "\(checkpoint)/model.safetensors"
        let file = try SafetensorsFile(path: path)
        let kept = try file.entries.filter { !$0.name.hasPrefix("pooler.") }.map { (name: $0.name, tensor: try file.tensor($0)) }
        try writeSafetensors(kept, to: path)
        let module = try importCheckpoint(directory: checkpoint, tirPath: "\(dir)/m.tir")
        #expect(module.outputs.map(\.name) == ["hidden"])
        #expect(!printModule(module).contains("pooler"))
        try expectRefusal(editing: "vit-base-odd", set: "pooler_act", to: "\"silu\"",
                          message: "unsupported pooler_act 'silu'", atKey: "pooler_act")
    }

    /// `tfc verify`'s check that each rewritten variant computes what the original does; for
    /// GPT-NeoX both the parallel block (two norms read the layer's input, two writers add to
    /// it) and the sequential one, rotary on q and k.
    @Test(arguments: ["gpt2-lm", "vit-cls", "opt-lm", "neox-lm", "neox-seq-odd"]) func variantsVerify(_ name: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/\(name).tir"
        try importModel(directory: fixture(name), to: tir)
        let original = try loadModel(tir)
        let candidates = try [Variant.preRMS, .preCRMS].map { variant in
            let rewritten = try rewrite(original, variant: variant)
            // The passes fire: no LayerNorm is left.
            #expect(!rewritten.model.module.body.contains { $0.op == .layernorm },
                    "\(name) \(variant.rawValue): \(rewritten.remarks)")
            return (variant.rawValue, rewritten.model)
        }
        var options = VerifyOptions()
        options.samples = 1
        let report = try verifyVariants(original, candidates: candidates, options: options)
        #expect(report.pass, "\(report.text)")
    }

    /// The layout of the published GPT-2 checkpoints: GPT2LMHeadModel with bare tensor names
    /// (no "transformer."), no lm_head.weight, and the causal-mask buffers attn.bias and
    /// attn.masked_bias, which the importer must ignore.
    @Test func hubStyleGPT2Checkpoint() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("gpt2-lm", to: dir)
        let path = "\(checkpoint)/model.safetensors"
        let file = try SafetensorsFile(path: path)
        let prefix = "transformer."
        var tensors = try file.entries.map { entry in
            (name: entry.name.hasPrefix(prefix) ? String(entry.name.dropFirst(prefix.count)) : entry.name,
             tensor: try file.tensor(entry))
        }
        let mask = HostTensor(shape: [1, 1, 32, 32], f32: Array(repeating: 1, count: 32 * 32))
        for layer in 0..<2 {
            tensors.append((name: "h.\(layer).attn.bias", tensor: mask))
            tensors.append((name: "h.\(layer).attn.masked_bias", tensor: HostTensor(shape: [], f32: [-1e4])))
        }
        try writeSafetensors(tensors, to: path)

        let tir = "\(dir)/hub.tir"
        try importModel(directory: checkpoint, to: tir)
        let model = try loadModel(tir)
        #expect(model.module.param(named: "h0.attn.w")?.initializer == .tensor("h.0.attn.c_attn.weight"))
        let tokens = try readNpy(path: "\(fixture("gpt2-lm"))/tokens.npy")
        let expected = try readNpy(path: "\(fixture("gpt2-lm"))/expected.npy")
        let logits = try #require(try runModel(model, inputs: ["tokens": tokens], seqLen: nil, engine: .jit)["logits"])
        let error = maxAbsDifference(logits.floats, expected.floats)
        #expect(logits.count == expected.count && error <= tolerance, "max abs error \(error)")
    }

    // MARK: The imported text

    @Test func gptReadsTheCheckpointInPlace() throws {
        let module = try importCheckpoint(directory: fixture("gpt2-lm"), tirPath: "/nonexistent-folder/gpt2.tir")
        let text = printModule(module)
        // The .tir's folder does not exist, so the weights are named by an absolute path.
        #expect(module.weights == .file(fixture("gpt2-lm") + "/model.safetensors"))
        for line in [
            "model @gpt2 {",
            "seq T <= 32",
            "input %tokens : i32[T]",
            "param @wte : f32[300, 48] = tensor(\"transformer.wte.weight\")",
            "param @h0.attn.w : f32[48, 144] = tensor(\"transformer.h.0.attn.c_attn.weight\")",
            "param @h1.out.w : f32[192, 48] = tensor(\"transformer.h.1.mlp.c_proj.weight\")",
            "%h0.att = attention(%h0.qkv) {heads = 3, causal = true} : f32[T, 48]",
            "%h1.act = gelu(%h1.fc) {approximation = tanh} : f32[T, 192]",
            "%nf = layernorm(%h1.x2, @lnf.g, @lnf.b) {eps = 1e-05} : f32[T, 48]",
            "%logits = linear(%nf, @wte) {transposed = true} : f32[T, 300]",
            "output %logits",
        ] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        // A checkpoint with its own lm_head.weight keeps it.
        let untied = printModule(try importCheckpoint(directory: fixture("gpt2-lm-fp16"), tirPath: "m.tir"))
        #expect(untied.contains("param @lm_head : f32[120, 32] = tensor(\"lm_head.weight\")"))
        #expect(untied.contains("%logits = linear(%nf, @lm_head) {transposed = true} : f32[T, 120]"))
        // GPT2Model: bare tensor names, the erf GELU, hidden states out.
        let base = printModule(try importCheckpoint(directory: fixture("gpt2-base-odd"), tirPath: "m.tir"))
        #expect(base.contains("param @h0.fc.w : f32[30, 50] = tensor(\"h.0.mlp.c_fc.weight\")"))
        #expect(base.contains("%h0.act = gelu(%h0.fc) : f32[T, 50]"))
        #expect(base.contains("output %hidden"))
    }

    @Test func neoxReadsTheCheckpointInPlace() throws {
        let text = printModule(try importCheckpoint(directory: fixture("neox-lm"), tirPath: "neox.tir"))
        let qkv = "gpt_neox.layers.0.attention.query_key_value"
        for line in [
            "model @neox {",
            "seq T <= 24",
            "param @embed : f32[113, 48] = tensor(\"gpt_neox.embed_in.weight\")",
            // Head size 24: per head, rows [q 0..<24 | k 24..<48 | v 48..<72] of the fused 144 rows.
            "param @h0.q.w : f32[48, 48] = tensor(\"\(qkv).weight\", rows = blocks(start = 0, size = 24, stride = 72))",
            "param @h0.k.b : f32[48] = tensor(\"\(qkv).bias\", rows = blocks(start = 24, size = 24, stride = 72))",
            "param @h0.v.w : f32[48, 48] = tensor(\"\(qkv).weight\", rows = blocks(start = 48, size = 24, stride = 72))",
            "param @lm_head : f32[113, 48] = tensor(\"embed_out.weight\")",
            "%x0 = embedding(%tokens, @embed) : f32[T, 48]",
            "%h0.qr = rope(%h0.q) {heads = 2, rotary_dims = 6, base = 500.0} : f32[T, 48]",
            "%h0.kr = rope(%h0.k) {heads = 2, rotary_dims = 6, base = 500.0} : f32[T, 48]",
            "%h0.att = attention(%h0.qr, %h0.kr, %h0.v) {heads = 2, causal = true} : f32[T, 48]",
            "%h0.x1 = add(%x0, %h0.o) : f32[T, 48]",
            // Parallel residual: the MLP's norm reads the layer's input.
            "%h0.n2 = layernorm(%x0, @h0.ln2.g, @h0.ln2.b) {eps = 1e-05} : f32[T, 48]",
            "%h0.x2 = add(%h0.x1, %h0.fc2) : f32[T, 48]",
            "%logits = linear(%nf, @lm_head) {transposed = true} : f32[T, 113]",
        ] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        // GPTNeoXModel: bare names, sequential residual, no attention biases, hidden states out.
        let base = printModule(try importCheckpoint(directory: fixture("neox-seq-odd"), tirPath: "m.tir"))
        for line in [
            "param @h1.k.w : f32[50, 50] = tensor(\"layers.1.attention.query_key_value.weight\", rows = blocks(start = 10, size = 10, stride = 30))",
            "%h0.k = linear(%h0.n1, @h0.k.w) {transposed = true} : f32[T, 50]",
            "%h0.o = linear(%h0.att, @h0.o.w) {transposed = true} : f32[T, 50]",
            "%h1.kr = rope(%h1.k) {heads = 5, rotary_dims = 6, base = 2000.0} : f32[T, 50]",
            "%h1.n2 = layernorm(%h1.x1, @h1.ln2.g, @h1.ln2.b) {eps = 1e-06} : f32[T, 50]",
            "%h1.act = gelu(%h1.fc1) {approximation = tanh} : f32[T, 70]",
            "output %hidden",
        ] {
            #expect(base.contains(line), "missing \(line) in\n\(base)")
        }
        #expect(!base.contains("@h0.q.b") && !base.contains("@h0.o.b"))
    }

    /// `tfc check` reads every row selection against the checkpoint: one past its rows is an
    /// error at the parameter's line.
    @Test func checkReadsRowSelections() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/neox.tir"
        try importModel(directory: fixture("neox-seq-odd"), to: tir)
        let ok = try runTFC(["check", tir])
        #expect(ok.status == 0, "\(ok.stderr)")
        let text = try String(contentsOfFile: tir, encoding: .utf8)
        let edited = text.replacingOccurrences(of: "rows = blocks(start = 20, size = 10, stride = 30)",
                                               with: "rows = blocks(start = 21, size = 10, stride = 30)")
        #expect(edited != text)
        try edited.write(toFile: tir, atomically: true, encoding: .utf8)
        let bad = try runTFC(["check", tir])
        #expect(bad.status == 1)
        let line = try #require(text.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("param @h0.v.w ") }) + 1
        #expect(bad.stderr.contains("neox.tir:\(line):9: error: parameter @h0.v.w: rows = blocks(start = 21, size = 10, stride = 30)"
                                    + " reads rows up to 150 (block 4), but tensor 'layers.0.attention.query_key_value.weight' has 150 rows"),
                "\(bad.stderr)")
    }

    @Test func vitReadsTheCheckpointInPlace() throws {
        let text = printModule(try importCheckpoint(directory: fixture("vit-cls"), tirPath: "vit-cls.tir"))
        for line in [
            "model @vit_cls {",
            "input %image : f32[3, 24, 40]",
            "param @patch.w : f32[36, 192] = tensor(\"vit.embeddings.patch_embeddings.projection.weight\")",
            "param @cls : f32[1, 36] = tensor(\"vit.embeddings.cls_token\")",
            "param @pos : f32[16, 36] = tensor(\"vit.embeddings.position_embeddings\")",
            "param @l0.q.w : f32[36, 36] = tensor(\"vit.encoder.layer.0.attention.attention.query.weight\")",
            "param @head.w : f32[5, 36] = tensor(\"classifier.weight\")",
            "%patches = patch_embed(%image, @patch.w, @patch.b) {patch = 8, transposed = true} : f32[15, 36]",
            "%l1.att = attention(%l1.q, %l1.k, %l1.v) {heads = 3} : f32[16, 36]",
            "%clsout = select_row(%nf) : f32[1, 36]",
            "%logits = linear(%clsout, @head.w, @head.b) {transposed = true} : f32[1, 5]",
        ] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        // ViTModel: floor(30/7)^2 = 16 patches, attention 5*6 = 30 wide, no q/k/v biases.
        let base = printModule(try importCheckpoint(directory: fixture("vit-base-odd"), tirPath: "m.tir"))
        #expect(base.contains("%patches = patch_embed(%image, @patch.w, @patch.b) {patch = 7, transposed = true} : f32[16, 20]"))
        #expect(base.contains("%l0.q = linear(%l0.n1, @l0.q.w) {transposed = true} : f32[17, 30]"))
        #expect(base.contains("output %hidden"))
        // Its pooler: tanh of a dense layer on the class token's final state.
        for line in [
            "param @pooler.w : f32[20, 20] = tensor(\"pooler.dense.weight\")",
            "%pooler.cls = select_row(%hidden) : f32[1, 20]",
            "%pooler.dense = linear(%pooler.cls, @pooler.w, @pooler.b) {transposed = true} : f32[1, 20]",
            "%pooler = tanh(%pooler.dense) : f32[1, 20]",
            "output %hidden, %pooler",
        ] {
            #expect(base.contains(line), "missing \(line) in\n\(base)")
        }
    }

    @Test func cliWritesATirThatNamesTheWeightsRelatively() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let tir = "\(dir)/sub/model.tir"
        try FileManager.default.createDirectory(atPath: "\(dir)/sub", withIntermediateDirectories: true)
        let r = try runTFC(["import", fixture("gpt2-lm"), "-o", tir])
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: tir, encoding: .utf8)
        let module = try parseAndVerifyModule(text, file: tir)
        guard case .file(let weights) = module.weights else {
            Issue.record("expected a weights file in\n\(text)")
            return
        }
        #expect(weights.hasPrefix("../") && weights.hasSuffix("gpt2-lm/model.safetensors"), "\(weights)")
        // Nothing was copied next to the .tir.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/sub") == ["model.tir"])
        _ = try loadModel(tir)

        // A .tir inside the checkpoint folder names the file by its bare name.
        let inside = try copyFixture("vit-cls", to: dir)
        #expect(try importCheckpoint(directory: inside, tirPath: "\(inside)/vit.tir").weights == .file("model.safetensors"))
    }

}

// MARK: - Helpers


func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).map { x, y in (x.isNaN || y.isNaN) ? .infinity : abs(Double(x) - Double(y)) }.max() ?? 0
}

/// Runs `model`; nil when the engine is the JIT and the model has an op the code generator
/// does not lower yet (tanh, relu, mul: its stub refuses them), recorded as a known issue so
/// that the interpreter still checks every fixture. Remove once the code generator lowers them.
/// Copies a fixture's config.json and model.safetensors into `dir/<name>`.
func copyFixture(_ name: String, to dir: String) throws -> String {
    let target = "\(dir)/\(name)"
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
    // The files the importer reads: config.json and the weights (one file, or an index and its shards).
    for file in try FileManager.default.contentsOfDirectory(atPath: fixture(name))
    where file == "config.json" || file.hasSuffix(".safetensors") || file.hasSuffix(".index.json") {
        try FileManager.default.copyItem(atPath: "\(fixture(name))/\(file)", toPath: "\(target)/\(file)")
    }
    return target
}


/// The tfc executable SwiftPM built beside this test binary.
let tfcPath = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("tfc").path

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runTFC(_ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tfcPath)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a large output cannot block the child.
    let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
    let stderrData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                         stderr: String(decoding: stderrData, as: UTF8.self))
}

func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-import-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func cleanup(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }
