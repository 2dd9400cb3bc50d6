// OPT (OPTForCausalLM, OPTModel) checkpoints as TIR, computing what transformers computes: the
// Pre-LN configuration (do_layer_norm_before, every size but OPT-350m), learned positions read
// from row 2 of their table (OPT's offset), separate q/k/v projections, a ReLU (or GELU) MLP, the
// final LayerNorm, and the head tied to the token embeddings unless the checkpoint has its own.
import TIR
import TIRFormats

func importOPT(_ config: Config, _ checkpoint: SafetensorsCheckpoint) throws(Diagnostic) -> ImportedModel {
    let architecture = try config.architecture(supported: ["OPTForCausalLM", "OPTModel"])

    // The Post-LN configuration normalizes after each residual add: the stream is then read
    // otherwise than through LayerNorm, and the rewrites' theorem does not apply.
    if try !config.bool("do_layer_norm_before", default: true) {
        throw config.error("unsupported option 'do_layer_norm_before': false (a Post-LN OPT, such as OPT-350m: tfc"
                           + " compiles Pre-LN Transformers, whose residual stream is read only through LayerNorm)",
                           at: "do_layer_norm_before")
    }
    let d = try config.positiveInt("hidden_size")
    if let projected = try config.optionalPositiveInt("word_embed_proj_dim"), projected != d {
        throw config.error("unsupported 'word_embed_proj_dim' \(projected) != 'hidden_size' \(d) (the embeddings'"
                           + " project_in/project_out layers, as in OPT-350m, are not imported)", at: "word_embed_proj_dim")
    }
    if try config.bool("_remove_final_layer_norm", default: false) {
        throw config.error("unsupported option '_remove_final_layer_norm': true (a Pre-LN OPT without its final"
                           + " LayerNorm)", at: "_remove_final_layer_norm")
    }
    if try !config.bool("layer_norm_elementwise_affine", default: true) {
        throw config.error("unsupported option 'layer_norm_elementwise_affine': false", at: "layer_norm_elementwise_affine")
    }
    let biases = try config.bool("enable_bias", default: true)
    let approximation = try config.reluOrGELU("activation_function", default: "relu")
    let layers = try config.positiveInt("num_hidden_layers")
    let heads = try config.positiveInt("num_attention_heads")
    let vocab = try config.positiveInt("vocab_size")
    let maxPositions = try config.positiveInt("max_position_embeddings")
    let inner = try config.positiveInt("ffn_dim")
    let tied = try config.bool("tie_word_embeddings", default: true)
    guard d % heads == 0 else {
        throw config.error("'hidden_size' (\(d)) must be divisible by 'num_attention_heads' (\(heads))", at: "num_attention_heads")
    }
    // OPT's LayerNorms are torch.nn.LayerNorm's default; config.json does not say it.
    let eps = 1e-5
    // Positions p read row p + 2 of the table (OPTLearnedPositionalEmbedding's offset).
    let positionOffset = 2

    var b = ModuleBuilder(checkpoint: checkpoint, rows: .seq)
    // OPTForCausalLM saves the decoder under "model.decoder."; OPTModel under "decoder.".
    let prefix = b.has("model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder."

    /// An nn.Linear, stored [out, in], as `@<name>.w` (read transposed) and `@<name>.b`.
    func linearParams(_ name: String, tensor: String, _ inputs: Int, _ outputs: Int, _ inKey: String,
                      _ outKey: String) throws(Diagnostic) -> (w: Operand, b: Operand?) {
        (try b.param(name + ".w", [outputs, inputs], tensor: tensor + ".weight", why: "[\(outKey), \(inKey)]"),
         biases ? try b.param(name + ".b", [outputs], tensor: tensor + ".bias", why: "[\(outKey)]") : nil)
    }

    let embed = try b.param("embed", [vocab, d], tensor: prefix + "embed_tokens.weight", why: "[vocab_size, hidden_size]")
    let table = try b.param("positions", [maxPositions + positionOffset, d], tensor: prefix + "embed_positions.weight",
                            why: "[max_position_embeddings + 2, hidden_size]")
    let tok = b.emit("tok", .embedding, [.value("tokens"), embed], cols: d)
    let pos = b.emit("pos", .positions, [table], [(key: "offset", value: .int(positionOffset))], cols: d)
    var x = b.add("x0", tok, pos, width: d)

    for i in 0..<layers {
        let h = "h\(i)", t = "\(prefix)layers.\(i)"
        let ln1 = try b.normParams("\(h).ln1", tensor: "\(t).self_attn_layer_norm", width: d, why: "[hidden_size]")
        let q = try linearParams("\(h).q", tensor: "\(t).self_attn.q_proj", d, d, "hidden_size", "hidden_size")
        let k = try linearParams("\(h).k", tensor: "\(t).self_attn.k_proj", d, d, "hidden_size", "hidden_size")
        let v = try linearParams("\(h).v", tensor: "\(t).self_attn.v_proj", d, d, "hidden_size", "hidden_size")
        let o = try linearParams("\(h).o", tensor: "\(t).self_attn.out_proj", d, d, "hidden_size", "hidden_size")
        let ln2 = try b.normParams("\(h).ln2", tensor: "\(t).final_layer_norm", width: d, why: "[hidden_size]")
        let fc1 = try linearParams("\(h).fc1", tensor: "\(t).fc1", d, inner, "hidden_size", "ffn_dim")
        let fc2 = try linearParams("\(h).fc2", tensor: "\(t).fc2", inner, d, "ffn_dim", "hidden_size")

        let n1 = b.layerNorm("\(h).n1", x, ln1, eps: eps, width: d)
        // transformers scales q by 1/√head_size before the product: what TIR's attention does.
        let qkv = [("q", q), ("k", k), ("v", v)].map { name, p in
            b.linear("\(h).\(name)", n1, p.w, p.b, transposed: true, out: d)
        }
        let att = b.attention("\(h).att", qkv, heads: heads, causal: true, width: d)
        let projected = b.linear("\(h).o", att, o.w, o.b, transposed: true, out: d)
        let x1 = b.add("\(h).x1", x, projected, width: d)
        let n2 = b.layerNorm("\(h).n2", x1, ln2, eps: eps, width: d)
        let mlp = b.mlp(h, n2, fc1: fc1, fc2: fc2, gelu: approximation, inner: inner, width: d)
        x = b.add("\(h).x2", x1, mlp, width: d)
    }
    let lnf = try b.normParams("lnf", tensor: prefix + "final_layer_norm", width: d, why: "[hidden_size]")

    return try b.tokenModelEnd(x, finalNorm: lnf, eps: eps, width: d, logits: architecture == "OPTForCausalLM",
                               tokenTable: embed, vocab: vocab, tied: tied, headWhy: "[vocab_size, hidden_size]",
                               maxPositions: maxPositions)
}
