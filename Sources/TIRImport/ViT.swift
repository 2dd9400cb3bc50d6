// ViT (ViTModel, ViTForImageClassification) checkpoints as TIR, computing what transformers computes.
import TIR
import TIRFormats

/// Builds the forward pass of transformers' `ViTModel` (the final-norm sequence, class token
/// first, and when the checkpoint has one, the pooler: its activation of a dense layer on the
/// class token's row) or `ViTForImageClassification` (the classifier applied to the class
/// token's final state).
func importViT(_ config: Config, _ checkpoint: SafetensorsCheckpoint) throws(Diagnostic) -> ImportedModel {
    let architecture = try config.architecture(supported: ["ViTForImageClassification", "ViTModel"])
    let activation = try config.string("hidden_act", default: "gelu")
    guard let approximation = geluApproximation(activation) else {
        throw config.error("unsupported hidden_act '\(activation)' (supported: \(supportedActivations))",
                           at: "hidden_act")
    }

    let d = try config.positiveInt("hidden_size")
    let layers = try config.positiveInt("num_hidden_layers")
    let heads = try config.positiveInt("num_attention_heads")
    let mlp = try config.positiveInt("intermediate_size")
    let channels = try config.positiveInt("num_channels")
    let image = try config.positiveInts("image_size", count: 2)  // [height, width]
    let patches = try config.positiveInts("patch_size", count: 2)
    let eps = try config.positiveDouble("layer_norm_eps", default: 1e-12)
    let qkvBias = try config.bool("qkv_bias", default: true)
    guard patches[0] == patches[1] else {
        throw config.error("unsupported option 'patch_size': \(patches) (TIR's patch_embed takes square patches)",
                           at: "patch_size")
    }
    let p = patches[0]
    guard p <= image[0], p <= image[1] else {
        throw config.error("'patch_size' \(p) is larger than the image (\(image[0]) x \(image[1]))", at: "patch_size")
    }
    // transformers reads an optional head_dim, else hidden_size / heads rounded down; the
    // attention is heads * head_dim wide, which may differ from hidden_size.
    let headDim = try config.optionalPositiveInt("head_dim") ?? d / heads
    guard headDim > 0 else {
        throw config.error("'num_attention_heads' (\(heads)) is larger than 'hidden_size' (\(d))",
                           at: "num_attention_heads")
    }
    let width = heads * headDim
    let widthKey = config.has("head_dim") ? "num_attention_heads*head_dim" : "hidden_size"
    let isClassifier = architecture == "ViTForImageClassification"
    let labels = isClassifier ? try labelCount(config) : 0
    // A stride-p convolution over the whole image: the grid rounds down, as patch_embed does.
    let n = (image[0] / p) * (image[1] / p)

    var b = ModuleBuilder(checkpoint: checkpoint, rows: .fixed(n + 1))
    // ViTForImageClassification saves the body under "vit."; ViTModel saves it bare.
    let prefix = b.has("vit.embeddings.cls_token") ? "vit." : ""

    /// An nn.Linear (stored [out, in], read with `transposed = true`) as `@<name>.w` and
    /// `@<name>.b`; `outKey`, `inKey` name the config keys that fix its sizes.
    func linear(_ name: String, tensor: String, out: Int, in: Int, _ outKey: String, _ inKey: String,
                bias: Bool = true) throws(Diagnostic) -> (w: Operand, b: Operand?) {
        let w = try b.param(name + ".w", [out, `in`], tensor: tensor + ".weight", why: "[\(outKey), \(inKey)]")
        return (w, bias ? try b.param(name + ".b", [out], tensor: tensor + ".bias", why: "[\(outKey)]") : nil)
    }

    // The Conv2d weight [d, C, p, p] read as [d, C*p*p]: patch_embed flattens each patch in
    // (c, kh, kw) order, the order of the convolution's kernel.
    let embeddings = prefix + "embeddings"
    let projection = "\(embeddings).patch_embeddings.projection"
    let patchW = try b.param("patch.w", [d, channels * p * p], tensor: projection + ".weight", stored: [d, channels, p, p],
                             why: "[hidden_size, num_channels, patch_size, patch_size]")
    let patchB = try b.param("patch.b", [d], tensor: projection + ".bias", why: "[hidden_size]")
    let cls = try b.param("cls", [1, d], tensor: "\(embeddings).cls_token", stored: [1, 1, d],
                          why: "[1, 1, hidden_size]")
    let grid = "\(n) whole \(p)x\(p) patches in a \(image[0])x\(image[1]) image"
    let pos = try b.param("pos", [n + 1, d], tensor: "\(embeddings).position_embeddings", stored: [1, n + 1, d],
                          why: "[1, patches + 1, hidden_size] (\(grid))")
    let embedded = b.emit("patches", .patchEmbed, [.value("image"), patchW, patchB],
                          [(key: "patch", value: .int(p)), (key: "transposed", value: .bool(true))],
                          rows: .fixed(n), cols: d)
    let sequence = b.emit("seq", .clsToken, [embedded, cls], cols: d)
    var x = b.add("x0", sequence, pos, width: d)

    for i in 0..<layers {
        let l = "l\(i)", t = "\(prefix)encoder.layer.\(i)"
        let ln1 = try b.normParams("\(l).ln1", tensor: "\(t).layernorm_before", width: d, why: "[hidden_size]")
        let attention = "\(t).attention.attention"
        let q = try linear("\(l).q", tensor: "\(attention).query", out: width, in: d, widthKey, "hidden_size", bias: qkvBias)
        let k = try linear("\(l).k", tensor: "\(attention).key", out: width, in: d, widthKey, "hidden_size", bias: qkvBias)
        let v = try linear("\(l).v", tensor: "\(attention).value", out: width, in: d, widthKey, "hidden_size", bias: qkvBias)
        let o = try linear("\(l).o", tensor: "\(t).attention.output.dense", out: d, in: width, "hidden_size", widthKey)
        let ln2 = try b.normParams("\(l).ln2", tensor: "\(t).layernorm_after", width: d, why: "[hidden_size]")
        let fc1 = try linear("\(l).fc1", tensor: "\(t).intermediate.dense", out: mlp, in: d, "intermediate_size", "hidden_size")
        let fc2 = try linear("\(l).fc2", tensor: "\(t).output.dense", out: d, in: mlp, "hidden_size", "intermediate_size")

        let n1 = b.layerNorm("\(l).n1", x, ln1, eps: eps, width: d)
        let qv = b.linear("\(l).q", n1, q.w, q.b, transposed: true, out: width)
        let kv = b.linear("\(l).k", n1, k.w, k.b, transposed: true, out: width)
        let vv = b.linear("\(l).v", n1, v.w, v.b, transposed: true, out: width)
        let att = b.attention("\(l).att", [qv, kv, vv], heads: heads, causal: false, width: width)
        let projected = b.linear("\(l).o", att, o.w, o.b, transposed: true, out: d)
        let x1 = b.add("\(l).x1", x, projected, width: d)
        let n2 = b.layerNorm("\(l).n2", x1, ln2, eps: eps, width: d)
        let hidden = b.linear("\(l).fc1", n2, fc1.w, fc1.b, transposed: true, out: mlp)
        let act = b.gelu("\(l).act", hidden, approximation: approximation, width: mlp)
        let out = b.linear("\(l).fc2", act, fc2.w, fc2.b, transposed: true, out: d)
        x = b.add("\(l).x2", x1, out, width: d)
    }
    let lnf = try b.normParams("lnf", tensor: prefix + "layernorm", width: d, why: "[hidden_size]")

    var outputs = ["hidden"]
    if isClassifier {
        let final = b.layerNorm("nf", x, lnf, eps: eps, width: d)
        // The class token's row; with no labels transformers' classifier is the identity.
        outputs = ["clsout"]
        let clsOut = b.emit("clsout", .selectRow, [final], [(key: "index", value: .int(0))], rows: .fixed(1), cols: d)
        if labels > 0 {
            let head = try linear("head", tensor: "classifier", out: labels, in: d, "num_labels", "hidden_size")
            outputs = ["logits"]
            _ = b.linear("logits", clsOut, head.w, head.b, transposed: true, out: labels, rows: .fixed(1))
        }
    } else {
        let hidden = b.layerNorm("hidden", x, lnf, eps: eps, width: d)
        // ViTModel(add_pooling_layer=False) saves no pooler; then there is none to import.
        if b.has(prefix + "pooler.dense.weight") || b.has(prefix + "pooler.dense.bias") {
            outputs.append(try pooler(config, &b, hidden: hidden, tensor: prefix + "pooler.dense", width: d))
        }
    }
    let imageType = TensorType(.f32, [.fixed(channels), .fixed(image[0]), .fixed(image[1])])
    return ImportedModel(seq: nil, input: Input(name: "image", type: imageType), params: b.params, body: b.body,
                         outputs: outputs)
}

/// transformers' ViTPooler: `act(dense(hidden[:, 0]))` with `act = ACT2FN[pooler_act]`
/// (tanh by default) and a dense layer [pooler_output_size, hidden_size]. Emits
/// `%pooler : f32[1, pooler_output_size]` and returns its name.
private func pooler(_ config: Config, _ b: inout ModuleBuilder, hidden: Operand, tensor: String,
                    width d: Int) throws(Diagnostic) -> String {
    let activation = try config.string("pooler_act", default: "tanh")
    let approximation = geluApproximation(activation)
    guard activation == "tanh" || activation == "relu" || approximation != nil else {
        throw config.error("unsupported pooler_act '\(activation)' (supported: tanh, relu, \(supportedActivations))",
                           at: "pooler_act")
    }
    let out = try config.optionalPositiveInt("pooler_output_size") ?? d
    let outKey = config.has("pooler_output_size") ? "pooler_output_size" : "hidden_size"
    let w = try b.param("pooler.w", [out, d], tensor: tensor + ".weight", why: "[\(outKey), hidden_size]")
    let bias = try b.param("pooler.b", [out], tensor: tensor + ".bias", why: "[\(outKey)]")
    let first = b.emit("pooler.cls", .selectRow, [hidden], [(key: "index", value: .int(0))], rows: .fixed(1), cols: d)
    let dense = b.linear("pooler.dense", first, w, bias, transposed: true, out: out, rows: .fixed(1))
    switch activation {
    case "tanh": _ = b.emit("pooler", .tanh, [dense], rows: .fixed(1), cols: out)
    case "relu": _ = b.emit("pooler", .relu, [dense], rows: .fixed(1), cols: out)
    default:
        _ = b.emit("pooler", .gelu, [dense], [(key: "approximation", value: .word(approximation ?? "none"))],
                   rows: .fixed(1), cols: out)
    }
    return "pooler"
}

/// transformers' `num_labels`: the size of `id2label` when present (that is what it saves),
/// else `num_labels`, else its default of 2.
private func labelCount(_ config: Config) throws(Diagnostic) -> Int {
    if let (key, value) = config.lookup(["id2label"]) {
        guard let map = value.objectValue else { throw config.error("'\(key)' must be an object", at: key) }
        return map.pairs.count
    }
    if let (key, value) = config.lookup(["num_labels"]) {
        guard let count = value.intValue, count >= 0 else {
            throw config.error("'\(key)' must be a non-negative integer, got \(value.serialized())", at: key)
        }
        return count
    }
    return 2
}
