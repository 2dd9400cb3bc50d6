// Whole models against the float64 numpy reference: the GPTs of prenorm_ref.py (LN, RMS and
// CRMS norms) and a small ViT, with the outputs make_reference.py wrote to ReferenceFixtures.swift.

import Testing
import TIR
import TIRInterpreter

/// A Pre-LN GPT laid out as prenorm_ref.forward computes it; the configurations match GPT in
/// make_reference.py.
struct GPTConfig: Sendable {
    var norm: OpKind
    var affine: Bool
    var tiedHead: Bool
    var width = 8, inner = 8, mlp = 32, vocab = 11, heads = 2, layers = 2, maxSeq = 8
    var eps = 1e-5

    static let ln = GPTConfig(norm: .layernorm, affine: true, tiedHead: true)
    static let rms = GPTConfig(norm: .rmsnorm, affine: true, tiedHead: false)
    static let crms = GPTConfig(norm: .crmsnorm, affine: false, tiedHead: false, width: 7)
}

func gptModule(_ c: GPTConfig) -> Module {
    var b = ModelBuilder("gpt", maxSeq: c.maxSeq)
    let rowsOf = { (n: Int) -> [Dim] in [T, .fixed(n)] }
    func norm(_ result: String, _ x: Operand, _ prefix: String) -> Operand {
        var operands = [x]
        if c.affine { operands += [b.param(prefix + ".g", [c.width]), b.param(prefix + ".b", [c.width])] }
        return b.op(result, c.norm, operands, [("eps", .float(c.eps))], rowsOf(c.width))
    }
    func linear(_ result: String, _ x: Operand, _ prefix: String, _ n: Int, _ m: Int) -> Operand {
        let w = b.param(prefix + ".w", [n, m])
        let bias = b.param(prefix + ".b", [m])
        return b.op(result, .linear, [x, w, bias], [], rowsOf(m))
    }

    let tokens = b.input("tokens", .i32, [T])
    let wte = b.param("wte", [c.vocab, c.width])
    let wpe = b.param("wpe", [c.maxSeq, c.width])
    let tok = b.op("tok", .embedding, [tokens, wte], [], rowsOf(c.width))
    let pos = b.op("pos", .positions, [wpe], [], rowsOf(c.width))
    var x = b.op("x0", .add, [tok, pos], [], rowsOf(c.width))
    for l in 0..<c.layers {
        let h = "h\(l)"
        let n1 = norm("\(h).n1", x, "\(h).ln1")
        let qkv = linear("\(h).qkv", n1, "\(h).attn", c.width, 3 * c.inner)
        let att = b.op("\(h).att", .attention, [qkv], [("heads", .int(c.heads)), ("causal", .bool(true))],
                       rowsOf(c.inner))
        let proj = linear("\(h).proj", att, "\(h).proj", c.inner, c.width)
        let x1 = b.op("\(h).x1", .add, [x, proj], [], rowsOf(c.width))
        let n2 = norm("\(h).n2", x1, "\(h).ln2")
        let fc = linear("\(h).fc", n2, "\(h).fc", c.width, c.mlp)
        let act = b.op("\(h).act", .gelu, [fc], [("approximation", .word("tanh"))], rowsOf(c.mlp))
        let out = linear("\(h).out", act, "\(h).out", c.mlp, c.width)
        x = b.op("\(h).x2", .add, [x1, out], [], rowsOf(c.width))
    }
    let nf = norm("nf", x, "lnf")
    if c.tiedHead {
        b.op("logits", .linear, [nf, wte], [("transposed", .bool(true))], rowsOf(c.vocab))
    } else {
        _ = linear("logits", nf, "head", c.width, c.vocab)
    }
    b.output("logits")
    return b.module
}

/// The ViT of make_reference.py (VIT there): a 3x8x12 image in 4x4 patches (a 2x3 grid, so
/// rows and columns cannot be confused), class token, 2 blocks, width 12, 3 heads, erf GELU.
func vitModule() -> Module {
    let (channels, height, width, p, d, heads, mlp, classes, eps) = (3, 8, 12, 4, 12, 3, 24, 5, 1e-12)
    let rows = (height / p) * (width / p) + 1
    var b = ModelBuilder("vit")
    func norm(_ result: String, _ x: Operand, _ prefix: String) -> Operand {
        let (g, bias) = (b.param(prefix + ".g", [d]), b.param(prefix + ".b", [d]))
        return b.op(result, .layernorm, [x, g, bias], [("eps", .float(eps))], [.fixed(rows), .fixed(d)])
    }
    func linear(_ result: String, _ x: Operand, _ prefix: String, _ n: Int, _ m: Int, rows r: Int = rows) -> Operand {
        let (w, bias) = (b.param(prefix + ".w", [n, m]), b.param(prefix + ".b", [m]))
        return b.op(result, .linear, [x, w, bias], [], [.fixed(r), .fixed(m)])
    }

    let image = b.input("image", .f32, [.fixed(channels), .fixed(height), .fixed(width)])
    let (pw, pb) = (b.param("patch.w", [channels * p * p, d]), b.param("patch.b", [d]))
    let patches = b.op("patches", .patchEmbed, [image, pw, pb], [("patch", .int(p))], [.fixed(rows - 1), .fixed(d)])
    let cls = b.param("cls", [1, d])
    let withCls = b.op("seq", .clsToken, [patches, cls], [], [.fixed(rows), .fixed(d)])
    let pos = b.param("pos", [rows, d])
    var x = b.op("x0", .add, [withCls, pos], [], [.fixed(rows), .fixed(d)])
    for l in 0..<2 {
        let L = "l\(l)"
        let n1 = norm("\(L).n1", x, "\(L).ln1")
        let q = linear("\(L).q", n1, "\(L).q", d, d)
        let k = linear("\(L).k", n1, "\(L).k", d, d)
        let v = linear("\(L).v", n1, "\(L).v", d, d)
        let att = b.op("\(L).att", .attention, [q, k, v], [("heads", .int(heads)), ("causal", .bool(false))],
                       [.fixed(rows), .fixed(d)])
        let o = linear("\(L).o", att, "\(L).o", d, d)
        let x1 = b.op("\(L).x1", .add, [x, o], [], [.fixed(rows), .fixed(d)])
        let n2 = norm("\(L).n2", x1, "\(L).ln2")
        let fc1 = linear("\(L).fc1", n2, "\(L).fc1", d, mlp)
        let act = b.op("\(L).act", .gelu, [fc1], [("approximation", .word("none"))], [.fixed(rows), .fixed(mlp)])
        let fc2 = linear("\(L).fc2", act, "\(L).fc2", mlp, d)
        x = b.op("\(L).x2", .add, [x1, fc2], [], [.fixed(rows), .fixed(d)])
    }
    let nf = norm("nf", x, "lnf")
    let first = b.op("clsout", .selectRow, [nf], [("index", .int(0))], [.fixed(1), .fixed(d)])
    _ = linear("logits", first, "head", d, classes, rows: 1)
    b.output("logits")
    return b.module
}

/// Everything here must agree with numpy to well under this; measured: below 2e-15.
let referenceTolerance = 1e-9

/// One GPT run: a configuration, the tokens and numpy's logits for them.
struct GPTCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: GPTConfig
    var tokens: [Int32]
    var expected: [Double]

    var testDescription: String { "\(name) at T = \(tokens.count)" }

    static let all: [GPTCase] = {
        let f = ReferenceFixtures.self
        let tokens = [f.tokens1, f.tokens5, f.tokens8]
        let models: [(String, GPTConfig, [[Double]])] = [
            ("LayerNorm, gain and bias, tied head", .ln, [f.gptLNTokens1, f.gptLNTokens5, f.gptLNTokens8]),
            ("RMSNorm, gain and bias, untied head", .rms, [f.gptRMSTokens1, f.gptRMSTokens5, f.gptRMSTokens8]),
            ("CRMSNorm, no affine, width 7", .crms, [f.gptCRMSTokens1, f.gptCRMSTokens5, f.gptCRMSTokens8]),
        ]
        return models.flatMap { name, config, logits in
            zip(tokens, logits).map { GPTCase(name: name, config: config, tokens: $0, expected: $1) }
        }
    }()
}

@Suite("Interpreter vs the numpy reference")
struct ReferenceTests {
    @Test("GPT logits (T = 1, 5 and the maximum 8)", arguments: GPTCase.all)
    func gpt(_ c: GPTCase) throws {
        let module = gptModule(c.config)
        let interpreter = Interpreter(module: module, weights: DyadicWeights.weights(for: module))
        let outputs = try interpreter.run(inputs: ["tokens": i32(c.tokens)], seqLen: c.tokens.count)
        let logits = try #require(outputs["logits"])
        #expect(logits.count == c.tokens.count * c.config.vocab)
        #expect(maxAbsDiff(logits, c.expected) <= referenceTolerance)
    }

    @Test("ViT logits (patches, class token, separate q/k/v, erf GELU, select_row)")
    func vit() throws {
        let module = vitModule()
        let interpreter = Interpreter(module: module, weights: DyadicWeights.weights(for: module))
        let image = DyadicWeights.tensor("image", [3, 8, 12])
        let logits = try #require(try interpreter.run(inputs: ["image": image], seqLen: 1)["logits"])
        #expect(maxAbsDiff(logits, ReferenceFixtures.vit) <= referenceTolerance)
    }
}
