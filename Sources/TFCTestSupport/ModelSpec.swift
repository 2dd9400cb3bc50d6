// The description of a generated Pre-LN Transformer (`ModelSpec`: layout, sizes, options) and
// seeded random specs; ModelGenerator.swift builds the module one describes.
import Foundation
import TIR
import TIRFormats

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
    /// `.rotary`: the same with `rope` on q and k (GPT-NeoX, Llama), over the largest even number
    /// of each head's columns (plain `.separate` when heads are one column wide).
    public enum AttentionInput: String, Sendable, Hashable, CaseIterable { case fused, separate, rotary }

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
