// The TIR data model: a model is a flat SSA list of tensor ops over inputs and parameters.

/// Element types. Activations are f32; parameters are f32 or bf16 (bfloat16: the top half of
/// an f32, read by every op as that f32); token ids are i32.
public enum DType: String, Sendable, Hashable, CaseIterable {
    case f32, bf16, i32

    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .bf16: return 2
        }
    }

    /// Whether values of this type are real numbers (f32 and bf16) rather than integers.
    public var isFloat: Bool { self != .i32 }
}

/// One axis of a tensor type: a static size, or the model's runtime sequence length
/// (the symbol declared by `seq T <= 64`; a model has at most one).
public enum Dim: Sendable, Hashable, CustomStringConvertible {
    case fixed(Int)
    case seq

    public var fixedValue: Int? {
        if case .fixed(let n) = self { return n }
        return nil
    }

    /// The size of this axis when the sequence length is `seqLen`.
    public func size(seqLen: Int) -> Int {
        switch self {
        case .fixed(let n): return n
        case .seq: return seqLen
        }
    }

    public var description: String {
        switch self {
        case .fixed(let n): return "\(n)"
        case .seq: return "seq"
        }
    }
}

public struct TensorType: Sendable, Hashable {
    public var dtype: DType
    public var dims: [Dim]

    public init(_ dtype: DType, _ dims: [Dim]) {
        self.dtype = dtype
        self.dims = dims
    }

    public var rank: Int { dims.count }
    public var isDynamic: Bool { dims.contains(.seq) }

    /// Concrete shape for a given sequence length.
    public func shape(seqLen: Int) -> [Int] { dims.map { $0.size(seqLen: seqLen) } }
    public func elementCount(seqLen: Int) -> Int { shape(seqLen: seqLen).reduce(1, *) }

    /// Shape when every axis is static (parameters always are).
    public var staticShape: [Int]? {
        let fixed = dims.compactMap(\.fixedValue)
        return fixed.count == dims.count ? fixed : nil
    }
}

/// A position in a `.tir` file (1-based). Locations are carried for diagnostics only:
/// two IR objects that differ only in where they were written compare equal, so that
/// `parse(print(m)) == m` holds.
public struct SourceLoc: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static let unknown = SourceLoc(line: 0, column: 0)

    public static func == (lhs: SourceLoc, rhs: SourceLoc) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
    public var description: String { "\(line):\(column)" }
}

/// What an op reads: an SSA value (`%x`: an input or an earlier result) or a parameter (`@w`).
public enum Operand: Sendable, Hashable, CustomStringConvertible {
    case value(String)
    case param(String)

    public var name: String {
        switch self {
        case .value(let n), .param(let n): return n
        }
    }

    public var description: String {
        switch self {
        case .value(let n): return "%\(n)"
        case .param(let n): return "@\(n)"
        }
    }
}

/// Attribute values: `{heads = 4, causal = true, eps = 1e-05, approximation = tanh}`.
public enum AttrValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case word(String)

    public var description: String {
        switch self {
        case .int(let v): return "\(v)"
        case .float(let v): return formatDouble(v)
        case .bool(let v): return v ? "true" : "false"
        case .word(let v): return v
        }
    }

    /// Numeric view: an integer literal is accepted where a float is expected.
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
}

/// Shortest text that reads back as the same Double, always with a '.' or an exponent
/// so that it re-parses as a float (`1.0`, `1e-05`, `0.02`).
public func formatDouble(_ v: Double) -> String {
    let s = "\(v)"
    if s.contains(".") || s.contains("e") || s.contains("n") || s.contains("i") { return s }
    return s + ".0"
}

/// The ops of TIR. Each op's operands, attributes and shape rule are in `OpInfo` (Ops.swift);
/// its semantics are in the interpreter and its code in the lowering.
public enum OpKind: String, Sendable, Hashable, CaseIterable {
    case embedding      // (ids: i32[R], table: f32[V, d]) -> f32[R, d]; rows table[ids[r]]
    case positions      // (table: f32[P, d]) -> f32[R, d]; the first R rows, R <= P
    case patchEmbed = "patch_embed"  // (image: f32[C, H, W], w: f32[C*p*p, d] (or [d, C*p*p] if transposed), b?: f32[d]) {patch} -> f32[(H/p)*(W/p), d], H/p and W/p rounded down
    case clsToken = "cls_token"      // (x: f32[N, d], cls: f32[d] or f32[1, d]) -> f32[N+1, d]; cls first
    case add            // (a, b) same shape -> same shape
    case linear         // (x: f32[R, in], w: f32[in, out] (or [out, in] if transposed), b?: f32[out]) -> f32[R, out]
    case layernorm      // (x: f32[R, d], g?: f32[d], b?: f32[d]) {eps} -> f32[R, d]
    case rmsnorm        // (x: f32[R, d], g?: f32[d], b?: f32[d]) {eps} -> f32[R, d]
    case crmsnorm       // (x: f32[R, d-1], g?, b?) {eps} -> f32[R, d-1]; divisor d
    case attention      // (qkv: f32[R, 3*i]) or (q, k, v: f32[R, i]) {heads, causal} -> f32[R, i]
    case gelu           // (x) {approximation = tanh | none} -> same shape
    case tanh           // (x: f32[R, d]) -> same shape
    case relu           // (x: f32[R, d]) -> same shape; max(x, 0)
    case rope           // (x: f32[R, heads*dh]) {heads, rotary_dims, base} -> same shape; rotary position embedding
    case mul            // (a, b) same shape -> same shape; elementwise product
    case selectRow = "select_row"    // (x: f32[R, d]) {index} -> f32[1, d]
}

/// `%result = op(operands) {attrs} : type`
public struct Instruction: Sendable, Hashable {
    public var result: String
    public var op: OpKind
    public var operands: [Operand]
    /// Attributes in canonical order (the order OpInfo lists them).
    public var attrs: [(key: String, value: AttrValue)]
    public var type: TensorType
    public var loc: SourceLoc
    /// Where each operand was written (parallel to `operands`; empty for IR built in code),
    /// so that diagnostics can point at the offending operand.
    public var operandLocs: [SourceLoc] = []
    /// Where the result type was written.
    public var typeLoc: SourceLoc = .unknown

    public init(result: String, op: OpKind, operands: [Operand],
                attrs: [(key: String, value: AttrValue)] = [], type: TensorType, loc: SourceLoc = .unknown) {
        self.result = result
        self.op = op
        self.operands = operands
        self.attrs = attrs
        self.type = type
        self.loc = loc
    }

    public func attr(_ key: String) -> AttrValue? { attrs.first { $0.key == key }?.value }
    public func int(_ key: String) -> Int? {
        if case .int(let v)? = attr(key) { return v }
        return nil
    }
    public func double(_ key: String) -> Double? { attr(key)?.doubleValue }
    public func bool(_ key: String) -> Bool? {
        if case .bool(let v)? = attr(key) { return v }
        return nil
    }
    public func word(_ key: String) -> String? {
        if case .word(let v)? = attr(key) { return v }
        return nil
    }

    public static func == (a: Instruction, b: Instruction) -> Bool {
        a.result == b.result && a.op == b.op && a.operands == b.operands && a.type == b.type
            && a.attrs.count == b.attrs.count
            && zip(a.attrs, b.attrs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into h: inout Hasher) {
        h.combine(result)
        h.combine(op)
        h.combine(operands)
    }
}

/// How a parameter gets its value.
public enum ParamInit: Sendable, Hashable {
    /// From the model's weights: the file's tensor of the same name, or random with the
    /// model's default distribution.
    case `default`
    /// From the weights file, under another tensor name.
    case tensor(String)
    /// From the weights file, under another tensor name, taking blocks of rows of its first
    /// axis: `tensor("t", rows = blocks(start = 0, size = 16, stride = 48))` (a fused q/k/v
    /// projection read as its q part).
    case tensorRows(String, RowBlocks)
    case zeros
    case ones
    /// Seeded normal samples (seed from the model's `weights random(...)`, or 0).
    case normal(mean: Double, std: Double)
    case uniform(low: Double, high: Double)
}

/// Which rows of a stored tensor's first axis a parameter reads: block j is the `size` rows
/// starting at row `start + j * stride`; the parameter's first axis is the blocks one after
/// another (its size a multiple of `size`), its other axes the stored tensor's.
public struct RowBlocks: Sendable, Hashable {
    public var start: Int
    public var size: Int
    public var stride: Int

    public init(start: Int, size: Int, stride: Int) {
        self.start = start
        self.size = size
        self.stride = stride
    }

    /// The stored rows block j reads.
    public func rows(ofBlock j: Int) -> Range<Int> {
        let first = start + j * stride
        return first..<(first + size)
    }
}

public struct Param: Sendable, Hashable {
    public var name: String
    public var type: TensorType
    public var initializer: ParamInit
    public var loc: SourceLoc

    public init(name: String, type: TensorType, initializer: ParamInit = .default, loc: SourceLoc = .unknown) {
        self.name = name
        self.type = type
        self.initializer = initializer
        self.loc = loc
    }
}

public struct Input: Sendable, Hashable {
    public var name: String
    public var type: TensorType
    public var loc: SourceLoc

    public init(name: String, type: TensorType, loc: SourceLoc = .unknown) {
        self.name = name
        self.type = type
        self.loc = loc
    }
}

/// Where parameters without an explicit initializer come from.
public enum WeightSource: Sendable, Hashable {
    /// A safetensors file, relative to the `.tir` file's folder.
    case file(String)
    /// Seeded normal(0, std) for every such parameter; each parameter's stream depends only
    /// on the seed and its name.
    case random(seed: UInt64, std: Double)
}

/// The runtime sequence length: `seq T <= 64`.
public struct SeqDecl: Sendable, Hashable {
    public var symbol: String
    public var max: Int
    public var loc: SourceLoc

    public init(symbol: String, max: Int, loc: SourceLoc = .unknown) {
        self.symbol = symbol
        self.max = max
        self.loc = loc
    }
}

public struct OutputRef: Sendable, Hashable {
    public var name: String
    public var loc: SourceLoc

    public init(name: String, loc: SourceLoc = .unknown) {
        self.name = name
        self.loc = loc
    }
}

/// A whole model: `model @name { ... }`.
public struct Module: Sendable, Hashable {
    public var name: String
    public var seq: SeqDecl?
    public var weights: WeightSource
    public var weightsLoc: SourceLoc
    /// `tokenizer "folder"`: where the model's tokenizer files are (relative to the .tir's
    /// folder), for `tfc generate --prompt`; nil when it names none.
    public var tokenizer: String?
    public var tokenizerLoc: SourceLoc = .unknown
    public var inputs: [Input]
    public var params: [Param]
    public var body: [Instruction]
    public var outputs: [OutputRef]

    public init(name: String, seq: SeqDecl? = nil, weights: WeightSource = .random(seed: 0, std: 0.02),
                weightsLoc: SourceLoc = .unknown, inputs: [Input] = [], params: [Param] = [],
                body: [Instruction] = [], outputs: [OutputRef] = []) {
        self.name = name
        self.seq = seq
        self.weights = weights
        self.weightsLoc = weightsLoc
        self.inputs = inputs
        self.params = params
        self.body = body
        self.outputs = outputs
    }

    /// The largest sequence length the model accepts (1 when it has no runtime length).
    public var maxSeqLen: Int { seq?.max ?? 1 }

    /// The ids input `input` may hold: the rows of the smallest embedding table it indexes (nil
    /// when no embedding reads it).
    public func vocabulary(of input: String) -> Int? {
        body.filter { $0.op == .embedding && $0.operands.first == .value(input) }
            .compactMap { type(of: $0.operands[1])?.staticShape?.first }.min()
    }

    public func param(named name: String) -> Param? { params.first { $0.name == name } }

    /// The type of an operand: an input, an instruction result or a parameter.
    public func type(of operand: Operand) -> TensorType? {
        switch operand {
        case .param(let n): return param(named: n)?.type
        case .value(let n):
            if let i = inputs.first(where: { $0.name == n }) { return i.type }
            return body.first { $0.result == n }?.type
        }
    }
}
