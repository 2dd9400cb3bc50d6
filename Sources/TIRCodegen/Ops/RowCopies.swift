// Ops that only move rows: embedding (gather rows of a table by token id), positions and
// select_row (a contiguous slice of rows), cls_token (a row prepended). Tables may be bf16;
// results are f32.
import LLVMBridge
import TIR

extension FunctionLowering {
    /// out[r, :] = table[ids[r], :]. Every id was checked against the table before any work
    /// (checkArguments), so the gather stays in bounds.
    func lowerEmbedding(_ op: OpContext) throws {
        let (ids, table, N) = (op.operands[0], op.operands[1], op.cols)
        let dtype = op.types[1].dtype
        if let (panels, nr) = try tiedHeadPanels(op) {
            // Row `id` of the table is column `id` of the head's panels: panel id / nr, lane
            // id % nr, one element every nr floats.
            b.forLoop(op.rows) { r in
                let id = b.sext(b.load(ir.i32, b.gep(ir.i32, ids, r)), to: ir.i64)
                let panel = b.sdiv(id, ir.i64(nr)), lane = b.sub(id, b.mul(panel, nr))
                let start = b.add(b.mul(panel, N * nr), lane)
                let row = b.gep(f32, op.out, b.mul(r, N))
                b.forLoop(ir.i64(N)) { k in
                    storeF(loadF(panels, b.add(start, b.mul(k, nr))), row, k)
                }
            }
            return
        }
        b.forLoop(op.rows) { r in
            let id = b.sext(b.load(ir.i32, b.gep(ir.i32, ids, r)), to: ir.i64)
            copyFloats(to: b.gep(f32, op.out, b.mul(r, N)), from: b.gep(storageType(dtype), table, b.mul(id, N)), dtype,
                       count: ir.i64(N))
        }
    }

    /// For a token table that is also the model's head (a tied head: a float32 linear reading it
    /// transposed, through the GEMM kernel), the head's panels and their width: the embedding
    /// reads its rows from them, and the object holds the table once instead of twice (GPT-2
    /// small: 154 MB less).
    private func tiedHeadPanels(_ op: OpContext) throws -> (Value, Int)? {
        guard case .param(let name) = op.inst.operands[1], op.types[1].dtype == .f32,
              let head = model.body.first(where: { inst in
                  inst.op == .linear && inst.operands.count > 1 && inst.operands[1] == .param(name)
                      && inst.bool("transposed") == true && fusion.linears[inst.result] != nil
                      && GemmPrecision.of(inst, shape: gemm.shape, target: target, paired: pairedBF16) == .f32
              }), let input = head.operands.first, cols(try type(input)) == op.cols
        else { return nil }
        let (panels, _) = try packedWeights(head, k: op.cols, n: cols(head.type), precision: .f32)
        return (panels, gemm.shape.nr)
    }

    /// positions: the table's rows at the op's positions, from row `offset` (the first R, or in an
    /// extend step the new tokens' positions after the cache's); select_row: row `index` of a value.
    func lowerRowSlice(_ op: OpContext) throws {
        let first = op.inst.op == .selectRow ? ir.i64(op.inst.int("index") ?? 0) : b.add(op.position, op.inst.int("offset") ?? 0)
        let dtype = op.types[0].dtype
        copyFloats(to: op.out, from: b.gep(storageType(dtype), op.operands[0], b.mul(first, op.cols)), dtype,
                   count: b.mul(op.rows, op.cols))
    }

    /// The class token row, then the rows of x.
    func lowerClsToken(_ op: OpContext) throws {
        let N = op.cols
        copyFloats(to: op.out, from: op.operands[1], op.types[1].dtype, count: ir.i64(N))
        copyFloats(to: b.gep(f32, op.out, ir.i64(N)), from: op.operands[0], op.types[0].dtype,
                   count: b.mul(rows(op.types[0]), N))
    }
}
