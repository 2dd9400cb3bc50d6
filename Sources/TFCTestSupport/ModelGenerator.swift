// Random valid Pre-LN Transformers (GPT and ViT layouts) as TIR modules, for testing rewrites
// and codegen: the module a `ModelSpec` (ModelSpec.swift) describes.
import Foundation
import TIR

/// The Pre-LN model `spec` describes, with readable names (`@h0.ln1.g`, `%h0.n1`, ...) and
/// random weights that need no file: `weights random(...)` for the input projections, explicit
/// initializers for everything else.
public func generateModel(_ spec: ModelSpec) -> Module {
    var builder = ModelBuilder(spec: spec)
    switch spec.kind {
    case .gpt(let gpt):
        var x = builder.gptEmbedding(gpt)
        for layer in 0..<spec.layers { x = builder.block(layer, x) }
        let logits = builder.gptHead(gpt, builder.norm("nf", x, params: "lnf"))
        return builder.module(name: "gen_gpt", seq: SeqDecl(symbol: "T", max: gpt.maxSeq),
                                input: Input(name: "tokens", type: TensorType(.i32, [.seq])), output: logits)
    case .vit(let vit):
        var x = builder.vitEmbedding(vit)
        for layer in 0..<spec.layers { x = builder.block(layer, x) }
        let logits = builder.vitHead(vit, builder.norm("nf", x, params: "lnf"))
        let image = TensorType(.f32, [.fixed(vit.channels), .fixed(vit.gridHeight * vit.patch),
                                      .fixed(vit.gridWidth * vit.patch)])
        return builder.module(name: "gen_vit", seq: nil, input: Input(name: "image", type: image), output: logits)
    }
}

/// Collects the parameters and instructions of one model, one building block per method.
private struct ModelBuilder {
    let spec: ModelSpec
    /// Rows of every activation in the stream: the sequence symbol, or the ViT's static count.
    let rows: Dim
    var params: [Param] = []
    var body: [Instruction] = []

    init(spec: ModelSpec) {
        self.spec = spec
        switch spec.kind {
        case .gpt: rows = .seq
        case .vit(let vit): rows = .fixed(vit.rows)
        }
    }

    var d: Int { spec.width }

    func module(name: String, seq: SeqDecl?, input: Input, output: Operand) -> Module {
        // Input projections (q/k/v, fc, an untied head) all read width d: this std is their
        // 1/sqrt(fan_in), which keeps their outputs O(1).
        let std = roundedForText(1 / Double(max(d, 1)).squareRoot())
        return Module(name: name, seq: seq, weights: .random(seed: spec.weightSeed, std: std),
                      inputs: [input], params: params, body: body, outputs: [OutputRef(name: output.name)])
    }

    // MARK: Primitives

    mutating func param(_ name: String, _ shape: [Int], _ initializer: ParamInit) -> Operand {
        params.append(Param(name: name, type: TensorType(.f32, shape.map(Dim.fixed)), initializer: initializer))
        return .param(name)
    }

    /// `%name = op(operands) {attrs} : f32[rows, columns]`, with every attribute of the op in
    /// OpInfo's order and defaults filled in, as the parser does, so that the module equals
    /// its own reparse.
    mutating func emit(_ name: String, _ op: OpKind, _ operands: [Operand], _ given: [String: AttrValue] = [:],
                       rows: Dim? = nil, columns: Int) -> Operand {
        let attrs = OpInfo.of(op).attrs.compactMap { attr in
            (given[attr.key] ?? attr.defaultValue).map { (key: attr.key, value: $0) }
        }
        body.append(Instruction(result: name, op: op, operands: operands, attrs: attrs,
                                type: TensorType(.f32, [rows ?? self.rows, .fixed(columns)])))
        return .value(name)
    }

    mutating func linear(_ name: String, _ x: Operand, weight: Operand, transposed: Bool = false,
                         bias: Operand?, rows: Dim? = nil, columns: Int) -> Operand {
        emit(name, .linear, [x, weight] + (bias.map { [$0] } ?? []), ["transposed": .bool(transposed)],
             rows: rows, columns: columns)
    }

    /// A linear that reads a norm's output (q/k/v, fc): weights from the model's default
    /// normal(0, 1/sqrt(d)), small zero-mean biases.
    mutating func inputProjection(_ name: String, _ x: Operand, inputs: Int, outputs: Int) -> Operand {
        let weight = param("\(name).w", [inputs, outputs], .default)
        let bias = spec.biases ? param("\(name).b", [outputs], .normal(mean: 0.0, std: 0.5)) : nil
        return linear(name, x, weight: weight, bias: bias, columns: outputs)
    }

    /// A linear that writes into the residual stream, with a common offset of `sign * offset`
    /// in its weight and bias. `uniform` picks the form of the weight's initializer so that
    /// both forms occur; either has std 1/sqrt(inputs).
    mutating func outputProjection(_ name: String, _ x: Operand, inputs: Int, sign: Double, uniform: Bool) -> Operand {
        let weight = param("\(name).w", [inputs, d], writerWeight(fanIn: inputs, sign: sign, uniform: uniform))
        let bias = spec.biases ? param("\(name).b", [d], .normal(mean: sign * spec.offset, std: 0.1)) : nil
        return linear(name, x, weight: weight, bias: bias, columns: d)
    }

    /// Mean `sign * offset / sqrt(fanIn)`: the row's mean then grows by about `offset` per
    /// writer, whatever the fan-in.
    func writerWeight(fanIn: Int, sign: Double, uniform: Bool) -> ParamInit {
        let scale = 1 / Double(max(fanIn, 1)).squareRoot()
        let mean = roundedForText(sign * spec.offset * scale)
        if uniform {
            let halfWidth = roundedForText(3.0.squareRoot() * scale)
            return .uniform(low: roundedForText(mean - halfWidth), high: roundedForText(mean + halfWidth))
        }
        return .normal(mean: mean, std: roundedForText(scale))
    }

    // MARK: Building blocks

    /// A layernorm over the stream, with the spec's gain and bias as `@prefix.g`, `@prefix.b`.
    mutating func norm(_ name: String, _ x: Operand, params prefix: String) -> Operand {
        var operands = [x]
        if spec.normGain || spec.normBias {
            let gain: ParamInit = !spec.normGain ? .ones
                : spec.wideGains ? .normal(mean: 0.0, std: 2.0) : .normal(mean: 1.0, std: 0.5)
            operands.append(param("\(prefix).g", [d], gain))
        }
        if spec.normBias { operands.append(param("\(prefix).b", [d], .normal(mean: 0.5, std: 1.0))) }
        return emit(name, .layernorm, operands, ["eps": .float(spec.eps)], columns: d)
    }

    /// Token embedding plus positions: `%x0 = add(%tok, %pos)`.
    mutating func gptEmbedding(_ gpt: ModelSpec.GPT) -> Operand {
        let table = param("wte", [gpt.vocab, d], .normal(mean: spec.offset, std: 1.0))
        let tokens = emit("tok", .embedding, [.value("tokens"), table], columns: d)
        let fixed = roundedForText(-0.5 - spec.offset / 2)
        let positionInit: ParamInit = switch gpt.positions {
        case .learned: .normal(mean: -spec.offset / 2, std: 1.0)
        case .constant: .uniform(low: fixed, high: fixed)
        }
        let positions = emit("pos", .positions, [param("wpe", [gpt.positionRows, d], positionInit)], columns: d)
        return emit("x0", .add, [tokens, positions], columns: d)
    }

    /// Patches, then the class token in front, then learned positions: `%x0`.
    mutating func vitEmbedding(_ vit: ModelSpec.ViT) -> Operand {
        let fanIn = vit.channels * vit.patch * vit.patch
        var operands: [Operand] = [.value("image"), param("patch.w", [fanIn, d], writerWeight(fanIn: fanIn, sign: 1, uniform: false))]
        if spec.biases { operands.append(param("patch.b", [d], .normal(mean: spec.offset, std: 0.5))) }
        let patches = emit("patches", .patchEmbed, operands, ["patch": .int(vit.patch)],
                           rows: .fixed(vit.rows - 1), columns: d)
        let cls = param("cls", vit.clsAsRow ? [1, d] : [d], .normal(mean: spec.offset, std: 1.0))
        let sequence = emit("seq", .clsToken, [patches, cls], columns: d)
        let positions = param("pos", [vit.rows, d], .uniform(low: -spec.offset - 1, high: -spec.offset + 1))
        return emit("x0", .add, [sequence, positions], columns: d)
    }

    /// Layer `index`, prefix `h<index>`: its branches added to the stream `x`; returns `%h<i>.x2`.
    mutating func block(_ index: Int, _ x: Operand) -> Operand {
        let p = "h\(index)"
        switch spec.blockStyle {
        case .sequential:
            let attention = attentionBranch(p, norm("\(p).n1", x, params: "\(p).ln1"))
            let x1 = emit("\(p).x1", .add, [x, attention], columns: d)
            let mlp = mlpBranch(p, norm("\(p).n2", x1, params: "\(p).ln2"))
            return emit("\(p).x2", .add, [x1, mlp], columns: d)
        case .parallel:
            let n = norm("\(p).n", x, params: "\(p).ln")
            let attention = attentionBranch(p, n)
            let mlp = mlpBranch(p, n)
            let x1 = emit("\(p).x1", .add, [x, attention], columns: d)
            return emit("\(p).x2", .add, [x1, mlp], columns: d)
        }
    }

    /// q, k, v (fused or not) from the norm's output, attention, then the out-projection `%p.proj`.
    mutating func attentionBranch(_ p: String, _ n: Operand) -> Operand {
        let inner = spec.attentionWidth
        var qkv: [Operand] = switch spec.attentionInput {
        case .fused: [inputProjection("\(p).qkv", n, inputs: d, outputs: 3 * inner)]
        case .separate, .rotary: ["q", "k", "v"].map { inputProjection("\(p).\($0)", n, inputs: d, outputs: inner) }
        }
        let rotary = inner / max(spec.heads, 1) / 2 * 2
        if spec.attentionInput == .rotary, rotary >= 2, inner % max(spec.heads, 1) == 0 {
            for (i, name) in ["q", "k"].enumerated() {
                qkv[i] = emit("\(p).\(name).rope", .rope, [qkv[i]],
                              ["heads": .int(spec.heads), "rotary_dims": .int(rotary), "base": .float(10000)], columns: inner)
            }
        }
        let attention = emit("\(p).att", .attention, qkv,
                             ["heads": .int(spec.heads), "causal": .bool(spec.gpt != nil)], columns: inner)
        return outputProjection("\(p).proj", attention, inputs: inner, sign: 1, uniform: true)
    }

    /// fc, GELU, then the MLP's output projection `%p.out`, offset the other way from attention's.
    mutating func mlpBranch(_ p: String, _ n: Operand) -> Operand {
        let fc = inputProjection("\(p).fc", n, inputs: d, outputs: spec.mlpWidth)
        let act = emit("\(p).act", .gelu, [fc], ["approximation": .word(spec.gelu.rawValue)], columns: spec.mlpWidth)
        return outputProjection("\(p).out", act, inputs: spec.mlpWidth, sign: -0.5, uniform: false)
    }

    /// `%logits`: the final norm's output through the tied table or an own head weight.
    mutating func gptHead(_ gpt: ModelSpec.GPT, _ nf: Operand) -> Operand {
        let bias = spec.headBias ? param("head.b", [gpt.vocab], .normal(mean: 0.0, std: 0.1)) : nil
        if gpt.tiedHead {
            return linear("logits", nf, weight: .param("wte"), transposed: true, bias: bias, columns: gpt.vocab)
        }
        return untiedHead(nf, outputs: gpt.vocab, bias: bias, rows: nil)
    }

    /// `%logits`: the classifier on the class token's row, or on every row.
    mutating func vitHead(_ vit: ModelSpec.ViT, _ nf: Operand) -> Operand {
        let bias = spec.headBias ? param("head.b", [vit.classes], .normal(mean: 0.0, std: 0.1)) : nil
        switch vit.classifier {
        case .classToken:
            let cls = emit("clsout", .selectRow, [nf], ["index": .int(0)], rows: .fixed(1), columns: d)
            return untiedHead(cls, outputs: vit.classes, bias: bias, rows: .fixed(1))
        case .allRows:
            return untiedHead(nf, outputs: vit.classes, bias: bias, rows: nil)
        }
    }

    mutating func untiedHead(_ x: Operand, outputs: Int, bias: Operand?, rows: Dim?) -> Operand {
        let shape = spec.headTransposed ? [outputs, d] : [d, outputs]
        return linear("logits", x, weight: param("head.w", shape, .default), transposed: spec.headTransposed,
                      bias: bias, rows: rows, columns: outputs)
    }
}

/// `x` to 4 significant digits, so that initializers print as `0.3536`, not `0.35355339059327373`.
/// (The values here are below 10^4, so the scale is a whole power of ten and the division exact.)
private func roundedForText(_ x: Double) -> Double {
    guard x != 0, x.isFinite else { return x }
    let scale = pow(10, 3 - floor(log10(abs(x))))
    return (x * scale).rounded() / scale
}
