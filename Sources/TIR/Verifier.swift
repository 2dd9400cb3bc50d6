// The TIR verifier: names, SSA order, attributes, dtypes and the shape rule of every op.
//
// It reports every problem it finds rather than stopping at the first. A value whose type
// could not be established (an undefined operand, an invalid declaration) is not checked
// further, so one mistake does not cascade into a page of follow-on errors. Everything it
// accepts can be interpreted and compiled: every size is positive and every element count
// (with the sequence at its maximum) fits in an Int when multiplied by the element size.

/// All problems in `m`; empty when the module is valid. `file` names the source in diagnostics.
public func verifyModule(_ m: Module, file: String) -> [Diagnostic] {
    var verifier = Verifier(module: m, file: file)
    verifier.run()
    return verifier.diagnostics
}

/// An operand resolved to its type, with what messages need to name it.
private struct TypedOperand {
    var operand: Operand
    var type: TensorType
    var loc: SourceLoc
}

private struct Verifier {
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

    private mutating func error(_ loc: SourceLoc, _ message: String, notes: [Diagnostic] = []) {
        diagnostics.append(Diagnostic(file: file, loc: loc, message, notes: notes))
    }

    private func note(_ loc: SourceLoc, _ message: String) -> Diagnostic {
        Diagnostic(.note, file: file, loc: loc, message)
    }

    private func format(_ t: TensorType) -> String { formatType(t, seqSymbol: m.seq?.symbol) }

    /// `%x : f32[T, 64]`
    private func describe(_ o: TypedOperand) -> String { "\(o.operand) : \(format(o.type))" }

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
            if p.type.dtype != .f32 {
                error(p.loc, "parameter @\(p.name) must be f32, got \(format(p.type))")
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
            if name.isEmpty {
                error(p.loc, "the tensor name of @\(p.name) is empty")
            } else if case .random = m.weights {
                error(p.loc, "@\(p.name) reads tensor '\(name)', but the model has no weights file")
            }
        }
    }

    private mutating func checkInputs() {
        for input in m.inputs {
            if !isTIRName(input.name) { error(input.loc, "invalid value name '%\(input.name)'") }
            let ok = checkType(input.type, of: "input %\(input.name)", at: input.loc)
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
            if values[output.name] == nil {
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
        // Shape rules need every operand and attribute; a missing one was reported already.
        guard attrsOK, operands.count == instr.operands.count,
              let computed = infer(instr, operands) else { return }
        if computed != instr.type {
            error(typeLoc(instr), "result type \(format(instr.type)) does not match computed \(format(computed))")
        }
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
    private func attr(_ instr: Instruction, _ key: String) -> AttrValue? {
        instr.attr(key) ?? OpInfo.of(instr.op).attrs.first { $0.key == key }?.defaultValue
    }

    // MARK: Shape rules

    /// The result type the op's rule gives, or nil after reporting why there is none.
    private mutating func infer(_ instr: Instruction, _ ops: [TypedOperand]) -> TensorType? {
        let op = instr.op.rawValue
        switch instr.op {
        case .embedding:
            guard expect(ops[0], op, "ids", .i32, rank: 1, pattern: "i32[R]"),
                  expect(ops[1], op, "table", rank: 2, pattern: "f32[V, d]", isStatic: true)
            else { return nil }
            return TensorType(.f32, [ops[0].type.dims[0], ops[1].type.dims[1]])

        case .positions:
            let table = ops[0]
            guard expect(table, op, "table", rank: 2, pattern: "f32[P, d]", isStatic: true),
                  let available = table.type.dims[0].fixedValue else { return nil }
            // The row count comes from the declared result: that is what the op is asked for.
            let rows = instr.type.dims.first ?? .fixed(available)
            switch rows {
            case .fixed(let n) where n > available:
                error(table.loc, "positions table \(describe(table)) has \(available) rows, fewer than the \(n) the result needs")
                return nil
            case .seq where m.maxSeqLen > available:
                let symbol = m.seq?.symbol ?? "seq"
                error(table.loc, "positions table \(describe(table)) has \(available) rows, fewer than the maximum sequence length \(symbol) <= \(m.maxSeqLen)")
                return nil
            default:
                return TensorType(.f32, [rows, table.type.dims[1]])
            }

        case .patchEmbed:
            let (image, weight) = (ops[0], ops[1])
            let transposedWeight = attr(instr, "transposed") == .bool(true)
            guard expect(image, op, "image", rank: 3, pattern: "f32[C, H, W]", isStatic: true),
                  expect(weight, op, "weight", rank: 2, pattern: transposedWeight ? "f32[d, C*p*p]" : "f32[C*p*p, d]", isStatic: true),
                  case .int(let p)? = attr(instr, "patch"),
                  let shape = image.type.staticShape, let wShape = weight.type.staticShape
            else { return nil }
            let (c, h, w) = (shape[0], shape[1], shape[2])
            guard p > 0 else {
                error(instr.loc, "patch_embed patch must be positive, got \(p)")
                return nil
            }
            // Like a convolution with stride p: pixels past the last whole patch are unused.
            guard p <= h && p <= w else {
                error(image.loc, "patch_embed patch = \(p) is larger than the image size \(h)x\(w) of \(describe(image))")
                return nil
            }
            let (pp, o1) = p.multipliedReportingOverflow(by: p)
            let (rows, o2) = c.multipliedReportingOverflow(by: pp)
            let patchAxis = transposedWeight ? 1 : 0
            guard !o1, !o2, rows == wShape[patchAxis] else {
                error(weight.loc, "patch_embed weight \(describe(weight)) must have C*p*p = \(c)*\(p)*\(p) \(transposedWeight ? "columns" : "rows")")
                return nil
            }
            let d = weight.type.dims[1 - patchAxis]
            if ops.count > 2, !expectVector(ops[2], op, "bias", width: d) { return nil }
            return TensorType(.f32, [.fixed((h / p) * (w / p)), d])

        case .clsToken:
            let (x, cls) = (ops[0], ops[1])
            guard expect(x, op, "x", rank: 2, pattern: "f32[N, d]") else { return nil }
            guard case .fixed(let n) = x.type.dims[0] else {
                error(x.loc, "cls_token needs a static row count, got \(describe(x))")
                return nil
            }
            let d = x.type.dims[1]
            let clsOK = cls.type.dtype == .f32
                && (cls.type.dims == [d] || cls.type.dims == [.fixed(1), d])
            guard clsOK else {
                let width = format(TensorType(.f32, [d]))
                error(cls.loc, "cls_token cls must be \(width) or \(format(TensorType(.f32, [.fixed(1), d]))), got \(describe(cls))")
                return nil
            }
            let (rows, overflow) = n.addingReportingOverflow(1)
            guard !overflow else { return nil }
            return TensorType(.f32, [.fixed(rows), d])

        case .add:
            let (a, b) = (ops[0], ops[1])
            guard expect(a, op, "lhs", rank: 2, pattern: "f32[R, d]"),
                  expect(b, op, "rhs", rank: 2, pattern: "f32[R, d]") else { return nil }
            guard a.type == b.type else {
                error(b.loc, "add operands must have the same type, got \(describe(a)) and \(describe(b))")
                return nil
            }
            return a.type

        case .linear:
            let (x, weight) = (ops[0], ops[1])
            guard expect(x, op, "x", rank: 2, pattern: "f32[R, in]"),
                  expect(weight, op, "weight", rank: 2, pattern: "f32[in, out]", isStatic: true),
                  case .bool(let transposed)? = attr(instr, "transposed") else { return nil }
            let (inDim, outDim) = transposed
                ? (weight.type.dims[1], weight.type.dims[0]) : (weight.type.dims[0], weight.type.dims[1])
            guard x.type.dims[1] == inDim else {
                let layout = transposed ? "[out, in] with transposed = true" : "[in, out]"
                error(weight.loc, "linear weight \(describe(weight)) takes \(inDim) input columns (it is \(layout)), but \(describe(x)) has \(x.type.dims[1])")
                return nil
            }
            if ops.count > 2, !expectVector(ops[2], op, "bias", width: outDim) { return nil }
            return TensorType(.f32, [x.type.dims[0], outDim])

        case .layernorm, .rmsnorm, .crmsnorm:
            let x = ops[0]
            guard expect(x, op, "x", rank: 2, pattern: "f32[R, d]"),
                  let eps = attr(instr, "eps")?.doubleValue else { return nil }
            let d = x.type.dims[1]
            for (i, role) in ["gain", "bias"].enumerated() where ops.count > i + 1 {
                guard expectVector(ops[i + 1], op, role, width: d) else { return nil }
            }
            guard eps > 0 && eps.isFinite else {
                error(instr.loc, "\(op) eps must be positive, got \(formatDouble(eps))")
                return nil
            }
            return x.type

        case .attention:
            guard case .int(let heads)? = attr(instr, "heads") else { return nil }
            let q = ops[0]
            let width: Int
            if ops.count == 1 {
                guard expect(q, op, "qkv", rank: 2, pattern: "f32[R, 3*i]") else { return nil }
                guard case .fixed(let fused) = q.type.dims[1], fused % 3 == 0 else {
                    error(q.loc, "attention fused qkv width must be a multiple of 3, got \(describe(q))")
                    return nil
                }
                width = fused / 3
            } else {
                guard expect(q, op, "q", rank: 2, pattern: "f32[R, i]") else { return nil }
                for (i, role) in ["k", "v"].enumerated() where ops[i + 1].type != q.type {
                    error(ops[i + 1].loc, "attention \(role) must have the type of q, \(format(q.type)), got \(describe(ops[i + 1]))")
                    return nil
                }
                guard case .fixed(let w) = q.type.dims[1] else {
                    error(q.loc, "attention needs a static width, got \(describe(q))")
                    return nil
                }
                width = w
            }
            guard heads > 0 else {
                error(instr.loc, "attention heads must be positive, got \(heads)")
                return nil
            }
            guard width % heads == 0 else {
                error(instr.loc, "attention heads = \(heads) does not divide the width \(width)")
                return nil
            }
            return TensorType(.f32, [q.type.dims[0], .fixed(width)])

        case .gelu:
            guard expect(ops[0], op, "x", rank: 2, pattern: "f32[R, d]") else { return nil }
            return ops[0].type

        case .selectRow:
            let x = ops[0]
            guard expect(x, op, "x", rank: 2, pattern: "f32[R, d]"),
                  case .int(let index)? = attr(instr, "index") else { return nil }
            // A dynamic row count may be as small as 1 at run time, so only row 0 is safe.
            let rows = x.type.dims[0].fixedValue ?? 1
            guard index >= 0 && index < rows else {
                let why = x.type.dims[0] == .seq ? " (the sequence may be 1 row long)" : ""
                error(instr.loc, "select_row index \(index) is out of range for \(describe(x))\(why)")
                return nil
            }
            return TensorType(.f32, [.fixed(1), x.type.dims[1]])
        }
    }

    /// Checks dtype and rank (and, for weight-like operands, a static shape), reporting
    /// "<op> <role> must be <pattern>, got %x : <type>".
    private mutating func expect(_ o: TypedOperand, _ op: String, _ role: String, _ dtype: DType = .f32,
                                 rank: Int, pattern: String, isStatic: Bool = false) -> Bool {
        if o.type.dtype != dtype || o.type.rank != rank {
            error(o.loc, "\(op) \(role) must be \(pattern), got \(describe(o))")
            return false
        }
        if isStatic && o.type.isDynamic {
            error(o.loc, "\(op) \(role) must have a static shape, got \(describe(o))")
            return false
        }
        return true
    }

    /// A gain or bias: exactly `f32[width]`.
    private mutating func expectVector(_ o: TypedOperand, _ op: String, _ role: String, width: Dim) -> Bool {
        let wanted = TensorType(.f32, [width])
        guard o.type == wanted else {
            error(o.loc, "\(op) \(role) must be \(format(wanted)), got \(describe(o))")
            return false
        }
        return true
    }
}
