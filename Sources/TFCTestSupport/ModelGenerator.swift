// Random valid Pre-LN Transformers (GPT and ViT layouts) as TIR modules, for testing rewrites and codegen.
import Foundation
import TIR

/// One generated model: its layout, its sizes and how its weights are drawn.
///
/// Every size combination `random` draws is valid. A hand-built spec whose numbers do not fit
/// (heads not dividing `attentionWidth`, a position table shorter than `maxSeq`, a zero width)
/// still generates, but `verifyModule` rejects the result, and says why.
public struct ModelSpec: Sendable, Hashable, CustomStringConvertible {
    /// `.sequential`: `x += Attn(LN1(x)); x += MLP(LN2(x))`.
    /// `.parallel` (GPT-J): one norm read by both branches, `x = x + Attn(LN(x)) + MLP(LN(x))`.
    public enum BlockStyle: String, Sendable, Hashable, CaseIterable { case sequential, parallel }

    /// `.fused`: one linear to `3 * attentionWidth`, `attention(%qkv)` (GPT-2's `c_attn`).
    /// `.separate`: three linears, `attention(%q, %k, %v)` (ViT, Llama).
    public enum AttentionInput: String, Sendable, Hashable, CaseIterable { case fused, separate }

    /// The `approximation` word of `gelu`: `.erf` is the exact form, written `none`.
    public enum GELUForm: String, Sendable, Hashable, CaseIterable {
        case erf = "none"
        case tanh
    }

    /// A GPT's position table: `.learned` is random; `.constant` holds one value everywhere
    /// (`uniform(c, c)`), a fixed table that is nothing but a mean, which mean removal must
    /// cancel completely.
    public enum PositionTable: String, Sendable, Hashable, CaseIterable { case learned, constant }

    /// What a ViT's classifier reads: the class token's row of the final norm (`select_row`,
    /// one output row), or every row.
    public enum Classifier: String, Sendable, Hashable, CaseIterable { case classToken, allRows }

    /// A GPT: token ids `i32[T]`, `T <= maxSeq`, causal attention, a logit per token.
    public struct GPT: Sendable, Hashable {
        public var vocab: Int
        public var maxSeq: Int
        /// Rows of the position table, at least `maxSeq` (`positions` reads the first T).
        public var positionRows: Int
        public var positions: PositionTable
        /// The LM head reads the token table transposed (GPT-2), instead of its own weight.
        public var tiedHead: Bool

        public init(vocab: Int = 16, maxSeq: Int = 8, positionRows: Int? = nil,
                    positions: PositionTable = .learned, tiedHead: Bool = true) {
            self.vocab = vocab
            self.maxSeq = maxSeq
            self.positionRows = positionRows ?? maxSeq
            self.positions = positions
            self.tiedHead = tiedHead
        }
    }

    /// A ViT: an image `f32[channels, gridHeight * patch, gridWidth * patch]`, a class token,
    /// non-causal attention.
    public struct ViT: Sendable, Hashable {
        public var channels: Int
        public var patch: Int
        /// Patches down and across; they differ for a non-square image.
        public var gridHeight: Int
        public var gridWidth: Int
        public var classes: Int
        /// The class token as `@cls : f32[1, d]` rather than `f32[d]` (both are valid).
        public var clsAsRow: Bool
        public var classifier: Classifier

        public init(channels: Int = 3, patch: Int = 2, gridHeight: Int = 2, gridWidth: Int = 3,
                    classes: Int = 5, clsAsRow: Bool = false, classifier: Classifier = .classToken) {
            self.channels = channels
            self.patch = patch
            self.gridHeight = gridHeight
            self.gridWidth = gridWidth
            self.classes = classes
            self.clsAsRow = clsAsRow
            self.classifier = classifier
        }

        /// Rows of the residual stream: the patches and the class token.
        public var rows: Int { gridHeight * gridWidth + 1 }
    }

    public enum Kind: Sendable, Hashable {
        case gpt(GPT)
        case vit(ViT)
    }

    public var kind: Kind
    /// d, the width of the residual stream.
    public var width: Int
    /// The width of q, k, v and the attention output (d in GPT-2, but free in general).
    public var attentionWidth: Int
    public var heads: Int
    public var mlpWidth: Int
    public var layers: Int
    public var blockStyle: BlockStyle
    public var attentionInput: AttentionInput
    /// A bias on every linear inside the blocks (q/k/v or qkv, out-projection, fc, MLP output)
    /// and on the ViT patch embedding.
    public var biases: Bool
    /// An untied head stored `[out, d]` and read with `transposed = true` (PyTorch layout).
    /// A tied head always reads the `[vocab, d]` token table transposed, so it ignores this.
    public var headTransposed: Bool
    public var headBias: Bool
    /// Gain and bias of every norm, separately. A bias without a gain is written with a gain
    /// of `ones`: the operands are positional, so a bias cannot be given alone.
    public var normGain: Bool
    public var normBias: Bool
    /// Gains drawn from normal(0, 2) instead of normal(1, 0.5): far from 1, some negative.
    public var wideGains: Bool
    public var eps: Double
    public var gelu: GELUForm
    /// The common offset of everything written into the residual stream (embeddings, position
    /// tables, the class token, patch and out-projection weights and biases), so that a
    /// mean-removal rewrite has real work to do; 0 leaves them zero-mean.
    public var offset: Double
    /// The seed of `weights random(seed = ...)`.
    public var weightSeed: UInt64

    public init(kind: Kind, width: Int = 8, attentionWidth: Int? = nil, heads: Int = 2, mlpWidth: Int? = nil,
                layers: Int = 2, blockStyle: BlockStyle = .sequential, attentionInput: AttentionInput = .fused,
                biases: Bool = true, headTransposed: Bool = false, headBias: Bool = false,
                normGain: Bool = true, normBias: Bool = true, wideGains: Bool = false, eps: Double = 1e-5,
                gelu: GELUForm = .tanh, offset: Double = 3.0, weightSeed: UInt64 = 0) {
        self.kind = kind
        self.width = width
        self.attentionWidth = attentionWidth ?? width
        self.heads = heads
        self.mlpWidth = mlpWidth ?? 4 * width
        self.layers = layers
        self.blockStyle = blockStyle
        self.attentionInput = attentionInput
        self.biases = biases
        self.headTransposed = headTransposed
        self.headBias = headBias
        self.normGain = normGain
        self.normBias = normBias
        self.wideGains = wideGains
        self.eps = eps
        self.gelu = gelu
        self.offset = offset
        self.weightSeed = weightSeed
    }

    public var gpt: GPT? {
        if case .gpt(let g) = kind { return g }
        return nil
    }

    public var vit: ViT? {
        if case .vit(let v) = kind { return v }
        return nil
    }

    /// The eps values `random` draws from: tiny to huge, since the rewrites must hold for any eps.
    public static let epsChoices: [Double] = [1e-6, 1e-5, 1e-3, 0.1, 1.0]

    public var description: String {
        let front: String
        switch kind {
        case .gpt(let g):
            front = "gpt(vocab \(g.vocab), seq <= \(g.maxSeq), \(g.positions) positions[\(g.positionRows)], "
                + (g.tiedHead ? "tied head" : "untied head") + ")"
        case .vit(let v):
            front = "vit(image \(v.channels)x\(v.gridHeight * v.patch)x\(v.gridWidth * v.patch), patch \(v.patch), "
                + "classes \(v.classes), cls \(v.clsAsRow ? "[1, d]" : "[d]"), classifier on \(v.classifier))"
        }
        func onOff(_ b: Bool) -> String { b ? "on" : "off" }
        return "\(front) d=\(width) attention=\(attentionWidth)/\(heads) heads mlp=\(mlpWidth) layers=\(layers) "
            + "\(blockStyle) \(attentionInput) biases=\(onOff(biases)) "
            + "head(transposed=\(onOff(headTransposed)), bias=\(onOff(headBias))) "
            + "norm(gain=\(onOff(normGain)), wide gains=\(onOff(wideGains)), bias=\(onOff(normBias))) "
            + "eps=\(formatDouble(eps)) gelu=\(gelu.rawValue) offset=\(formatDouble(offset)) weightSeed=\(weightSeed)"
    }
}

// MARK: - Random specs

extension ModelSpec {
    /// The spec drawn by a SplitMix64 generator seeded with `seed`: the same on every run and
    /// platform, so a failing seed reproduces.
    public static func random(seed: UInt64) -> ModelSpec {
        var generator = SplitMix64(seed: seed)
        return random(using: &generator)
    }

    /// A small random spec: every option value and size edge (d = 1, prime widths, one head
    /// per column, a vocabulary of one) occurs with a useful probability.
    public static func random(using generator: inout some RandomNumberGenerator) -> ModelSpec {
        var draw = Draw(generator: generator)
        defer { generator = draw.generator }

        let width = draw.pick([1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 16, 17, 24, 31])
        let attentionWidth = draw.chance(0.6) ? width : draw.pick([1, 2, 3, 4, 6, 8, 9, 12, 16])
        // Any divisor is valid; more than 8 heads adds nothing but time.
        let heads = draw.pick((1...min(attentionWidth, 8)).filter { attentionWidth % $0 == 0 })
        let mlpWidth = draw.pick([1, 2, 3, 5, 7, 13, width, 2 * width, 4 * width])

        let kind: Kind
        if draw.chance(0.5) {
            let maxSeq = draw.pick([1, 2, 3, 5, 8, 16])
            kind = .gpt(GPT(vocab: draw.pick([1, 2, 3, 7, 16, 31, 64]), maxSeq: maxSeq,
                            positionRows: maxSeq + draw.pick([0, 0, 1, 3]),
                            positions: draw.chance(0.75) ? .learned : .constant,
                            tiedHead: draw.chance(0.5)))
        } else {
            kind = .vit(ViT(channels: draw.pick([1, 2, 3]), patch: draw.pick([1, 2, 3, 4]),
                            gridHeight: draw.pick([1, 2, 3]), gridWidth: draw.pick([1, 2, 3]),
                            classes: draw.pick([1, 2, 3, 10]), clsAsRow: draw.chance(0.5),
                            classifier: draw.chance(0.75) ? .classToken : .allRows))
        }

        return ModelSpec(
            kind: kind, width: width, attentionWidth: attentionWidth, heads: heads, mlpWidth: mlpWidth,
            layers: draw.pick([1, 2, 3, 4]),
            blockStyle: draw.pick(BlockStyle.allCases), attentionInput: draw.pick(AttentionInput.allCases),
            biases: draw.chance(0.6), headTransposed: draw.chance(0.5), headBias: draw.chance(0.5),
            normGain: draw.chance(0.75), normBias: draw.chance(0.75), wideGains: draw.chance(0.5),
            eps: draw.pick(epsChoices), gelu: draw.pick(GELUForm.allCases),
            offset: draw.pick([0.0, 1.0, 3.0, 3.0]),
            weightSeed: draw.generator.next() % 1_000_000)
    }
}

/// Choices from a generator by plain modular reduction, rather than the standard library's
/// `random(in:using:)`, whose algorithm is not promised to stay the same between releases.
private struct Draw<G: RandomNumberGenerator> {
    var generator: G

    mutating func below(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }

    mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }

    mutating func chance(_ p: Double) -> Bool { Double(generator.next() >> 11) / Double(1 << 53) < p }
}

// MARK: - Building the module

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
        let qkv: [Operand] = switch spec.attentionInput {
        case .fused: [inputProjection("\(p).qkv", n, inputs: d, outputs: 3 * inner)]
        case .separate: ["q", "k", "v"].map { inputProjection("\(p).\($0)", n, inputs: d, outputs: inner) }
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
