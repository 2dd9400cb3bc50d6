// GPT-2 (GPT2Model, GPT2LMHeadModel) checkpoints as TIR, computing what transformers computes.
import TIR
import TIRFormats

/// Builds the forward pass of transformers' `GPT2Model` (the final-norm hidden states) or
/// `GPT2LMHeadModel` (the logits) over the checkpoint's tensors.
func importGPT2(_ config: Config, _ checkpoint: SafetensorsCheckpoint) throws(Diagnostic) -> ImportedModel {
    let architecture = try config.architecture(supported: ["GPT2LMHeadModel", "GPT2Model"])

    // Options that change the arithmetic in ways TIR's ops cannot express exactly are refused
    // by name. reorder_and_upcast_attn only changes the precision of mixed-precision training
    // (the float32 result is the same), so it is accepted.
    if try config.bool("scale_attn_by_inverse_layer_idx", default: false) {
        throw config.error("unsupported option 'scale_attn_by_inverse_layer_idx': true (TIR's attention scales"
                           + " scores by 1/√head_size only, not also by 1/(layer + 1))",
                           at: "scale_attn_by_inverse_layer_idx")
    }
    if try !config.bool("scale_attn_weights", default: true) {
        throw config.error("unsupported option 'scale_attn_weights': false (TIR's attention always scales"
                           + " scores by 1/√head_size)", at: "scale_attn_weights")
    }
    if try config.bool("add_cross_attention", default: false) {
        throw config.error("unsupported option 'add_cross_attention': true (cross-attention needs encoder"
                           + " states, which a TIR model does not take)", at: "add_cross_attention")
    }
    _ = try config.bool("reorder_and_upcast_attn", default: false)
    let activation = try config.string("activation_function", default: "gelu_new")
    guard let approximation = geluApproximation(activation) else {
        throw config.error("unsupported activation_function '\(activation)' (supported: \(supportedActivations))",
                           at: "activation_function")
    }

    let d = try config.positiveInt("n_embd", aliases: ["hidden_size"])
    let layers = try config.positiveInt("n_layer", aliases: ["num_hidden_layers"])
    let heads = try config.positiveInt("n_head", aliases: ["num_attention_heads"])
    let vocab = try config.positiveInt("vocab_size")
    let maxPositions = try config.positiveInt("n_positions", aliases: ["max_position_embeddings"])
    let inner = try config.optionalPositiveInt("n_inner") ?? 4 * d  // null means 4 * n_embd
    let innerKey = config.has("n_inner") ? "n_inner" : "4*n_embd"
    let eps = try config.positiveDouble("layer_norm_epsilon", default: 1e-5)
    let tied = try config.bool("tie_word_embeddings", default: true)
    guard d % heads == 0 else {
        throw config.error("'n_embd' (\(d)) must be divisible by 'n_head' (\(heads))", at: "n_head")
    }

    var b = ModuleBuilder(checkpoint: checkpoint, rows: .seq)
    // GPT2LMHeadModel saves the body under "transformer."; GPT2Model saves it bare.
    let prefix = b.has("transformer.wte.weight") ? "transformer." : ""

    /// A Conv1D, stored [in, out] as TIR's linear wants it, as `@<name>.w` and `@<name>.b`;
    /// `inKey`, `outKey` name the config keys that fix its sizes.
    func conv1D(_ name: String, tensor: String, _ rows: Int, _ cols: Int, _ inKey: String,
                _ outKey: String) throws(Diagnostic) -> (w: Operand, b: Operand) {
        (try b.param(name + ".w", [rows, cols], tensor: tensor + ".weight", why: "[\(inKey), \(outKey)]"),
         try b.param(name + ".b", [cols], tensor: tensor + ".bias", why: "[\(outKey)]"))
    }

    let wte = try b.param("wte", [vocab, d], tensor: prefix + "wte.weight", why: "[vocab_size, n_embd]")
    let wpe = try b.param("wpe", [maxPositions, d], tensor: prefix + "wpe.weight", why: "[n_positions, n_embd]")
    let tok = b.emit("tok", .embedding, [.value("tokens"), wte], cols: d)
    let pos = b.emit("pos", .positions, [wpe], cols: d)
    var x = b.add("x0", tok, pos, width: d)

    for i in 0..<layers {
        let h = "h\(i)", t = "\(prefix)h.\(i)"
        let ln1 = try b.normParams("\(h).ln1", tensor: "\(t).ln_1", width: d, why: "[n_embd]")
        let attn = try conv1D("\(h).attn", tensor: "\(t).attn.c_attn", d, 3 * d, "n_embd", "3*n_embd")
        let proj = try conv1D("\(h).proj", tensor: "\(t).attn.c_proj", d, d, "n_embd", "n_embd")
        let ln2 = try b.normParams("\(h).ln2", tensor: "\(t).ln_2", width: d, why: "[n_embd]")
        let fc = try conv1D("\(h).fc", tensor: "\(t).mlp.c_fc", d, inner, "n_embd", innerKey)
        let out = try conv1D("\(h).out", tensor: "\(t).mlp.c_proj", inner, d, innerKey, "n_embd")

        let n1 = b.layerNorm("\(h).n1", x, ln1, eps: eps, width: d)
        let qkv = b.linear("\(h).qkv", n1, attn.w, attn.b, transposed: false, out: 3 * d)
        let att = b.attention("\(h).att", [qkv], heads: heads, causal: true, width: d)
        let projected = b.linear("\(h).proj", att, proj.w, proj.b, transposed: false, out: d)
        let x1 = b.add("\(h).x1", x, projected, width: d)
        let n2 = b.layerNorm("\(h).n2", x1, ln2, eps: eps, width: d)
        let hidden = b.linear("\(h).fc", n2, fc.w, fc.b, transposed: false, out: inner)
        let act = b.gelu("\(h).act", hidden, approximation: approximation, width: inner)
        let mlp = b.linear("\(h).out", act, out.w, out.b, transposed: false, out: d)
        x = b.add("\(h).x2", x1, mlp, width: d)
    }
    let lnf = try b.normParams("lnf", tensor: prefix + "ln_f", width: d, why: "[n_embd]")

    return try b.tokenModelEnd(x, finalNorm: lnf, eps: eps, width: d, logits: architecture == "GPT2LMHeadModel",
                               tokenTable: wte, vocab: vocab, tied: tied, headWhy: "[vocab_size, n_embd]",
                               maxPositions: maxPositions)
}
