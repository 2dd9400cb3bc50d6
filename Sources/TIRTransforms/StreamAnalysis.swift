// The residual-stream analyses the equivalence passes rely on:
//  - mean-blindness (backward): which values no reader can observe the mean of, and the
//    streams they form with the ops that write into them;
//  - zero-mean (forward): which values are provably zero-mean along the hidden axis, from the
//    ops that produce them and the actual parameter values.
import TIR

/// Ops through which the mean of a row passes unchanged and independently per row: the mean of
/// the result is determined by the means of the operands (add sums them; cls_token and
/// select_row move whole rows).
func isRowTransparent(_ op: OpKind) -> Bool { op == .add || op == .clsToken || op == .selectRow }

public struct MeanBlindness {
    /// The norms accepted as readers of the stream.
    public let normReaders: Set<OpKind>
    /// Values read only by those norms, directly or through row-transparent ops. With
    /// `normReaders = [.layernorm]` (norms that subtract the mean first) these are the values
    /// whose mean changes no output.
    public var blind: Set<String> = []
    /// For a value that is not blind: the first reader that sees it otherwise, for remarks.
    public var reason: [String: String] = [:]

    /// Backward over the body: a value is blind when it has readers and each one is an
    /// accepted norm (as its input) or a row-transparent op whose result is blind.
    public init(_ m: Module, normReaders: Set<OpKind> = [.layernorm]) {
        self.normReaders = normReaders
        var readers: [String: [(Instruction, Int)]] = [:]
        for inst in m.body {
            for (j, o) in inst.operands.enumerated() {
                if case .value(let v) = o { readers[v, default: []].append((inst, j)) }
            }
        }
        let outputs = Set(m.outputs.map(\.name))
        for inst in m.body.reversed() {
            let v = inst.result
            if outputs.contains(v) {
                reason[v] = "%\(v) is an output of the model"
                continue
            }
            guard let uses = readers[v], !uses.isEmpty else {
                reason[v] = "%\(v) is never read"
                continue
            }
            var ok = true
            for (user, j) in uses {
                if normReaders.contains(user.op) && j == 0 { continue }
                if isRowTransparent(user.op) && blind.contains(user.result) { continue }
                ok = false
                reason[v] = isRowTransparent(user.op)
                    ? "%\(v) flows into %\(user.result), whose mean is observed"
                    : "%\(v) is read by %\(user.result) (\(user.op.rawValue)), which sees its mean"
                break
            }
            if ok { blind.insert(v) }
        }
    }
}

/// One residual stream: a connected set of mean-blind values joined by row-transparent ops.
public struct Stream {
    /// Its values, in body order.
    public var values: [String]
    /// Instructions (indices) that produce a stream value but are not row-transparent: the
    /// writers into the stream (embeddings, output projections, ...).
    public var writerOps: [Int]
    /// Parameters added into the stream directly: (instruction index, operand index).
    public var writerParams: [(inst: Int, operand: Int)]
    /// Why the stream cannot be rewritten as a whole (a writer that is not affine, a value
    /// also read where its mean matters); nil when every writer can be centered.
    public var blocker: (loc: SourceLoc, message: String)?
    /// Norms that read a stream value as their input.
    public var norms: [Int]
}

/// Groups the blind values into streams and classifies their writers.
public func findStreams(_ m: Module, _ blindness: MeanBlindness) -> [Stream] {
    let index = Dictionary(m.body.enumerated().map { ($1.result, $0) }, uniquingKeysWith: { a, _ in a })
    var seen: Set<String> = []
    var streams: [Stream] = []
    for inst in m.body where blindness.blind.contains(inst.result) && !seen.contains(inst.result) {
        // Flood fill along row-transparent ops, in both directions.
        var stream = Stream(values: [], writerOps: [], writerParams: [], blocker: nil, norms: [])
        var work = [inst.result]
        seen.insert(inst.result)
        while let v = work.popLast() {
            stream.values.append(v)
            guard let i = index[v] else { continue }
            let producer = m.body[i]
            if isRowTransparent(producer.op) {
                for (j, o) in producer.operands.enumerated() {
                    switch o {
                    case .param:
                        stream.writerParams.append((i, j))
                    case .value(let u):
                        if blindness.blind.contains(u) {
                            if seen.insert(u).inserted { work.append(u) }
                        } else if stream.blocker == nil {
                            let why = blindness.reason[u] ?? "%\(u) is not part of the stream"
                            stream.blocker = (producer.loc, "%\(u) is added into the stream at %\(producer.result), but \(why)")
                        }
                    }
                }
            } else {
                stream.writerOps.append(i)
                if !isCenterableWriter(producer), stream.blocker == nil {
                    stream.blocker = (producer.loc, "%\(producer.result) is written into the stream by \(producer.op.rawValue), which is not an affine map of parameters")
                }
            }
            for (k, user) in m.body.enumerated() where user.operands.contains(.value(v)) {
                if isRowTransparent(user.op), blindness.blind.contains(user.result), seen.insert(user.result).inserted {
                    work.append(user.result)
                }
                if blindness.normReaders.contains(user.op), user.operands.first == .value(v),
                   !stream.norms.contains(k) {
                    stream.norms.append(k)
                }
            }
        }
        stream.values.sort { (index[$0] ?? 0) < (index[$1] ?? 0) }
        stream.writerOps.sort()
        stream.norms.sort()
        streams.append(stream)
    }
    return streams
}

/// Writers whose output mean can be removed by changing parameters alone: an op with a
/// weight (see `WriterWeight`) whose weight and bias are parameters.
func isCenterableWriter(_ inst: Instruction) -> Bool {
    guard let layout = WriterWeight(inst) else { return false }
    return layout.parameterOperands.allSatisfy { $0 < inst.operands.count && isParam(inst.operands[$0]) }
}

func isParam(_ o: Operand) -> Bool {
    if case .param = o { return true }
    return false
}

/// Forward analysis: values whose every row is zero-mean along the last axis. Parameters are
/// judged by their values, so the analysis holds for models centered by any means.
public struct ZeroMean {
    public var zeroMean: Set<String> = []
    /// Why a value is not zero-mean (for remarks).
    public var reason: [String: String] = [:]

    public init(_ program: Program) {
        let m = program.module
        func paramRowsZeroMean(_ o: Operand) -> Bool {
            guard case .param(let p) = o, let data = program.params[p] else { return false }
            return rowsAreZeroMean(data)
        }
        func zm(_ o: Operand) -> Bool {
            switch o {
            case .param: return paramRowsZeroMean(o)
            case .value(let v): return zeroMean.contains(v)
            }
        }
        for inst in m.body {
            let v = inst.result
            var why: String?
            switch inst.op {
            case .embedding, .positions, .linear, .patchEmbed:
                guard let layout = WriterWeight(inst) else { why = "its operands do not fit \(inst.op.rawValue)"; break }
                let weight = inst.operands[layout.weight]
                if case .param(let w) = weight, let data = program.params[w], layout.outputsAreZeroMean(data) {
                    if let b = layout.bias {
                        if case .param(let name) = inst.operands[b], let bias = program.params[name], rowsAreZeroMean(bias) {
                        } else {
                            why = "its bias \(inst.operands[b]) has a non-zero mean"
                        }
                    }
                } else if layout.isTable {
                    why = "the table \(weight) has rows with a non-zero mean"
                } else {
                    why = "its weight \(weight) is not centered along its outputs"
                }
            case .add, .clsToken:
                if let bad = inst.operands.first(where: { !zm($0) }) { why = "\(bad) is not zero-mean" }
            case .selectRow:
                if !zm(inst.operands[0]) { why = "\(inst.operands[0]) is not zero-mean" }
            case .layernorm, .rmsnorm:
                // A norm without affine parameters keeps a zero mean (LayerNorm always makes one).
                if inst.operands.count > 1 { why = "%\(v) has a gain or bias" }
                else if inst.op == .rmsnorm && !zm(inst.operands[0]) { why = "\(inst.operands[0]) is not zero-mean" }
            case .crmsnorm, .attention, .gelu, .tanh, .relu, .rope:
                why = "\(inst.op.rawValue) does not preserve a zero mean"
            case .mul:
                // A product of zero-mean rows is not zero-mean (x * x), whatever the operands.
                why = "mul does not preserve a zero mean"
            }
            if let why {
                reason[v] = "%\(v) is not zero-mean: \(why)"
            } else {
                zeroMean.insert(v)
            }
        }
    }
}

/// Tolerance of the zero-mean test on parameter rows: float32 rounding of a centered row
/// leaves a mean of at most ~6e-8 of its mean magnitude.
let zeroMeanTolerance = 1e-6

func rowsAreZeroMean(_ data: ParamData) -> Bool {
    for r in 0..<data.rows {
        let row = data.row(r)
        let mean = row.reduce(0, +) / Double(row.count)
        let magnitude = row.reduce(0) { $0 + abs($1) } / Double(row.count)
        if abs(mean) > zeroMeanTolerance * magnitude { return false }
    }
    return true
}

func transpose(_ data: ParamData) -> ParamData {
    let rows = data.rows, cols = data.cols
    var out = [Double](repeating: 0, count: data.values.count)
    for r in 0..<rows {
        for c in 0..<cols { out[c * rows + r] = data.values[r * cols + c] }
    }
    return ParamData(shape: [cols, rows], values: out)
}

/// The linears that read a norm's output, directly or through select_row (which picks whole
/// rows, so a per-column affine map commutes with it): what fold-norm-affine and
/// compress-crmsnorm rewrite. Fails with the first reader of another kind.
public struct NormReaders {
    /// (instruction index, operand index) of each linear's input.
    public var linears: [(inst: Int, operand: Int)] = []
    /// The select_row instructions in between.
    public var selections: [Int] = []

    public static func of(_ value: String, in m: Module) -> Result<NormReaders, NormReaderError> {
        var readers = NormReaders()
        var work = [value]
        while let v = work.popLast() {
            if m.outputs.contains(where: { $0.name == v }) { return .failure(NormReaderError("%\(v) is an output of the model")) }
            var any = false
            for (i, inst) in m.body.enumerated() {
                for (j, o) in inst.operands.enumerated() where o == .value(v) {
                    any = true
                    if inst.op == .linear && j == 0 && inst.operands.dropFirst().allSatisfy(isParam) {
                        readers.linears.append((i, j))
                    } else if inst.op == .selectRow {
                        readers.selections.append(i)
                        work.append(inst.result)
                    } else {
                        return .failure(NormReaderError("%\(v) is read by %\(inst.result) (\(inst.op.rawValue)), not by the input of a linear"))
                    }
                }
            }
            if !any { return .failure(NormReaderError("%\(v) is never read")) }
        }
        return .success(readers)
    }
}

public struct NormReaderError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
