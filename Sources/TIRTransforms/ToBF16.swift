// to-bf16: bfloat16 matrix products for every linear and patch embedding with a parameter weight.
//
//     param @w : f32[768, 3072]                    param @w : bf16[768, 3072]
//     %h = linear(%n, @w, @b)                  ->  %h = linear(%n, @w, @b) {compute = bf16}
//
// The weight's declared dtype becomes bf16; its float64 values are kept, and the pipeline's
// final rounding (`Program.weights`) rounds them once, to nearest even. `compute = bf16` rounds
// the input x to bf16 as well; products and sums stay float32 (or wider), the bias and the
// epilogue float32. Not exact: run it last, after the variant passes, so that their rewrites
// are exact in float64 and only this final rounding is approximate. A weight also read by
// another op (a tied `@wte` read by `embedding` and the LM head) becomes bf16 for that reader
// too: the embedding then reads the rounded table, widened exactly. A weight that is not a
// parameter is left alone, with a remark.
import TIR

public let toBF16 = Pass(
    name: "to-bf16",
    summary: "store every linear and patch embedding weight as bf16 and compute their products in bf16 (run last)"
) { ctx in
    var converted: [String] = []
    for i in ctx.module.body.indices {
        let inst = ctx.module.body[i]
        guard inst.op == .linear || inst.op == .patchEmbed, inst.operands.count > 1 else { continue }
        guard case .param(let weight) = inst.operands[1], let index = ctx.module.params.firstIndex(where: { $0.name == weight }) else {
            ctx.remark(inst.loc, "to-bf16: %\(inst.result) kept in f32: its weight \(inst.operands[1]) is not a parameter")
            continue
        }
        if ctx.module.params[index].type.dtype != .bf16 {
            ctx.module.params[index].type = TensorType(.bf16, ctx.module.params[index].type.dims)
            converted.append(weight)
        }
        ctx.module.body[i].setAttr("compute", .word("bf16"))
    }
    // Say which converted weights another op reads too, which now sees the rounded values.
    for weight in converted {
        let others = ctx.users(of: .param(weight)).map { ctx.module.body[$0.inst] }
            .filter { $0.op != .linear && $0.op != .patchEmbed }
        guard let first = others.first else { continue }
        let names = others.map { "%\($0.result) (\($0.op.rawValue))" }.joined(separator: ", ")
        ctx.remark(first.loc, "to-bf16: @\(weight) is also read by \(names), which now reads its bf16 values, widened exactly")
    }
    let count = ctx.module.body.filter { ($0.op == .linear || $0.op == .patchEmbed) && $0.computesInBF16 }.count
    if let loc = ctx.module.body.first(where: { $0.computesInBF16 })?.loc {
        ctx.remark(loc, "to-bf16: \(count) matrix product\(count == 1 ? " computes" : "s compute") in bf16; \(converted.count) weight\(converted.count == 1 ? "" : "s") now stored as bf16")
    }
}

extension Instruction {
    /// Sets attribute `key` (one of the op's), keeping the attributes in OpInfo order.
    mutating func setAttr(_ key: String, _ value: AttrValue) {
        var given = Dictionary(attrs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        given[key] = value
        let specs = OpInfo.of(op).attrs
        attrs = specs.compactMap { spec in given[spec.key].map { (key: spec.key, value: $0) } }
            + attrs.filter { a in !specs.contains { $0.key == a.key } }
    }
}
