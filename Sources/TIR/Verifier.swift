// The TIR verifier: names, SSA order, attributes, dtypes and the shape rule of every op.
//
// It reports every problem it finds rather than stopping at the first. A value whose type
// could not be established (an undefined operand, an invalid declaration) is not checked
// further, so one mistake does not cascade into a page of follow-on errors. Everything it
// accepts can be interpreted and compiled: every size is positive and every element count
// (with the sequence at its maximum) fits in an Int when multiplied by the element size.

/// All problems in `m`; empty when the module is valid. `file` names the source in diagnostics.
/// The largest `seq T <= N` accepted: 2^20 positions, far past any supported model's context, and
/// small enough that a workspace laid out for it stays addressable.
public let maxSequenceLength = 1 << 20

public func verifyModule(_ m: Module, file: String) -> [Diagnostic] {
    var verifier = Verifier(module: m, file: file)
    verifier.run()
    return verifier.diagnostics
}

/// An operand resolved to its type, with what messages need to name it.
struct TypedOperand {
    var operand: Operand
    /// The declared type (a bf16 parameter says bf16).
    var type: TensorType
    var loc: SourceLoc

    /// The type an op reads: a bf16 parameter is read as the f32 values it stands for.
    var readType: TensorType {
        type.dtype == .bf16 ? TensorType(.f32, type.dims) : type
    }
}

/// The checker's state; the per-op shape rules are in VerifierShapeRules.swift.
struct Verifier {
    let m: Module
    let file: String
    var diagnostics: [Diagnostic] = []

    /// Values defined so far (inputs, then results in order); nil when the declared type is
    /// invalid, so that uses are not checked against it.
    private var values: [String: (type: TensorType?, loc: SourceLoc)] = [:]
    private var params: [String: (type: TensorType?, loc: SourceLoc)] = [:]
    /// Where each result is first defined, to tell "used too early" from "never defined".
    private var definitions: [String: SourceLoc] = [:]

    init(module: Module, file: String) {
        self.m = module
        self.file = file
    }

    mutating func run() {
        checkHeader()
        checkParams()
        for result in m.body where definitions[result.result] == nil {
            definitions[result.result] = result.loc
        }
        checkInputs()
        for instr in m.body { check(instr) }
        checkOutputs()
    }

    // MARK: Reporting

    mutating func error(_ loc: SourceLoc, _ message: String, notes: [Diagnostic] = []) {
        diagnostics.append(Diagnostic(file: file, loc: loc, message, notes: notes))
    }

    func note(_ loc: SourceLoc, _ message: String) -> Diagnostic {
        Diagnostic(.note, file: file, loc: loc, message)
    }

    func format(_ t: TensorType) -> String { formatType(t, seqSymbol: m.seq?.symbol) }

    /// `%x : f32[T, 64]`
    func describe(_ o: TypedOperand) -> String { "\(o.operand) : \(format(o.type))" }

    // MARK: Declarations

    private mutating func checkHeader() {
        if !isTIRName(m.name) {
            error(.unknown, "invalid model name '@\(m.name)'")
        }
        if let seq = m.seq {
            if !isTIRWord(seq.symbol) {
                error(seq.loc, "invalid sequence symbol '\(seq.symbol)'")
            }
            if seq.max < 1 {
                error(seq.loc, "the maximum sequence length must be at least 1, got \(seq.max)")
            } else if seq.max > maxSequenceLength {
                error(seq.loc, "the maximum sequence length \(seq.max) is above \(maxSequenceLength), the most tfc supports (compiled code's workspace is laid out for the maximum)")
            }
        }
        switch m.weights {
        case .file(let path):
            if path.isEmpty { error(m.weightsLoc, "the weights file name is empty") }
        case .random(_, let std):
            if !(std.isFinite && std >= 0) {
                error(m.weightsLoc, "the weights' std must be a non-negative number, got \(formatDouble(std))")
            }
        }
    }

    /// Checks a declared type; false when it is unusable.
    private mutating func checkType(_ t: TensorType, of what: String, at loc: SourceLoc) -> Bool {
        var ok = true
        if t.rank == 0 {
            error(loc, "the type of \(what) has no dimensions")
            ok = false
        }
        for case .fixed(let n) in t.dims where n <= 0 {
            error(loc, "dimension \(n) in the type \(format(t)) of \(what) must be positive")
            ok = false
        }
        if t.isDynamic && m.seq == nil {
            error(loc, "\(what) uses the sequence length, but the model declares no 'seq'")
            ok = false
        }
        if ok {
            var count = t.dtype.byteSize
            for dim in t.dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: dim.size(seqLen: m.maxSeqLen))
                if overflow {
                    error(loc, "the type \(format(t)) of \(what) has too many elements")
                    return false
                }
                count = product
            }
        }
        return ok
    }

    private mutating func checkParams() {
        for p in m.params {
            if !isTIRName(p.name) { error(p.loc, "invalid parameter name '@\(p.name)'") }
            var ok = checkType(p.type, of: "parameter @\(p.name)", at: p.loc)
            if p.type.isDynamic && m.seq != nil {
                error(p.loc, "parameter @\(p.name) must have a static shape, got \(format(p.type))")
                ok = false
            }
            if !p.type.dtype.isFloat {
                error(p.loc, "parameter @\(p.name) must be f32 or bf16, got \(format(p.type))")
                ok = false
            }
            checkInit(p)
            if let previous = params[p.name] {
                error(p.loc, "redefinition of @\(p.name)", notes: [note(previous.loc, "previous definition is here")])
            } else {
                params[p.name] = (ok ? p.type : nil, p.loc)
            }
        }
    }

    private mutating func checkInit(_ p: Param) {
        switch p.initializer {
        case .default, .zeros, .ones:
            break
        case .normal(let mean, let std):
            if !mean.isFinite || !(std.isFinite && std >= 0) {
                error(p.loc, "normal(\(formatDouble(mean)), \(formatDouble(std))) of @\(p.name) needs a finite mean and a non-negative std")
            }
        case .uniform(let low, let high):
            if !(low.isFinite && high.isFinite && low <= high) {
                error(p.loc, "uniform(\(formatDouble(low)), \(formatDouble(high))) of @\(p.name) needs finite bounds with low <= high")
            }
        case .tensor(let name):
            checkTensorName(name, of: p)
        case .tensorRows(let name, let rows):
            checkTensorName(name, of: p)
            let spec = "rows = blocks(start = \(rows.start), size = \(rows.size), stride = \(rows.stride))"
            if rows.start < 0 || rows.size <= 0 || rows.stride <= 0 {
                error(p.loc, "\(spec) of @\(p.name) needs start >= 0, size > 0 and stride > 0")
            } else if let first = p.type.dims.first?.fixedValue {
                if first % rows.size != 0 {
                    error(p.loc, "\(spec) of @\(p.name): the first axis (\(first)) must be a whole number of blocks of \(rows.size) rows")
                } else if first > 0 {
                    // The last block's end must be representable; the loader checks it against the file.
                    let (span, o1) = (first / rows.size - 1).multipliedReportingOverflow(by: rows.stride)
                    let o2 = rows.start > Int.max - rows.size
                    if o1 || o2 || span > Int.max - (rows.start + rows.size) {
                        error(p.loc, "\(spec) of @\(p.name) reaches past the largest row index")
                    }
                }
            } else if p.type.dims.isEmpty {
                error(p.loc, "\(spec) of @\(p.name) needs a parameter with a first axis, not a scalar")
            }
        }
    }

    private mutating func checkTensorName(_ name: String, of p: Param) {
        if name.isEmpty {
            error(p.loc, "the tensor name of @\(p.name) is empty")
        } else if case .random = m.weights {
            error(p.loc, "@\(p.name) reads tensor '\(name)', but the model has no weights file")
        }
    }

    private mutating func checkInputs() {
        for input in m.inputs {
            if !isTIRName(input.name) { error(input.loc, "invalid value name '%\(input.name)'") }
            var ok = checkType(input.type, of: "input %\(input.name)", at: input.loc)
            // bf16 is a storage type for weights; callers pass activations and ids as f32 and i32.
            if input.type.dtype == .bf16 {
                error(input.loc, "input %\(input.name) must be f32 or i32, got \(format(input.type)); bf16 is for parameters only")
                ok = false
            }
            define(input.name, type: ok ? input.type : nil, at: input.loc)
        }
    }

    private mutating func define(_ name: String, type: TensorType?, at loc: SourceLoc) {
        if let previous = values[name] {
            error(loc, "redefinition of %\(name)", notes: [note(previous.loc, "previous definition is here")])
        } else {
            values[name] = (type, loc)
        }
    }

    private mutating func checkOutputs() {
        if m.outputs.isEmpty {
            diagnostics.append(Diagnostic(file: file, loc: nil, "model @\(m.name) has no 'output'"))
        }
        var seen: [String: SourceLoc] = [:]
        for output in m.outputs {
            if let first = seen[output.name] {
                error(output.loc, "%\(output.name) is listed as an output twice",
                      notes: [note(first, "first listed here")])
                continue
            }
            seen[output.name] = output.loc
            if let input = m.inputs.first(where: { $0.name == output.name }), definitions[output.name] == nil {
                // The compiled entry point writes each output into a buffer of the caller's;
                // an input is the caller's own buffer, never computed, so it cannot be one.
                // (An input an instruction redefines was reported as a redefinition.)
                error(output.loc, "output %\(output.name) is a model input: outputs must be values the model computes",
                      notes: [note(input.loc, "input declared here")])
            } else if values[output.name] == nil {
                error(output.loc, "unknown value %\(output.name) in 'output'")
            }
        }
    }

    // MARK: Instructions

    private mutating func check(_ instr: Instruction) {
        // The result is defined however its checks go, so that later uses are checked
        // against its declared type instead of each reporting it as unknown.
        defer {
            let ok = checkType(instr.type, of: "%\(instr.result)", at: typeLoc(instr))
            define(instr.result, type: ok ? instr.type : nil, at: instr.loc)
        }
        if !isTIRName(instr.result) { error(instr.loc, "invalid value name '%\(instr.result)'") }
        let attrsOK = checkAttrs(instr)
        guard checkOperandCount(instr) else { return }
        var operands: [TypedOperand] = []
        for (i, operand) in instr.operands.enumerated() {
            if let type = resolve(operand, at: operandLoc(instr, i)) {
                operands.append(TypedOperand(operand: operand, type: type, loc: operandLoc(instr, i)))
            }
        }
        if attrsOK, instr.computesInBF16, instr.operands.count > 1 { checkBF16Weight(instr) }
        // Shape rules need every operand and attribute; a missing one was reported already.
        guard attrsOK, operands.count == instr.operands.count,
              let computed = infer(instr, operands) else { return }
        if instr.type.dtype == .bf16 {
            error(typeLoc(instr), "result type \(format(instr.type)) must be f32: every op computes in f32; bf16 is for parameters only")
        } else if computed != instr.type {
            error(typeLoc(instr), "result type \(format(instr.type)) does not match computed \(format(computed))")
        }
    }

    /// `compute = bf16` rounds the input to bfloat16 to multiply it by bfloat16 weights: the
    /// weight must be a parameter stored as bf16 (the `to-bf16` pass makes it one).
    private mutating func checkBF16Weight(_ instr: Instruction) {
        let weight = instr.operands[1]
        let what: String
        switch weight {
        case .param(let name):
            guard let type = params[name]?.type, type.dtype != .bf16 else { return }
            what = "@\(name) is \(format(type))"
        case .value(let name):
            what = "%\(name) is a value, not a parameter"
        }
        error(operandLoc(instr, 1), "'\(instr.op.rawValue)' with compute = bf16 requires its weight to be a parameter of dtype bf16, but \(what) (declare it bf16, or run the to-bf16 pass)")
    }

    private func operandLoc(_ instr: Instruction, _ i: Int) -> SourceLoc {
        instr.operandLocs.count == instr.operands.count ? instr.operandLocs[i] : instr.loc
    }

    private func typeLoc(_ instr: Instruction) -> SourceLoc {
        instr.typeLoc.line > 0 ? instr.typeLoc : instr.loc
    }

    /// The operand's type, or nil (reported unless its declaration was already reported).
    private mutating func resolve(_ operand: Operand, at loc: SourceLoc) -> TensorType? {
        switch operand {
        case .value(let name):
            if let v = values[name] { return v.type }
            if let def = definitions[name] {
                error(loc, "use of %\(name) before its definition", notes: [note(def, "defined here")])
            } else {
                error(loc, "unknown value %\(name)")
            }
        case .param(let name):
            if let p = params[name] { return p.type }
            error(loc, "unknown parameter @\(name)")
        }
        return nil
    }

    private mutating func checkOperandCount(_ instr: Instruction) -> Bool {
        let info = OpInfo.of(instr.op)
        let n = instr.operands.count
        let name = instr.op.rawValue
        if instr.op == .attention {
            guard n == 1 || n == 3 else {
                error(instr.loc, "'attention' takes 1 operand (fused qkv) or 3 (q, k, v), got \(n)")
                return false
            }
            return true
        }
        guard n >= info.requiredOperands && n <= info.maxOperands else {
            let names = info.operandNames.enumerated()
                .map { $0.offset < info.requiredOperands ? $0.element : $0.element + "?" }
                .joined(separator: ", ")
            let count = info.requiredOperands == info.maxOperands
                ? "\(info.maxOperands)" : "\(info.requiredOperands) to \(info.maxOperands)"
            error(instr.loc, "'\(name)' takes \(count) operand\(info.maxOperands == 1 ? "" : "s") (\(names)), got \(n)")
            return false
        }
        return true
    }

    /// Attribute keys, kinds and words, and the required ones. False when a shape rule could
    /// not read what it needs.
    private mutating func checkAttrs(_ instr: Instruction) -> Bool {
        let specs = OpInfo.of(instr.op).attrs
        let name = instr.op.rawValue
        var ok = true
        var seen: Set<String> = []
        for attr in instr.attrs {
            guard seen.insert(attr.key).inserted else {
                error(instr.loc, "duplicate attribute '\(attr.key)' on %\(instr.result)")
                ok = false
                continue
            }
            guard let spec = specs.first(where: { $0.key == attr.key }) else {
                let known = specs.map(\.key).joined(separator: ", ")
                error(instr.loc, "unknown attribute '\(attr.key)' for '\(name)'"
                      + (known.isEmpty ? ", which takes no attributes" : "; expected \(known)"))
                ok = false
                continue
            }
            if coerce(attr.value, to: spec.kind) == nil {
                let shown = if case .word(let w) = attr.value { "'\(w)'" } else { attr.value.description }
                error(instr.loc, "attribute '\(attr.key)' of '\(name)' must be \(attrKindDescription(spec.kind)), got \(shown)")
                ok = false
            }
        }
        for spec in specs where spec.defaultValue == nil && !seen.contains(spec.key) {
            error(instr.loc, "'\(name)' requires attribute '\(spec.key)'")
            ok = false
        }
        return ok
    }

    /// An attribute's value with its default applied (kinds were checked by `checkAttrs`).
    func attr(_ instr: Instruction, _ key: String) -> AttrValue? {
        instr.attr(key) ?? OpInfo.of(instr.op).attrs.first { $0.key == key }?.defaultValue
    }
}
