// Hugging Face checkpoints the importer must refuse: one clear message each, no .tir written.
import Foundation
import Testing
import TFCDriver
import TIR
import TIRFormats
import TIRImport

extension ImportTests {
    // MARK: Refusals: one clear message each, no .tir written

    @Test func unknownModelType() throws {
        try expectRefusal(editing: "gpt2-lm", set: "model_type", to: "\"bert\"",
                          message: "unsupported model_type 'bert' (supported: gpt2, gpt_neox, opt, vit)", atKey: "model_type")
    }

    @Test(arguments: [
        RefusedOption(fixture: "gpt2-lm", key: "activation_function", value: "\"relu\"",
                      message: "unsupported activation_function 'relu'"),
        RefusedOption(fixture: "gpt2-lm", key: "scale_attn_by_inverse_layer_idx", value: "true",
                      message: "unsupported option 'scale_attn_by_inverse_layer_idx': true"),
        RefusedOption(fixture: "gpt2-lm", key: "scale_attn_weights", value: "false",
                      message: "unsupported option 'scale_attn_weights': false"),
        RefusedOption(fixture: "gpt2-lm", key: "add_cross_attention", value: "true",
                      message: "unsupported option 'add_cross_attention': true"),
        RefusedOption(fixture: "gpt2-lm", key: "architectures", value: "[\"GPT2ForSequenceClassification\"]",
                      message: "unsupported architecture 'GPT2ForSequenceClassification' (supported: GPT2LMHeadModel, GPT2Model)"),
        RefusedOption(fixture: "opt-lm", key: "do_layer_norm_before", value: "false",
                      message: "unsupported option 'do_layer_norm_before': false (a Post-LN OPT, such as OPT-350m"),
        RefusedOption(fixture: "opt-lm", key: "word_embed_proj_dim", value: "12",
                      message: "unsupported 'word_embed_proj_dim' 12 != 'hidden_size' 36"),
        RefusedOption(fixture: "opt-lm", key: "activation_function", value: "\"silu\"",
                      message: "unsupported activation_function 'silu' (supported: relu,"),
        RefusedOption(fixture: "opt-lm", key: "_remove_final_layer_norm", value: "true",
                      message: "unsupported option '_remove_final_layer_norm': true"),
        RefusedOption(fixture: "neox-lm", key: "rope_parameters",
                      value: "{\"rope_type\": \"linear\", \"factor\": 2.0, \"rope_theta\": 500.0}",
                      message: "unsupported rope type \"linear\" in 'rope_parameters' (TIR's rope is the unscaled \"default\""),
        RefusedOption(fixture: "neox-lm", key: "rope_scaling", value: "{\"type\": \"dynamic\", \"factor\": 2.0}",
                      message: "unsupported rope type \"dynamic\" in 'rope_scaling'"),
        // int(24 * 0.3) = 7 columns: odd.
        RefusedOption(fixture: "neox-lm", key: "rope_parameters",
                      value: "{\"rope_type\": \"default\", \"rope_theta\": 500.0, \"partial_rotary_factor\": 0.3}",
                      message: "unsupported rotary width 7 = int(24 * 0.3)"),
        RefusedOption(fixture: "neox-seq-odd", key: "rope_parameters", value: "{\"partial_rotary_factor\": 0.05}",
                      message: "unsupported rotary width 0 = int(10 * 0.05)"),
        RefusedOption(fixture: "neox-seq-odd", key: "rope_parameters", value: "{\"partial_rotary_factor\": 1.5}",
                      message: "unsupported partial_rotary_factor 1.5"),
        RefusedOption(fixture: "neox-seq-odd", key: "rope_parameters", value: "{\"rope_theta\": 1}",
                      message: "unsupported rope_theta 1.0"),
        // transformers 5 ignores a top-level rope_theta for GPT-NeoX: refused unless it agrees.
        RefusedOption(fixture: "neox-lm", key: "rope_theta", value: "10000.0",
                      message: "unsupported 'rope_theta': 10000.0 differs from the 500.0 that transformers uses"),
        RefusedOption(fixture: "neox-lm", key: "head_dim", value: "12",
                      message: "unsupported 'head_dim' 12 != 'hidden_size' / 'num_attention_heads' (24)"),
        RefusedOption(fixture: "neox-lm", key: "hidden_act", value: "\"silu\"", message: "unsupported hidden_act 'silu' (supported: relu,"),
        RefusedOption(fixture: "neox-lm", key: "architectures", value: "[\"GPTNeoXForTokenClassification\"]",
                      message: "unsupported architecture 'GPTNeoXForTokenClassification' (supported: GPTNeoXForCausalLM, GPTNeoXModel)"),
        RefusedOption(fixture: "vit-cls", key: "hidden_act", value: "\"silu\"", message: "unsupported hidden_act 'silu'"),
        RefusedOption(fixture: "vit-cls", key: "patch_size", value: "[8, 4]",
                      message: "unsupported option 'patch_size': [8, 4] (TIR's patch_embed takes square patches)"),
        RefusedOption(fixture: "vit-cls", key: "layer_norm_eps", value: "0", message: "'layer_norm_eps' must be positive, got 0"),
        RefusedOption(fixture: "vit-cls", key: "hidden_size", value: "36.5", message: "'hidden_size' must be an integer, got 36.5"),
    ])
    func unsupportedOption(_ option: RefusedOption) throws {
        try expectRefusal(editing: option.fixture, set: option.key, to: option.value, message: option.message, atKey: option.key)
    }

    @Test func missingConfigKey() throws {
        try expectRefusal(editing: "vit-cls", set: "num_hidden_layers", to: nil, message: "missing required key 'num_hidden_layers'")
    }

    @Test func invalidConfigJSON() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("gpt2-lm", to: dir)
        try Data("{\n  \"model_type\": \"gpt2\",\n}\n".utf8).write(to: URL(fileURLWithPath: "\(checkpoint)/config.json"))
        let diagnostic = try expectImportFails(checkpoint, file: "\(checkpoint)/config.json", message: "invalid JSON")
        #expect(diagnostic.loc?.line == 3)
    }

    @Test func missingConfig() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("gpt2-lm", to: dir)
        try FileManager.default.removeItem(atPath: "\(checkpoint)/config.json")
        try expectImportFails(checkpoint, file: "\(checkpoint)/config.json", message: "no such file")
        try expectImportFails("\(dir)/nowhere", file: "\(dir)/nowhere", message: "no such checkpoint folder")
    }

    @Test func missingWeightsFile() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("vit-cls", to: dir)
        try FileManager.default.removeItem(atPath: "\(checkpoint)/model.safetensors")
        try expectImportFails(checkpoint, file: "\(checkpoint)/model.safetensors", message: "no such file")
        // Only PyTorch pickles: never opened, and the message says how to convert them.
        try Data("not opened".utf8).write(to: URL(fileURLWithPath: "\(checkpoint)/pytorch_model.bin"))
        try expectImportFails(checkpoint, file: "\(checkpoint)/model.safetensors",
                              message: "the checkpoint has only PyTorch pickles (pytorch_model.bin), which tfc does not open")
    }

    /// A sharded checkpoint's index must name shards that are there and hold what it says.
    @Test func brokenShardIndex() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("gpt2-sharded", to: dir)
        let index = "\(checkpoint)/model.safetensors.index.json"
        let text = try String(contentsOfFile: index, encoding: .utf8)
        try FileManager.default.removeItem(atPath: "\(checkpoint)/model-00002-of-00003.safetensors")
        try expectImportFails(checkpoint, file: index, message: "shard 'model-00002-of-00003.safetensors' not found")
        try FileManager.default.copyItem(atPath: "\(checkpoint)/model-00001-of-00003.safetensors",
                                         toPath: "\(checkpoint)/model-00002-of-00003.safetensors")
        try expectImportFails(checkpoint, file: index, message: "which does not hold it")
        try text.replacingOccurrences(of: "\"model-00003-of-00003.safetensors\"", with: "\"../model.safetensors\"")
            .write(toFile: index, atomically: true, encoding: .utf8)
        try expectImportFails(checkpoint, file: index, message: "must name a shard file in the index's folder")
        try "{\"weight_map\": 3}".write(toFile: index, atomically: true, encoding: .utf8)
        try expectImportFails(checkpoint, file: index, message: "a shard index must be an object with a \"weight_map\" object")
    }

    @Test func missingTensor() throws {
        try expectBadWeights("gpt2-lm", message: "missing tensor 'transformer.h.1.mlp.c_fc.bias' (expected shape [192])") { tensors in
            tensors.removeAll { $0.name == "transformer.h.1.mlp.c_fc.bias" }
        }
        // A checkpoint saved with tie_word_embeddings false but without its head.
        try expectBadWeights("gpt2-lm-fp16", message: "missing tensor 'lm_head.weight' (expected shape [120, 32])") { tensors in
            tensors.removeAll { $0.name == "lm_head.weight" }
        }
    }

    /// Forms of the rotary configuration transformers 5 accepts for GPT-NeoX, each giving the
    /// same model: rope_scaling in place of rope_parameters, the older rotary_emb_base and
    /// rotary_pct, a top-level rope_theta that agrees.
    @Test func neoxRopeConfigurationForms() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("neox-lm", to: dir)
        let configPath = "\(checkpoint)/config.json"
        let original = try String(contentsOfFile: configPath, encoding: .utf8)
        let reference = printModule(try importCheckpoint(directory: checkpoint, tirPath: "\(dir)/m.tir"))
        let rope = try #require(original.range(of: #""rope_parameters": \{[^}]*\}"#, options: .regularExpression))
        for replacement in [
            #""rope_scaling": {"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.25}"#,
            #""rope_parameters": null, "rotary_emb_base": 500, "rotary_pct": 0.25"#,
            #""rope_parameters": {"type": "default"}, "rotary_emb_base": 500, "rope_theta": 500"#,
            #""rope_scaling": null, "rope_parameters": {"rope_theta": 500}, "rotary_emb_base": 7, "partial_rotary_factor": 0.25"#,
        ] {
            try original.replacingCharacters(in: rope, with: replacement).write(toFile: configPath, atomically: true, encoding: .utf8)
            #expect(printModule(try importCheckpoint(directory: checkpoint, tirPath: "\(dir)/m.tir")) == reference, "\(replacement)")
        }
    }

    /// GPT-NeoX's head: a checkpoint saved with tie_word_embeddings false must have embed_out
    /// (or lm_head); one saved tied has none and reads the token embeddings.
    @Test func neoxHead() throws {
        try expectBadWeights("neox-lm", message: "missing tensor 'embed_out.weight' (expected shape [113, 48])") { tensors in
            tensors.removeAll { $0.name == "embed_out.weight" }
        }
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("neox-lm", to: dir)
        let path = "\(checkpoint)/model.safetensors"
        let file = try SafetensorsFile(path: path)
        try writeSafetensors(try file.entries.map { entry in
            (name: entry.name == "embed_out.weight" ? "lm_head.weight" : entry.name, tensor: try file.tensor(entry))
        }, to: path)
        #expect(printModule(try importCheckpoint(directory: checkpoint, tirPath: "\(dir)/m.tir"))
            .contains("param @lm_head : f32[113, 48] = tensor(\"lm_head.weight\")"))
        let tied = printModule(try importCheckpoint(directory: fixture("neox-gen"), tirPath: "\(dir)/m.tir"))
        #expect(tied.contains("%logits = linear(%nf, @embed) {transposed = true}"), "\(tied)")
    }

    @Test func wrongShape() throws {
        try expectBadWeights("gpt2-lm", message: "tensor 'transformer.h.0.attn.c_attn.weight' has shape [48, 143],"
                             + " expected [48, 144] = [n_embd, 3*n_embd] from config.json") { tensors in
            guard let i = tensors.firstIndex(where: { $0.name == "transformer.h.0.attn.c_attn.weight" }) else { return }
            tensors[i].tensor = HostTensor(shape: [48, 143], f32: Array(tensors[i].tensor.floats.prefix(48 * 143)))
        }
        try expectBadWeights("vit-cls", message: "tensor 'vit.embeddings.position_embeddings' has shape [1, 15, 36],"
                             + " expected [1, 16, 36]") { tensors in
            guard let i = tensors.firstIndex(where: { $0.name == "vit.embeddings.position_embeddings" }) else { return }
            tensors[i].tensor = HostTensor(shape: [1, 15, 36], f32: Array(tensors[i].tensor.floats.prefix(15 * 36)))
        }
    }

    @Test func wrongDtype() throws {
        try expectBadWeights("vit-cls", message: "tensor 'classifier.bias' has dtype I32; expected F32, F16, BF16 or F64") { tensors in
            guard let i = tensors.firstIndex(where: { $0.name == "classifier.bias" }) else { return }
            tensors[i].tensor = HostTensor(shape: [5], i32: [1, 2, 3, 4, 5])
        }
    }

    @Test func truncatedWeights() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let checkpoint = try copyFixture("gpt2-lm", to: dir)
        let path = "\(checkpoint)/model.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        try expectImportFails(checkpoint, file: path, message: "run past the end of the data")
        try bytes.prefix(20).write(to: URL(fileURLWithPath: path))
        try expectImportFails(checkpoint, file: path, message: "truncated: header says")
    }
}

/// A config.json edit that must be refused with `message`.
struct RefusedOption: Sendable, CustomTestStringConvertible {
    var fixture: String
    var key: String
    var value: String
    var message: String
    var testDescription: String { "\(fixture): \(key) = \(value)" }
}

/// Sets (or, with nil, removes) one top-level key of a copied fixture's config.json, then
/// expects the import to fail with `message`, located at `atKey`'s line when given.
func expectRefusal(editing name: String, set key: String, to value: String?, message: String,
                           atKey: String? = nil) throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let checkpoint = try copyFixture(name, to: dir)
    let configPath = "\(checkpoint)/config.json"
    guard case .object(var object) = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: configPath)))) else {
        Issue.record("\(configPath) is not a JSON object")
        return
    }
    object.pairs.removeAll { $0.key == key }
    if let value { object.pairs.append((key: key, value: try JSONValue.parse(value))) }
    // One key per line, so that the error's line says which key it points at.
    let text = "{\n" + object.pairs.map { "  " + JSONValue.string($0.key).serialized() + ": " + $0.value.serialized() }
        .joined(separator: ",\n") + "\n}\n"
    try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    let diagnostic = try expectImportFails(checkpoint, file: configPath, message: message)
    if let atKey, let line = object.pairs.firstIndex(where: { $0.key == atKey }) {
        // (SourceLoc's == ignores positions, so compare line and column.)
        #expect(diagnostic.loc?.line == line + 2 && diagnostic.loc?.column == 3,
                "\(diagnostic) should point at '\(atKey)' on line \(line + 2)")
    }
}

/// Rewrites a copied fixture's model.safetensors (as float32) through `edit`, then expects the
/// import to fail with `message`.
func expectBadWeights(_ name: String, message: String,
                              edit: (inout [(name: String, tensor: HostTensor)]) -> Void) throws {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let checkpoint = try copyFixture(name, to: dir)
    let path = "\(checkpoint)/model.safetensors"
    let file = try SafetensorsFile(path: path)
    var tensors = try file.entries.map { (name: $0.name, tensor: try file.tensor($0)) }
    edit(&tensors)
    try writeSafetensors(tensors, to: path)
    try expectImportFails(checkpoint, file: path, message: message)
}

/// The import of `checkpoint` fails, through the library with a diagnostic in `file` whose
/// message contains `message`, and through `tfc import` with status 1, the same message on
/// stderr and no .tir written.
@discardableResult
func expectImportFails(_ checkpoint: String, file: String, message: String,
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> Diagnostic {
    let dir = try makeTempDir()
    defer { cleanup(dir) }
    let tir = "\(dir)/out.tir"
    var diagnostic = Diagnostic(file: "", loc: nil, "the import did not fail")
    do {
        _ = try importCheckpoint(directory: checkpoint, tirPath: tir)
        Issue.record("the import of \(checkpoint) succeeded; expected '\(message)'", sourceLocation: sourceLocation)
    } catch {
        diagnostic = error
        #expect(error.file == file, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
    }
    let r = try runTFC(["import", checkpoint, "-o", tir])
    #expect(r.status == 1, "tfc import exited \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(message), "\(r.stderr)", sourceLocation: sourceLocation)
    #expect(!FileManager.default.fileExists(atPath: tir), "tfc import wrote \(tir)", sourceLocation: sourceLocation)
    return diagnostic
}
