// fold-norm-affine: folds each norm's gain and bias into every linear that reads the norm.
//
//     (N(x) * g + b) @ W + c  ==  N(x) @ (diag(g) W) + (b @ W + c)
//
//     %n = layernorm(%x, @g, @b) {eps = 1e-05}      %n = layernorm(%x) {eps = 1e-05}
//     %q = linear(%n, @w, @c)                  ->   %q = linear(%n, @w.folded, @c.folded)
//
// Exact for any norm. A weight shared with another reader (a tied LM head reading the
// embedding table) is copied first, which unties them. The pass refuses a norm read by anything
// but the input of a linear with parameter weights (directly or through select_row).
import TIR

public let foldNormAffine = Pass(
    name: "fold-norm-affine",
    summary: "fold each norm's gain and bias into the linears that read it"
) { ctx in
    for i in ctx.module.body.indices {
        let norm = ctx.module.body[i]
        guard [.layernorm, .rmsnorm, .crmsnorm].contains(norm.op), norm.operands.count > 1 else { continue }
        let readers: NormReaders
        switch NormReaders.of(norm.result, in: ctx.module) {
        case .success(let r): readers = r
        case .failure(let why):
            ctx.remark(norm.loc, "fold-norm-affine: gain and bias of %\(norm.result) kept: \(why)")
            continue
        }
        let gain = paramData(ctx, norm.operands[1])
        let shift = norm.operands.count > 2 ? paramData(ctx, norm.operands[2]) : nil
        for (u, _) in readers.linears { fold(&ctx, linear: u, gain: gain, shift: shift) }
        ctx.module.body[i].operands = [norm.operands[0]]
        let n = readers.linears.count
        ctx.remark(norm.loc, "fold-norm-affine: folded the gain\(shift == nil ? "" : " and bias") of %\(norm.result) into \(n) linear\(n == 1 ? "" : "s")")
    }
}

private func paramData(_ ctx: PassContext, _ o: Operand) -> [Double]? {
    guard case .param(let p) = o else { return nil }
    return ctx.program.params[p]?.values
}

/// W' = diag(gain) W and c' = c + shift @ W, for the linear at body index `u`.
private func fold(_ ctx: inout PassContext, linear u: Int, gain: [Double]?, shift: [Double]?) {
    let inst = ctx.module.body[u]
    guard let layout = WriterWeight(inst), case .param(let wName) = inst.operands[layout.weight],
          let w = ctx.program.params[wName] else { return }
    let (inWidth, outWidth) = layout.widths(of: w)
    func index(_ k: Int, _ j: Int) -> Int { layout.index(input: k, output: j, of: w) }

    var extra = [Double](repeating: 0, count: outWidth)
    if let shift {
        for k in 0..<inWidth where shift[k] != 0 {
            for j in 0..<outWidth { extra[j] += shift[k] * w.values[index(k, j)] }
        }
    }
    if let gain {
        var scaled = w.values
        for k in 0..<inWidth {
            for j in 0..<outWidth { scaled[index(k, j)] *= gain[k] }
        }
        let owned = ctx.ownedParam(wName, at: (u, layout.weight), suffix: ".folded")
        ctx.setParam(owned, ParamData(shape: w.shape, values: scaled))
    }
    guard shift != nil else { return }
    if let bIndex = layout.bias, case .param(let bName) = inst.operands[bIndex], let b = ctx.program.params[bName] {
        let owned = ctx.ownedParam(bName, at: (u, bIndex), suffix: ".folded")
        ctx.setParam(owned, ParamData(shape: b.shape, values: zip(b.values, extra).map { $0 + $1 }))
    } else if extra.contains(where: { $0 != 0 }) {
        // A new bias is stored like the weight it comes from (bf16 for a bf16 model).
        let dtype = ctx.module.param(named: wName)?.type.dtype ?? .f32
        let bias = ctx.addParam(inst.result + ".bias", ParamData(shape: [outWidth], values: extra), dtype: dtype, near: inst.loc)
        ctx.module.body[u].operands.append(.param(bias))
    }
}
