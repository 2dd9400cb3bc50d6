// The fusion plan: which ops run inside a GEMM's epilogue instead of as their own loops.
import TIR

/// Which ops are computed inside a matrix multiplication's epilogue: a GELU reading only the
/// linear, then an add reading only that (a residual connection), become part of the linear.
public struct FusionPlan: Sendable, CustomStringConvertible {
    struct Linear: Sendable {
        var epilogue: Epilogue
        /// The other operand of the fused add.
        var residual: Operand?
        /// The results of the fused ops after the linear (a GELU, an add), in order.
        var chain: [String] = []
        /// The value the fused chain produces (where the kernel stores).
        var output: String { chain.last ?? linear }
        var linear: String
        /// For a linear reading a scale-only norm: that norm (whose buffer holds one scale per
        /// row) and its input, which the kernel reads instead of the norm's output.
        var rowScale: RowScale?
    }

    struct RowScale: Sendable {
        var norm: String
        var input: Operand
    }

    /// Parameter-free RMSNorm/CRMSNorm whose readers are all fused linears: they compute only a
    /// scale per row. Norm result -> its input.
    var scaleOnlyNorms: [String: Operand] = [:]

    var linears: [String: Linear] = [:]
    /// Results computed by a fused producer, not by their own code.
    var fused: Set<String> = []

    /// The order of the linears, for printing.
    private var order: [String] = []

    /// The value whose buffer an op's code writes: for a linear with fused ops after it, the last
    /// of them; otherwise the op's own result.
    func destination(of result: String) -> String { linears[result]?.output ?? result }

    init(_ m: Module) {
        var uses: [String: [(index: Int, operand: Int)]] = [:]
        for (i, inst) in m.body.enumerated() {
            for (j, o) in inst.operands.enumerated() {
                if case .value(let v) = o { uses[v, default: []].append((i, j)) }
            }
        }
        let outputs = Set(m.outputs.map(\.name))
        let definedAt = Dictionary(m.body.enumerated().map { ($1.result, $0) }, uniquingKeysWith: { a, _ in a })
        /// The single reader of `v`, when `v` is not an output and is read exactly once.
        func onlyReader(_ v: String) -> (index: Int, operand: Int)? {
            guard !outputs.contains(v), let u = uses[v], u.count == 1 else { return nil }
            return u[0]
        }
        for (index, inst) in m.body.enumerated() where inst.op == .linear {
            guard case .param = inst.operands[1], inst.operands.dropFirst(2).allSatisfy({ if case .param = $0 { true } else { false } })
            else { continue }
            var plan = Linear(epilogue: Epilogue(bias: inst.operands.count > 2), residual: nil, linear: inst.result)
            if let (g, _) = onlyReader(plan.output), let activation = Activation(m.body[g]) {
                plan.epilogue.activation = activation
                plan.chain.append(m.body[g].result)
                fused.insert(m.body[g].result)
            }
            if let (a, j) = onlyReader(plan.output), m.body[a].op == .add {
                let other = m.body[a].operands[1 - j]
                // The residual must exist before the linear runs.
                let ready: Bool
                switch other {
                case .param: ready = true
                case .value(let v): ready = (definedAt[v] ?? -1) < index
                }
                if ready {
                    plan.epilogue.residual = true
                    plan.residual = other
                    plan.chain.append(m.body[a].result)
                    fused.insert(m.body[a].result)
                }
            }
            linears[inst.result] = plan
            order.append(inst.result)
        }
        for norm in m.body where (norm.op == .rmsnorm || norm.op == .crmsnorm) && norm.operands.count == 1 {
            guard !outputs.contains(norm.result), let readers = uses[norm.result], !readers.isEmpty,
                  readers.allSatisfy({ $0.operand == 0 && linears[m.body[$0.index].result] != nil })
            else { continue }
            scaleOnlyNorms[norm.result] = norm.operands[0]
            for reader in readers {
                linears[m.body[reader.index].result]?.rowScale = RowScale(norm: norm.result, input: norm.operands[0])
                linears[m.body[reader.index].result]?.epilogue.rowScale = true
            }
        }
    }

    /// One line per linear and per scale-only norm (`tfc compile --emit fusion`):
    ///
    ///     %h = linear(...) + bias + gelu -> %g; + residual %x -> %y
    public var description: String {
        var lines = ["// fusion plan: what each linear's GEMM epilogue computes, and where it stores"]
        for name in order {
            guard let plan = linears[name] else { continue }
            var line = "%\(name): gemm"
            if let scale = plan.rowScale { line += ", rows scaled by %\(scale.norm) (reads \(scale.input))" }
            line += ", epilogue \(plan.epilogue.name)"
            if let residual = plan.residual { line += " (residual \(residual))" }
            if !plan.chain.isEmpty { line += ", computes " + plan.chain.map { "%" + $0 }.joined(separator: ", ") }
            line += ", stores %\(plan.output)"
            lines.append(line)
        }
        for (norm, input) in scaleOnlyNorms.sorted(by: { $0.key < $1.key }) {
            lines.append("%\(norm): scale-only norm of \(input) (one float per row, applied by its GEMMs)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
