// The `.tir` printer: a `Module` to its canonical text, which parses back to an equal module.
//
// Canonical form: two-space indentation; the header (seq, weights, tokenizer, inputs), the params and
// the body (ending with `output`) as three blocks separated by one blank line; every
// attribute of an op in OpInfo order with defaults written out; floats via `formatDouble`.
// Comments are not part of the IR and are not printed.

/// The canonical text of `m`, ending with a newline.
public func printModule(_ m: Module) -> String {
    let seqSymbol = m.seq?.symbol
    var header: [String] = []
    if let seq = m.seq {
        header.append("seq \(seq.symbol) <= \(seq.max)")
    }
    header.append("weights " + formatWeights(m.weights))
    if let tokenizer = m.tokenizer { header.append("tokenizer " + quoteTIRString(tokenizer)) }
    for input in m.inputs {
        header.append("input %\(input.name) : \(formatType(input.type, seqSymbol: seqSymbol))")
    }

    let params = m.params.map { p in
        var line = "param @\(p.name) : \(formatType(p.type, seqSymbol: seqSymbol))"
        if let initializer = formatInit(p.initializer) { line += " = " + initializer }
        return line
    }

    var body = m.body.map { formatInstruction($0, seqSymbol: seqSymbol) }
    if !m.outputs.isEmpty {
        body.append("output " + m.outputs.map { "%\($0.name)" }.joined(separator: ", "))
    }

    let blocks = [header, params, body].filter { !$0.isEmpty }
    var out = "model @\(m.name) {\n"
    out += blocks.map { block in block.map { "  \($0)\n" }.joined() }.joined(separator: "\n")
    out += "}\n"
    return out
}

/// `f32[T, 64]`. A `.seq` axis prints as `seqSymbol` (the module's `seq` symbol), or as
/// `seq` when there is none (such a module does not verify).
public func formatType(_ type: TensorType, seqSymbol: String? = nil) -> String {
    let dims = type.dims.map { dim -> String in
        switch dim {
        case .fixed(let n): return "\(n)"
        case .seq: return seqSymbol ?? "seq"
        }
    }
    return "\(type.dtype.rawValue)[\(dims.joined(separator: ", "))]"
}

/// `%r = op(%a, @w) {k = v} : f32[T, 64]` (without indentation).
public func formatInstruction(_ instr: Instruction, seqSymbol: String? = nil) -> String {
    let operands = instr.operands.map(\.description).joined(separator: ", ")
    var line = "%\(instr.result) = \(instr.op.rawValue)(\(operands))"
    let attrs = canonicalAttrText(instr)
    if !attrs.isEmpty {
        line += " {" + attrs.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + "}"
    }
    return line + " : " + formatType(instr.type, seqSymbol: seqSymbol)
}

/// The attributes to print: OpInfo's in its order, except those equal to their default (the
/// parser fills them back in, so the module is the same), integers written as floats where a
/// float is wanted (so they parse back identical), then any attribute the op does not know, as
/// given, so that invalid IR still prints faithfully.
private func canonicalAttrText(_ instr: Instruction) -> [(key: String, value: String)] {
    let specs = OpInfo.of(instr.op).attrs
    var out: [(key: String, value: String)] = []
    for spec in specs {
        guard var value = instr.attr(spec.key), value != spec.defaultValue else { continue }
        if case .float = spec.kind, case .int(let v) = value { value = .float(Double(v)) }
        out.append((spec.key, value.description))
    }
    for attr in instr.attrs where !specs.contains(where: { $0.key == attr.key }) {
        out.append((attr.key, attr.value.description))
    }
    return out
}

private func formatWeights(_ w: WeightSource) -> String {
    switch w {
    case .file(let path): return quoteTIRString(path)
    case .random(let seed, let std): return "random(seed = \(seed), std = \(formatDouble(std)))"
    }
}

/// The text after `=` in a param declaration; nil for `.default`, which is written as nothing.
private func formatInit(_ i: ParamInit) -> String? {
    switch i {
    case .default: return nil
    case .zeros: return "zeros"
    case .ones: return "ones"
    case .normal(let mean, let std): return "normal(\(formatDouble(mean)), \(formatDouble(std)))"
    case .uniform(let low, let high): return "uniform(\(formatDouble(low)), \(formatDouble(high)))"
    case .tensor(let name): return "tensor(\(quoteTIRString(name)))"
    case .tensorRows(let name, let rows):
        return "tensor(\(quoteTIRString(name)), rows = blocks(start = \(rows.start), size = \(rows.size), stride = \(rows.stride)))"
    }
}
