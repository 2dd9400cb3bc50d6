// compress-crmsnorm: stores a zero-mean residual stream in d-1 numbers and reads it with CRMSNorm.
//
// A zero-mean d-vector is determined by its first d-1 entries (the last is minus their sum), so
// the stream drops its last column, and every op around it is rewritten to match:
//
//     writers    E' = E[:, :-1]   W_o' = W_o[:, :-1]   b_o' = b_o[:-1]       (embeddings, out-projections)
//     norms      rmsnorm(%x) -> crmsnorm(%x)  (divisor d: it stands for the full zero-mean vector)
//     readers    W_in' = W_in[:-1, :] - W_in[-1:, :]   bias unchanged        (every linear after a norm)
//
// Preconditions, each proven here: every value of the stream is zero-mean (run remove-mean),
// every norm on it is parameter-free (run fold-norm-affine first), every norm output is read
// only by linears (directly or through select_row), and every writer is an affine map of
// parameters.
import TIR

public let compressCRMSNorm = Pass(
    name: "compress-crmsnorm",
    summary: "store zero-mean residual streams in d-1 numbers and read them with CRMSNorm"
) { ctx in
    let blindness = MeanBlindness(ctx.module, normReaders: [.layernorm, .rmsnorm])
    let zeroMean = ZeroMean(ctx.program)
    let streams = findStreams(ctx.module, blindness)
    // Norms that read no stream at all say why.
    let covered = Set(streams.flatMap(\.norms))
    for (i, norm) in ctx.module.body.enumerated() where (norm.op == .layernorm || norm.op == .rmsnorm) && !covered.contains(i) {
        let x = norm.operands[0].name
        ctx.remark(norm.loc, "compress-crmsnorm: %\(norm.result) kept: \(blindness.reason[x] ?? "%\(x) is not part of a residual stream")")
    }
    for stream in streams {
        if let why = refusal(ctx, stream, zeroMean) {
            let loc = ctx.module.body[stream.norms.first ?? stream.writerOps.first ?? 0].loc
            ctx.remark(loc, "compress-crmsnorm: stream %\(stream.values.first ?? "") kept at full width: \(why)")
            continue
        }
        compress(&ctx, stream)
    }
}

/// Why `stream` cannot be compressed, or nil.
private func refusal(_ ctx: PassContext, _ stream: Stream, _ zeroMean: ZeroMean) -> String? {
    if let blocker = stream.blocker { return blocker.message }
    if stream.norms.isEmpty { return "no norm reads it" }
    for v in stream.values where !zeroMean.zeroMean.contains(v) {
        return "\(zeroMean.reason[v] ?? "%\(v) is not zero-mean") (run remove-mean first)"
    }
    let widths = Set(stream.values.compactMap { ctx.module.type(of: .value($0))?.dims.last?.fixedValue })
    guard widths.count == 1, let d = widths.first else { return "its values do not share one static width" }
    if d < 2 { return "its width is \(d); nothing to drop" }
    for n in stream.norms {
        let norm = ctx.module.body[n]
        if norm.operands.count > 1 {
            return "%\(norm.result) has a gain or bias (run fold-norm-affine first)"
        }
        if case .failure(let why) = NormReaders.of(norm.result, in: ctx.module) { return why.description }
    }
    return nil
}

private func compress(_ ctx: inout PassContext, _ stream: Stream) {
    func rewrite(_ i: Int, _ operand: Int, _ transform: (ParamData) -> ParamData) {
        guard operand < ctx.module.body[i].operands.count,
              case .param(let p) = ctx.module.body[i].operands[operand] else { return }
        let owned = ctx.ownedParam(p, at: (i, operand), suffix: ".crms")
        if let data = ctx.program.params[owned] { ctx.setParam(owned, transform(data)) }
    }
    // Writers drop the last output column.
    for i in stream.writerOps {
        guard let layout = WriterWeight(ctx.module.body[i]) else { continue }
        rewrite(i, layout.weight) { layout.droppingLastOutput($0) }
        if let bias = layout.bias { rewrite(i, bias) { $0.droppingLastColumn() } }
    }
    for use in stream.writerParams { rewrite(use.inst, use.operand) { $0.droppingLastColumn() } }
    // Every stream value, every norm on it and every row selected from a norm is one column narrower.
    let readers = stream.norms.map { n in
        (try? NormReaders.of(ctx.module.body[n].result, in: ctx.module).get()) ?? NormReaders()
    }
    let narrowed = Set(stream.values).union(stream.norms.map { ctx.module.body[$0].result })
        .union(readers.flatMap { $0.selections.map { ctx.module.body[$0].result } })
    for i in ctx.module.body.indices where narrowed.contains(ctx.module.body[i].result) {
        let d = ctx.module.body[i].type.dims.count - 1
        if case .fixed(let width) = ctx.module.body[i].type.dims[d] {
            ctx.module.body[i].type.dims[d] = .fixed(width - 1)
        }
    }
    // Norms become CRMSNorm; the linears reading them absorb the dropped coordinate.
    for (n, reader) in zip(stream.norms, readers) {
        ctx.module.body[n].op = .crmsnorm
        for (u, _) in reader.linears {
            guard let layout = WriterWeight(ctx.module.body[u]) else { continue }
            rewrite(u, layout.weight) { layout.absorbingLastInput($0) }
        }
    }
    let first = ctx.module.body[stream.norms[0]]
    ctx.remark(first.loc, "compress-crmsnorm: stream %\(stream.values.first ?? "") stored in \(first.type.dims.last?.fixedValue ?? 0) columns; \(stream.norms.count) norms are now CRMSNorm")
}
