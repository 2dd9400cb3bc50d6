// remove-mean: centers every writer into a residual stream that is read only through LayerNorm.
//
// LayerNorm subtracts the mean of its input, so when nothing else reads the stream, the mean of
// what is written into it never reaches an output, and can be removed from every writer:
//
//     %x0 = embedding(%tokens, @wte)            @wte' = @wte - rowmean(@wte)      (a copy when tied)
//     %o  = linear(%a, @w_o, @b_o)              @w_o' = @w_o - rowmean(@w_o)      (over the outputs)
//     %x1 = add(%x0, %o)                        @b_o' = @b_o - mean(@b_o)
//     %n  = layernorm(%x1, @g, @b)              unchanged
//
// Afterwards every value of the stream is zero-mean (see ZeroMean). The pass refuses a stream
// when a writer is not affine in parameters (an activation, a norm: Post-LN) or a value of it is
// read where its mean matters (a head without a final norm, a skip to an output).
import TIR

public let removeMean = Pass(
    name: "remove-mean",
    summary: "center every writer into residual streams read only through LayerNorm"
) { ctx in
    let blindness = MeanBlindness(ctx.module)
    let streams = findStreams(ctx.module, blindness)
    // Say why for LayerNorms whose input is not in any stream.
    for inst in ctx.module.body where inst.op == .layernorm {
        if case .value(let x) = inst.operands[0], !blindness.blind.contains(x) {
            ctx.remark(inst.loc, "remove-mean: the input of %\(inst.result) is not centered: \(blindness.reason[x] ?? "%\(x) is not a stream value")")
        }
    }
    for stream in streams {
        if let blocker = stream.blocker {
            ctx.remark(blocker.loc, "remove-mean: stream not centered: \(blocker.message)")
            continue
        }
        for i in stream.writerOps { centerWriter(&ctx, i) }
        for use in stream.writerParams {
            guard case .param(let p) = ctx.module.body[use.inst].operands[use.operand] else { continue }
            let owned = ctx.ownedParam(p, at: use, suffix: ".centered")
            if let data = ctx.program.params[owned] { ctx.setParam(owned, data.centeringRows()) }
        }
        let first = ctx.module.body[stream.writerOps.first ?? stream.writerParams.first?.inst ?? 0]
        ctx.remark(first.loc, "remove-mean: centered \(stream.writerOps.count + stream.writerParams.count) writers into the stream %\(stream.values.first ?? "")...%\(stream.values.last ?? "") (\(stream.values.count) values)")
    }
}

/// Makes the output rows of writer `i` zero-mean by changing only its parameters.
private func centerWriter(_ ctx: inout PassContext, _ i: Int) {
    let inst = ctx.module.body[i]
    func update(_ operand: Int, _ transform: (ParamData) -> ParamData) {
        guard operand < inst.operands.count, case .param(let p) = ctx.module.body[i].operands[operand] else { return }
        let owned = ctx.ownedParam(p, at: (i, operand), suffix: ".centered")
        if let data = ctx.program.params[owned] { ctx.setParam(owned, transform(data)) }
    }
    // An op without a weight is not centerable: findStreams reported the stream as blocked.
    guard let layout = WriterWeight(inst) else { return }
    update(layout.weight) { layout.centeringOutputs($0) }
    if let bias = layout.bias { update(bias) { $0.centeringRows() } }
}
