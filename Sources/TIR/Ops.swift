// The op table: for each op, its operand count and its attributes. The parser, printer and
// verifier read it; adding an op starts here (see Docs/architecture.md).

public enum AttrKind: Sendable, Hashable {
    case int, float, bool
    /// One of a fixed set of words.
    case word([String])
}

public struct AttrSpec: Sendable, Hashable {
    public var key: String
    public var kind: AttrKind
    /// Used when the attribute is omitted; nil means it is required.
    public var defaultValue: AttrValue?
}

public struct OpInfo: Sendable {
    public var operandNames: [String]
    /// How many leading operands are required; the rest are optional and trailing.
    public var requiredOperands: Int
    public var attrs: [AttrSpec]

    /// Attribute specs in canonical (printing) order.
    public static func of(_ op: OpKind) -> OpInfo {
        switch op {
        case .embedding: return OpInfo(operandNames: ["ids", "table"], requiredOperands: 2, attrs: [])
        case .positions:
            // offset: the first row read (OPT's learned positions start at row 2).
            return OpInfo(operandNames: ["table"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "offset", kind: .int, defaultValue: .int(0))])
        case .patchEmbed:
            // transposed: the weight is [d, C*p*p] (a Conv2d weight [d, C, p, p], flattened).
            // compute: the arithmetic of the product (see `computeAttr`).
            return OpInfo(operandNames: ["image", "weight", "bias"], requiredOperands: 2,
                          attrs: [AttrSpec(key: "patch", kind: .int, defaultValue: nil),
                                  AttrSpec(key: "transposed", kind: .bool, defaultValue: .bool(false)),
                                  computeAttr])
        case .clsToken: return OpInfo(operandNames: ["x", "cls"], requiredOperands: 2, attrs: [])
        case .add, .mul: return OpInfo(operandNames: ["lhs", "rhs"], requiredOperands: 2, attrs: [])
        case .linear:
            // transposed: the weight is stored [out, in] (PyTorch nn.Linear, or a tied LM head
            // reading the embedding table) instead of [in, out].
            // compute: the arithmetic of the product (see `computeAttr`).
            return OpInfo(operandNames: ["x", "weight", "bias"], requiredOperands: 2,
                          attrs: [AttrSpec(key: "transposed", kind: .bool, defaultValue: .bool(false)),
                                  computeAttr])
        case .layernorm, .rmsnorm, .crmsnorm:
            return OpInfo(operandNames: ["x", "gain", "bias"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "eps", kind: .float, defaultValue: nil)])
        case .attention:
            // One fused [R, 3*inner] operand (q | k | v along columns), or three [R, inner] ones.
            return OpInfo(operandNames: ["q", "k", "v"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "heads", kind: .int, defaultValue: nil),
                                  AttrSpec(key: "causal", kind: .bool, defaultValue: .bool(false))])
        case .gelu:
            return OpInfo(operandNames: ["x"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "approximation", kind: .word(["none", "tanh"]),
                                           defaultValue: .word("none"))])
        case .tanh, .relu: return OpInfo(operandNames: ["x"], requiredOperands: 1, attrs: [])
        case .rope:
            // The first rotary_dims of every head's dh columns are turned by position-dependent
            // angles (GPT-NeoX, Llama: the two halves of those columns as pairs); base: the
            // angles' frequency base (10000).
            return OpInfo(operandNames: ["x"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "heads", kind: .int, defaultValue: nil),
                                  AttrSpec(key: "rotary_dims", kind: .int, defaultValue: nil),
                                  AttrSpec(key: "base", kind: .float, defaultValue: .float(10000))])
        case .selectRow:
            return OpInfo(operandNames: ["x"], requiredOperands: 1,
                          attrs: [AttrSpec(key: "index", kind: .int, defaultValue: .int(0))])
        }
    }

    public var maxOperands: Int { operandNames.count }

    /// `compute = f32 | bf16` on `linear` and `patch_embed`: with bf16 the matrix input is
    /// rounded to bfloat16 (nearest even, from its float32 value) before the product, whose
    /// products and sums stay float32 or wider; bias and epilogue are float32. The weight must
    /// then be a bf16 parameter (the verifier says so). Default f32: the product as written.
    public static let computeAttr = AttrSpec(key: "compute", kind: .word(["f32", "bf16"]), defaultValue: .word("f32"))
}

extension Instruction {
    /// Whether this `linear` or `patch_embed` says `compute = bf16`.
    public var computesInBF16: Bool { attr("compute") == .word("bf16") }
}
