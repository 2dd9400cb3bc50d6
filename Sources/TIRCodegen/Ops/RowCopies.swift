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
        b.forLoop(op.rows) { r in
            let id = b.sext(b.load(ir.i32, b.gep(ir.i32, ids, r)), to: ir.i64)
            copyFloats(to: b.gep(f32, op.out, b.mul(r, N)), from: b.gep(storageType(dtype), table, b.mul(id, N)), dtype,
                       count: ir.i64(N))
        }
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
