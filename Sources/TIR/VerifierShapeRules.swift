// The TIR verifier's shape rules: for each op, the result type its operands and attributes give.
//
// Values are f32 or i32; a parameter may also be bf16, and every op reads a bf16 parameter as
// the f32 values it stands for (`readType`), so rules compare read types and name declared ones.

extension Verifier {
    /// The result type the op's rule gives, or nil after reporting why there is none.
    mutating func infer(_ instr: Instruction, _ ops: [TypedOperand]) -> TensorType? {
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
                  let rowsInTable = table.type.dims[0].fixedValue else { return nil }
            let offset = instr.int("offset") ?? 0
            guard offset >= 0, offset <= rowsInTable else {
                error(instr.loc, "positions offset \(offset) must be in 0...\(rowsInTable) (the table's rows)")
                return nil
            }
            // Rows offset ..< offset + R are read; the row count comes from the declared result.
            let available = rowsInTable - offset
            let after = offset > 0 ? " after its first \(offset)" : ""
            let rows = instr.type.dims.first ?? .fixed(available)
            switch rows {
            case .fixed(let n) where n > available:
                error(table.loc, "positions table \(describe(table)) has \(available) rows\(after), fewer than the \(n) the result needs")
                return nil
            case .seq where m.maxSeqLen > available:
                let symbol = m.seq?.symbol ?? "seq"
                error(table.loc, "positions table \(describe(table)) has \(available) rows\(after), fewer than the maximum sequence length \(symbol) <= \(m.maxSeqLen)")
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
            let clsOK = cls.readType.dtype == .f32
                && (cls.type.dims == [d] || cls.type.dims == [.fixed(1), d])
            guard clsOK else {
                // Named in the parameter's own float type, as `expect` does.
                let dtype: DType = cls.type.dtype == .bf16 ? .bf16 : .f32
                let width = format(TensorType(dtype, [d]))
                error(cls.loc, "cls_token cls must be \(width) or \(format(TensorType(dtype, [.fixed(1), d]))), got \(describe(cls))")
                return nil
            }
            let (rows, overflow) = n.addingReportingOverflow(1)
            guard !overflow else { return nil }
            return TensorType(.f32, [.fixed(rows), d])

        case .add, .mul:
            let (a, b) = (ops[0], ops[1])
            guard expect(a, op, "lhs", rank: 2, pattern: "f32[R, d]"),
                  expect(b, op, "rhs", rank: 2, pattern: "f32[R, d]") else { return nil }
            guard a.readType == b.readType else {
                error(b.loc, "\(op) operands must have the same type, got \(describe(a)) and \(describe(b))")
                return nil
            }
            return a.readType

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
            return x.readType

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
                for (i, role) in ["k", "v"].enumerated() where ops[i + 1].readType != q.readType {
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

        case .gelu, .tanh, .relu:
            guard expect(ops[0], op, "x", rank: 2, pattern: "f32[R, d]") else { return nil }
            return ops[0].readType

        case .rope:
            guard expect(ops[0], op, "x", rank: 2, pattern: "f32[R, heads*dh]"),
                  case .int(let heads)? = attr(instr, "heads"), case .int(let rotary)? = attr(instr, "rotary_dims"),
                  let base = attr(instr, "base")?.doubleValue, let width = ops[0].type.dims[1].fixedValue else { return nil }
            guard heads > 0, width % heads == 0 else {
                error(instr.loc, "rope heads = \(heads) must be positive and divide the width \(width)")
                return nil
            }
            guard rotary > 0, rotary % 2 == 0, rotary <= width / heads else {
                error(instr.loc, "rope rotary_dims = \(rotary) must be even and in 2...\(width / heads) (the head width)")
                return nil
            }
            guard base > 1, base.isFinite else {
                error(instr.loc, "rope base must be a finite number above 1, got \(formatDouble(base))")
                return nil
            }
            return ops[0].readType

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
    /// "<op> <role> must be <pattern>, got %x : <type>". A bf16 parameter meets an f32 pattern,
    /// and a message about one names bf16 in the pattern, so that it reads like its type.
    mutating func expect(_ o: TypedOperand, _ op: String, _ role: String, _ dtype: DType = .f32,
                                 rank: Int, pattern: String, isStatic: Bool = false) -> Bool {
        if o.readType.dtype != dtype || o.type.rank != rank {
            let shown = o.type.dtype == .bf16 && pattern.hasPrefix("f32") ? "bf16" + pattern.dropFirst(3) : pattern
            error(o.loc, "\(op) \(role) must be \(shown), got \(describe(o))")
            return false
        }
        if isStatic && o.type.isDynamic {
            error(o.loc, "\(op) \(role) must have a static shape, got \(describe(o))")
            return false
        }
        return true
    }

    /// A gain or bias: exactly `f32[width]` (or `bf16[width]` for a bf16 parameter).
    mutating func expectVector(_ o: TypedOperand, _ op: String, _ role: String, width: Dim) -> Bool {
        let wanted = TensorType(o.type.dtype == .bf16 ? .bf16 : .f32, [width])
        guard o.type == wanted else {
            error(o.loc, "\(op) \(role) must be \(format(wanted)), got \(describe(o))")
            return false
        }
        return true
    }
}
