// Building blocks of the importers: a module builder whose parameters read checked checkpoint
// tensors in place, and the mapping of transformers' activation names to TIR's gelu.
import TIR
import TIRFormats

/// Accumulates a module's parameters and instructions in order. Every parameter reads a tensor
/// of the checkpoint, checked here (present, a float dtype, the exact shape transformers gives
/// it) so that all problems surface before a module is returned.
struct ModuleBuilder {
    let checkpoint: SafetensorsCheckpoint
    /// The row count of the activations (the sequence symbol, or N + 1 for a ViT).
    let rows: Dim
    private(set) var params: [Param] = []
    private(set) var body: [Instruction] = []

    init(checkpoint: SafetensorsCheckpoint, rows: Dim) {
        self.checkpoint = checkpoint
        self.rows = rows
    }

    func has(_ tensor: String) -> Bool { checkpoint.entry(named: tensor) != nil }

    // MARK: Parameters

    /// Declares `@name : f32[shape] = tensor("<tensor>")`. The checkpoint stores the tensor as
    /// `stored` (default: `shape`), which may be a row-major reshape of `shape` (a [1, 1, d]
    /// class token read as [1, d]). `why` names the config keys that fix the stored shape
    /// (`[n_embd, 3*n_embd]`), for the error message.
    ///
    /// With `rows`, the parameter is those row blocks of the stored tensor (whose shape is then
    /// `stored`, which must be given).
    mutating func param(_ name: String, _ shape: [Int], tensor: String, stored: [Int]? = nil, rows: RowBlocks? = nil,
                        why: String) throws(Diagnostic) -> Operand {
        let expected = stored ?? shape
        guard let entry = checkpoint.entry(named: tensor) else {
            throw Diagnostic(file: checkpoint.path, loc: nil, "missing tensor '\(tensor)' (expected shape \(expected))")
        }
        // What the weight loader widens to float32 (it has no float8 conversion).
        guard [.f32, .f16, .bf16, .f64].contains(entry.dtype) else {
            throw Diagnostic(file: checkpoint.path, loc: nil,
                             "tensor '\(tensor)' has dtype \(entry.dtype.rawValue); expected F32, F16, BF16 or F64")
        }
        guard entry.shape == expected else {
            throw Diagnostic(file: checkpoint.path, loc: nil,
                             "tensor '\(tensor)' has shape \(entry.shape), expected \(expected) = \(why) from config.json")
        }
        params.append(Param(name: name, type: TensorType(.f32, shape.map { .fixed($0) }),
                            initializer: rows.map { .tensorRows(tensor, $0) } ?? .tensor(tensor)))
        return .param(name)
    }

    /// A LayerNorm's `<tensor>.weight` and `<tensor>.bias` as `@<name>.g` and `@<name>.b`.
    mutating func normParams(_ name: String, tensor: String, width: Int,
                             why: String) throws(Diagnostic) -> (gain: Operand, bias: Operand) {
        (try param(name + ".g", [width], tensor: tensor + ".weight", why: why),
         try param(name + ".b", [width], tensor: tensor + ".bias", why: why))
    }

    // MARK: Instructions (rows: `self.rows` unless given)

    /// Appends `%result = op(operands) {attrs} : f32[rows, cols]`; attributes in OpInfo order,
    /// defaults filled in as the parser fills them (so that parse(print(m)) == m).
    mutating func emit(_ result: String, _ op: OpKind, _ operands: [Operand],
                       _ given: [(key: String, value: AttrValue)] = [], rows: Dim? = nil, cols: Int) -> Operand {
        let attrs = OpInfo.of(op).attrs.compactMap { spec in
            (given.first { $0.key == spec.key }?.value ?? spec.defaultValue).map { (key: spec.key, value: $0) }
        }
        body.append(Instruction(result: result, op: op, operands: operands, attrs: attrs,
                                type: TensorType(.f32, [rows ?? self.rows, .fixed(cols)])))
        return .value(result)
    }

    mutating func add(_ result: String, _ a: Operand, _ b: Operand, width: Int) -> Operand {
        emit(result, .add, [a, b], cols: width)
    }

    mutating func layerNorm(_ result: String, _ x: Operand, _ norm: (gain: Operand, bias: Operand), eps: Double,
                            width: Int) -> Operand {
        emit(result, .layernorm, [x, norm.gain, norm.bias], [(key: "eps", value: .float(eps))], cols: width)
    }

    /// `linear`; `transposed` for weights stored [out, in] (PyTorch nn.Linear).
    mutating func linear(_ result: String, _ x: Operand, _ weight: Operand, _ bias: Operand?, transposed: Bool,
                         out: Int, rows: Dim? = nil) -> Operand {
        emit(result, .linear, [x, weight] + (bias.map { [$0] } ?? []), [(key: "transposed", value: .bool(transposed))],
             rows: rows, cols: out)
    }

    mutating func attention(_ result: String, _ operands: [Operand], heads: Int, causal: Bool, width: Int) -> Operand {
        emit(result, .attention, operands, [(key: "heads", value: .int(heads)), (key: "causal", value: .bool(causal))],
             cols: width)
    }

    /// The MLP of a block over nn.Linear weights (stored [out, in]): `<h>.fc1`, the activation
    /// `<h>.act` (GELU with this approximation, ReLU when nil), `<h>.fc2`.
    mutating func mlp(_ h: String, _ x: Operand, fc1: (w: Operand, b: Operand?), fc2: (w: Operand, b: Operand?),
                      gelu approximation: String?, inner: Int, width: Int) -> Operand {
        let hidden = linear("\(h).fc1", x, fc1.w, fc1.b, transposed: true, out: inner)
        let act = approximation.map { gelu("\(h).act", hidden, approximation: $0, width: inner) }
            ?? emit("\(h).act", .relu, [hidden], cols: inner)
        return linear("\(h).fc2", act, fc2.w, fc2.b, transposed: true, out: width)
    }

    mutating func gelu(_ result: String, _ x: Operand, approximation: String, width: Int) -> Operand {
        emit(result, .gelu, [x], [(key: "approximation", value: .word(approximation))], cols: width)
    }

    // MARK: Decoder-only language models

    /// The end of a token model: the final norm, then with `logits` the head, read transposed
    /// from the token table unless the checkpoint has its own head `headTensor` (which
    /// transformers then keeps, whatever tie_word_embeddings says) or `tied` is false; then the
    /// model's header: token ids in, `%logits` (or `%hidden`, the final norm's output) out.
    mutating func tokenModelEnd(_ x: Operand, finalNorm: (gain: Operand, bias: Operand), eps: Double, width d: Int,
                                logits: Bool, tokenTable: Operand, vocab: Int, tied: Bool,
                                headTensor: String = "lm_head.weight", headWhy: String,
                                maxPositions: Int) throws(Diagnostic) -> ImportedModel {
        var output = "hidden"
        if logits {
            let final = layerNorm("nf", x, finalNorm, eps: eps, width: d)
            var head = tokenTable
            if has(headTensor) || !tied {
                head = try param("lm_head", [vocab, d], tensor: headTensor, why: headWhy)
            }
            output = "logits"
            _ = linear(output, final, head, nil, transposed: true, out: vocab)
        } else {
            _ = layerNorm(output, x, finalNorm, eps: eps, width: d)
        }
        return ImportedModel(seq: SeqDecl(symbol: "T", max: maxPositions),
                             input: Input(name: "tokens", type: TensorType(.i32, [.seq])),
                             params: params, body: body, outputs: [output])
    }
}

/// How transformers' ACT2FN names map to TIR's gelu; nil for activations TIR cannot express.
/// gelu_new, gelu_pytorch_tanh, gelu_python_tanh, gelu_accurate and gelu_fast all compute
/// ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (gelu_fast with √(2/π) rounded to 0.7978845608, a
/// relative change below 1e-10); gelu and gelu_python are the exact erf form.
func geluApproximation(_ activation: String) -> String? {
    switch activation {
    case "gelu", "gelu_python": return "none"
    case "gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh", "gelu_accurate", "gelu_fast": return "tanh"
    default: return nil
    }
}

extension Config {
    /// An MLP activation named by `key`: nil for ReLU, else the GELU approximation (what
    /// ModuleBuilder.mlp takes); any other name is refused at the key.
    func reluOrGELU(_ key: String, default defaultValue: String) throws(Diagnostic) -> String? {
        let activation = try string(key, default: defaultValue)
        if activation == "relu" { return nil }
        guard let approximation = geluApproximation(activation) else {
            throw error("unsupported \(key) '\(activation)' (supported: relu, \(supportedActivations))", at: key)
        }
        return approximation
    }
}

/// The supported activation names, for error messages.
let supportedActivations =
    "gelu, gelu_python (erf); gelu_new, gelu_pytorch_tanh, gelu_python_tanh, gelu_accurate, gelu_fast (tanh)"
