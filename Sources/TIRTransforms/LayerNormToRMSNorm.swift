// layernorm-to-rmsnorm: replaces each LayerNorm whose input is proven zero-mean by RMSNorm.
//
// For a zero-mean x, mean(x) = 0 and var(x) = mean(x^2), so LN(x) == RMS(x) exactly, with the
// same eps, gain and bias:
//
//     %n = layernorm(%x, @g, @b) {eps = 1e-05}   ->   %n = rmsnorm(%x, @g, @b) {eps = 1e-05}
//
// "Proven" means ZeroMean derives it from the ops producing %x and the parameter values (after
// remove-mean, every writer of the stream is centered).
import TIR

public let layerNormToRMSNorm = Pass(
    name: "layernorm-to-rmsnorm",
    summary: "replace each LayerNorm whose input is proven zero-mean by RMSNorm"
) { ctx in
    let analysis = ZeroMean(ctx.program)
    for i in ctx.module.body.indices where ctx.module.body[i].op == .layernorm {
        let inst = ctx.module.body[i]
        guard case .value(let x) = inst.operands[0] else { continue }
        if analysis.zeroMean.contains(x) {
            ctx.module.body[i].op = .rmsnorm
            ctx.remark(inst.loc, "layernorm-to-rmsnorm: %\(inst.result) is now an RMSNorm: %\(x) is zero-mean")
        } else {
            ctx.remark(inst.loc, "layernorm-to-rmsnorm: layernorm %\(inst.result) kept: \(analysis.reason[x] ?? "%\(x) is not zero-mean")")
        }
    }
}
