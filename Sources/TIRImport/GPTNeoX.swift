// GPT-NeoX and Pythia (GPTNeoXForCausalLM, GPTNeoXModel) checkpoints as TIR, computing what
// transformers computes: the fused query_key_value projection read as separate q, k and v
// linears (its output is laid out per head as [q | k | v]), rotary position embedding on the
// first rotary_dims columns of every head of q and k, the parallel residual
// (x + attn(ln1(x)) + mlp(ln2(x))) or the sequential one, and the untied head `embed_out`.
import TIR
import TIRFormats

func importGPTNeoX(_ config: Config, _ checkpoint: SafetensorsCheckpoint) throws(Diagnostic) -> ImportedModel {
    let architecture = try config.architecture(supported: ["GPTNeoXForCausalLM", "GPTNeoXModel"])

    let d = try config.positiveInt("hidden_size")
    let layers = try config.positiveInt("num_hidden_layers")
    let heads = try config.positiveInt("num_attention_heads")
    let vocab = try config.positiveInt("vocab_size")
    let maxPositions = try config.positiveInt("max_position_embeddings")
    let inner = try config.positiveInt("intermediate_size")
    let eps = try config.positiveDouble("layer_norm_eps", default: 1e-5)
    let tied = try config.bool("tie_word_embeddings", default: false)
    let parallel = try config.bool("use_parallel_residual", default: true)
    // attention_bias covers query_key_value and dense; the MLP's linears always have biases.
    let attentionBias = try config.bool("attention_bias", default: true)
    guard d % heads == 0 else {
        throw config.error("'hidden_size' (\(d)) must be divisible by 'num_attention_heads' (\(heads))",
                           at: "num_attention_heads")
    }
    let dh = d / heads
    // transformers sizes the rotary table by a `head_dim` key when a config has one, but the
    // attention by hidden_size / num_attention_heads: only the two agreeing is one model.
    if let headDim = try config.optionalPositiveInt("head_dim"), headDim != dh {
        throw config.error("unsupported 'head_dim' \(headDim) != 'hidden_size' / 'num_attention_heads' (\(dh))",
                           at: "head_dim")
    }
    let approximation = try config.reluOrGELU("hidden_act", default: "gelu")
    let rotary = try rotaryEmbedding(config, headSize: dh)

    var b = ModuleBuilder(checkpoint: checkpoint, rows: .seq)
    // GPTNeoXForCausalLM saves the body under "gpt_neox."; GPTNeoXModel saves it bare.
    let prefix = b.has("gpt_neox.embed_in.weight") ? "gpt_neox." : ""

    /// An nn.Linear, stored [out, in], as `@<name>.w` (read transposed) and `@<name>.b`.
    func linearParams(_ name: String, tensor: String, _ inputs: Int, _ outputs: Int, _ inKey: String, _ outKey: String,
                      bias: Bool = true) throws(Diagnostic) -> (w: Operand, b: Operand?) {
        (try b.param(name + ".w", [outputs, inputs], tensor: tensor + ".weight", why: "[\(outKey), \(inKey)]"),
         bias ? try b.param(name + ".b", [outputs], tensor: tensor + ".bias", why: "[\(outKey)]") : nil)
    }

    /// Part `part` (0: q, 1: k, 2: v) of the fused query_key_value Linear: its output row
    /// h*3*dh + part*dh + i is head h's column i of that part, so the part is `heads` blocks of
    /// dh rows, 3*dh apart.
    func fusedPart(_ name: String, tensor: String, part: Int) throws(Diagnostic) -> (w: Operand, b: Operand?) {
        let rows = RowBlocks(start: part * dh, size: dh, stride: 3 * dh)
        return (try b.param(name + ".w", [d, d], tensor: tensor + ".weight", stored: [3 * d, d], rows: rows,
                            why: "[3*hidden_size, hidden_size]"),
                attentionBias ? try b.param(name + ".b", [d], tensor: tensor + ".bias", stored: [3 * d], rows: rows,
                                            why: "[3*hidden_size]") : nil)
    }

    let embed = try b.param("embed", [vocab, d], tensor: prefix + "embed_in.weight", why: "[vocab_size, hidden_size]")
    var x = b.emit("x0", .embedding, [.value("tokens"), embed], cols: d)
    let ropeAttrs: [(key: String, value: AttrValue)] = [
        (key: "heads", value: .int(heads)), (key: "rotary_dims", value: .int(rotary.dims)),
        (key: "base", value: .float(rotary.base)),
    ]

    for i in 0..<layers {
        let h = "h\(i)", t = "\(prefix)layers.\(i)"
        let ln1 = try b.normParams("\(h).ln1", tensor: "\(t).input_layernorm", width: d, why: "[hidden_size]")
        let qkvTensor = "\(t).attention.query_key_value"
        let q = try fusedPart("\(h).q", tensor: qkvTensor, part: 0)
        let k = try fusedPart("\(h).k", tensor: qkvTensor, part: 1)
        let v = try fusedPart("\(h).v", tensor: qkvTensor, part: 2)
        let o = try linearParams("\(h).o", tensor: "\(t).attention.dense", d, d, "hidden_size", "hidden_size",
                                 bias: attentionBias)
        let ln2 = try b.normParams("\(h).ln2", tensor: "\(t).post_attention_layernorm", width: d, why: "[hidden_size]")
        let fc1 = try linearParams("\(h).fc1", tensor: "\(t).mlp.dense_h_to_4h", d, inner, "hidden_size",
                                   "intermediate_size")
        let fc2 = try linearParams("\(h).fc2", tensor: "\(t).mlp.dense_4h_to_h", inner, d, "intermediate_size",
                                   "hidden_size")

        let n1 = b.layerNorm("\(h).n1", x, ln1, eps: eps, width: d)
        // Rotary acts on q and k after their projections; transformers then scales q·k by
        // 1/√head_size, as TIR's attention does.
        let qLinear = b.linear("\(h).q", n1, q.w, q.b, transposed: true, out: d)
        let kLinear = b.linear("\(h).k", n1, k.w, k.b, transposed: true, out: d)
        let vLinear = b.linear("\(h).v", n1, v.w, v.b, transposed: true, out: d)
        let qRot = b.emit("\(h).qr", .rope, [qLinear], ropeAttrs, cols: d)
        let kRot = b.emit("\(h).kr", .rope, [kLinear], ropeAttrs, cols: d)
        let att = b.attention("\(h).att", [qRot, kRot, vLinear], heads: heads, causal: true, width: d)
        let projected = b.linear("\(h).o", att, o.w, o.b, transposed: true, out: d)
        let x1 = b.add("\(h).x1", x, projected, width: d)
        // Parallel: the MLP's norm reads the layer's input, as the attention's does; sequential:
        // it reads the stream after the attention's write.
        let n2 = b.layerNorm("\(h).n2", parallel ? x : x1, ln2, eps: eps, width: d)
        let mlp = b.mlp(h, n2, fc1: fc1, fc2: fc2, gelu: approximation, inner: inner, width: d)
        x = b.add("\(h).x2", x1, mlp, width: d)
    }
    let lnf = try b.normParams("lnf", tensor: prefix + "final_layer_norm", width: d, why: "[hidden_size]")

    // The hub's checkpoints name the head embed_out (transformers 5 renames it lm_head on load
    // and back on save); either name is read.
    let head = b.has("lm_head.weight") && !b.has("embed_out.weight") ? "lm_head.weight" : "embed_out.weight"
    return try b.tokenModelEnd(x, finalNorm: lnf, eps: eps, width: d, logits: architecture == "GPTNeoXForCausalLM",
                               tokenTable: embed, vocab: vocab, tied: tied, headTensor: head,
                               headWhy: "[vocab_size, hidden_size]", maxPositions: maxPositions)
}

/// The rotary embedding transformers 5 builds for GPT-NeoX: its parameters come from
/// `rope_scaling` (when not null or empty), else `rope_parameters`; a missing `rope_theta` there is
/// `rotary_emb_base` (default 10000), a missing `partial_rotary_factor` is `rotary_pct` (default
/// 0.25); the rotary width is int(head_size * partial_rotary_factor). Only the "default" type (no
/// scaling) is TIR's rope. Top-level `rope_theta` and `partial_rotary_factor`, which transformers
/// 5 ignores for this family, are refused where they disagree with what it uses.
private func rotaryEmbedding(_ config: Config, headSize: Int) throws(Diagnostic) -> (dims: Int, base: Double) {
    var parameters = JSONObject(), key: String?
    for name in ["rope_scaling", "rope_parameters"] {
        guard let (found, value) = config.lookup([name]) else { continue }
        guard let object = value.objectValue else {
            throw config.error("'\(found)' must be an object, got \(value.serialized())", at: found)
        }
        if object.pairs.isEmpty && name == "rope_scaling" { continue }  // an empty rope_scaling counts as none
        parameters = object
        key = found
        break
    }
    /// A number of the rope object (non-null), or of the top level.
    func number(_ name: String, topLevel: String, default value: Double) throws(Diagnostic) -> (Double, String?) {
        if let v = parameters[name], v != .null {
            guard let x = v.doubleValue, x.isFinite else {
                throw config.error("'\(key!).\(name)' must be a number, got \(v.serialized())", at: key)
            }
            return (x, key)
        }
        guard let (found, v) = config.lookup([topLevel]) else { return (value, nil) }
        guard let x = v.doubleValue, x.isFinite else {
            throw config.error("'\(found)' must be a number, got \(v.serialized())", at: found)
        }
        return (x, found)
    }

    let typeValue = parameters["rope_type"].flatMap { $0 == .null ? nil : $0 } ?? parameters["type"]
    if let typeValue, typeValue != .null {
        guard typeValue.stringValue == "default" else {
            throw config.error("unsupported rope type \(typeValue.serialized()) in '\(key!)' (TIR's rope is the"
                               + " unscaled \"default\" rotary embedding)", at: key)
        }
    }
    let (base, baseKey) = try number("rope_theta", topLevel: "rotary_emb_base", default: 10_000)
    let (factor, factorKey) = try number("partial_rotary_factor", topLevel: "rotary_pct", default: 0.25)
    // The keys transformers 5 ignores here: accepted only where they say what it uses.
    for (ignored, used) in [("rope_theta", base), ("partial_rotary_factor", factor)] {
        if let (found, v) = config.lookup([ignored]), v.doubleValue != used {
            throw config.error("unsupported '\(found)': \(v.serialized()) differs from the \(formatDouble(used)) that"
                               + " transformers uses for GPT-NeoX (from 'rope_parameters', 'rotary_emb_base' or"
                               + " 'rotary_pct', or the default)", at: found)
        }
    }
    guard base > 1 else {
        throw config.error("unsupported rope_theta \(formatDouble(base)) (TIR's rope needs a base above 1)", at: baseKey)
    }
    // int(head_size * partial_rotary_factor), the same double product Python truncates.
    let product = Double(headSize) * factor
    guard product >= 0, product < Double(headSize + 1) else {
        throw config.error("unsupported partial_rotary_factor \(formatDouble(factor)) (it must be in 0...1)", at: factorKey)
    }
    let dims = Int(product.rounded(.towardZero))
    guard dims > 0, dims % 2 == 0 else {
        throw config.error("unsupported rotary width \(dims) = int(\(headSize) * \(formatDouble(factor))) (head size"
                           + " times partial_rotary_factor): TIR's rope turns pairs of columns, so it must be even and"
                           + " positive", at: factorKey)
    }
    return (dims, base)
}
