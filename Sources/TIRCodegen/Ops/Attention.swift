// attention: softmax(Q K^T / sqrt(dh)) V per head (causal or not), as two GEMMs per head and
// block of query rows through the GEMM microkernel, with an online softmax over blocks of keys.
import LLVMBridge
import TIR

/// Where attention keeps one head's packed K^T and V (in floats): K^T as `keyPanels` panels of
/// [headDim][nr] (keys past the sequence are 0), then V as `valuePanels` panels of [maxRows][nr]
/// (columns past headDim are 0). Offsets are multiples of 16 floats, so every panel starts on a
/// vector boundary. The memory plan sizes the scratch from it and the lowering addresses it, so
/// both read the same numbers.
struct AttentionLayout {
    let heads: Int
    let headDim: Int
    /// Rows (keys) at the model's largest sequence length.
    let maxRows: Int
    /// Keys per step of the online softmax: 128, in whole panels (the score tile on the stack is
    /// mr x keyBlock floats, 4 KiB on AVX-512, whatever the sequence length).
    let keyBlock: Int
    let keyPanels: Int
    let valuePanels: Int
    let valuesOffset: Int
    let perHead: Int

    /// nil when the op's heads do not divide its width.
    init?(_ inst: Instruction, model: Module, nr: Int) {
        self.init(inst, maxRows: inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1, nr: nr)
    }

    /// The layout for `maxRows` keys (a key/value cache's: ExtendPlan).
    init?(_ inst: Instruction, maxRows: Int, nr: Int) {
        let inner = inst.type.dims.dropFirst().reduce(1) { $0 * ($1.fixedValue ?? 1) }
        guard let heads = inst.int("heads"), heads > 0, inner % heads == 0 else { return nil }
        self.heads = heads
        headDim = inner / heads
        self.maxRows = maxRows
        func round16(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        keyBlock = (128 + nr - 1) / nr * nr
        keyPanels = (maxRows + nr - 1) / nr
        valuePanels = (headDim + nr - 1) / nr
        valuesOffset = round16(keyPanels * headDim * nr)
        perHead = valuesOffset + round16(valuePanels * maxRows * nr)
    }
}

/// K^T and V of every head, packed (AttentionLayout), live while the op runs.
func attentionScratch(_ inst: Instruction, model: Module, gemm: GemmShape) -> [ScratchRequest] {
    guard let layout = AttentionLayout(inst, model: model, nr: gemm.nr) else { return [] }
    return [ScratchRequest(name: "kv", bytes: layout.heads * layout.perHead * DType.f32.byteSize)]
}

extension FunctionLowering {
    /// Attention as two small GEMMs per head through the GEMM microkernel. First, per head, K^T
    /// and V are packed into the kernel's panel layout in a workspace scratch (keys, resp. head
    /// columns, zero-padded to whole panels). Then per (head, block of mr query rows): the block's
    /// scores S = Q K^T against every visible key (in a stack buffer of mr rows), a safe softmax
    /// per row (minus the row's max, vectorized exp, masked keys exactly 0), and O = P V with the
    /// softmax's 1/sum applied as the kernel's row scale. Threads claim chunks of (head, block).
    ///
    /// In an extend step the packed keys and values are the cache's (ExtendPlan): the new rows'
    /// are packed after the `past` ones already there, and the queries (every new row, or only
    /// the last: op.firstRow, op.rows) see the cache's keys before their own.
    func lowerAttention(_ op: OpContext) throws {
        let (inst, ops, out, inner) = (op.inst, op.operands, op.out, op.cols)
        let layout: AttentionLayout, scratch: Value
        // New rows (keys and values to pack), the keys before them, the queries, the first's row
        // among the new ones, and its row in the query buffer.
        let R: Value, past: Value, queries: Value, firstQuery: Value, queryRow: Value
        if let extend, let cache, let seqLen, let pastLength = self.past {
            guard let region = extend.attention[inst.result] else { throw CodegenError("attention %\(inst.result): no cache planned") }
            (layout, scratch) = (region.layout, b.gep(ir.i8, cache, ir.i64(region.offset)))
            (R, past, queries, firstQuery) = (seqLen, pastLength, op.rows, op.firstRow)
            // Separate queries computed for the last row alone hold it in their first row.
            if ops.count == 3, case .value(let q) = inst.operands[0], extend.lastRowOnly.contains(q) {
                queryRow = ir.i64(0)
            } else {
                queryRow = firstQuery
            }
        } else {
            guard let full = AttentionLayout(inst, model: model, nr: gemm.shape.nr) else {
                throw CodegenError("attention %\(inst.result): heads must divide the width \(inner)")
            }
            (layout, scratch) = (full, try self.scratch(inst, "kv"))
            (R, past, queries, firstQuery) = (op.rows, ir.i64(0), op.rows, ir.i64(0))
            queryRow = firstQuery
        }
        let appending = extend != nil
        let (heads, dh, maxRows) = (layout.heads, layout.headDim, layout.maxRows)
        let causal = inst.bool("causal") ?? false
        // (row stride, column offset) of q, k and v.
        let strides: [(stride: Int, offset: Int)] = ops.count == 1
            ? [(3 * inner, 0), (3 * inner, inner), (3 * inner, 2 * inner)]
            : [(inner, 0), (inner, 0), (inner, 0)]
        let bases = ops.count == 1 ? [ops[0], ops[0], ops[0]] : ops
        let nr = gemm.shape.nr, mr = gemm.shape.mr, lanes = gemm.shape.lanes
        let vec = ir.vector(f32, lanes)

        // Flops of the whole attention (causal: about half); the packing is worth a team only
        // when the attention that follows is.
        let work = workEstimate(queries, b.add(past, R), times: 4 * inner / (causal && !appending ? 2 : 1))
        parallelFor("\(cIdentifier(inst.result)).pack", count: ir.i64(heads), work: work,
                    captures: [bases[1], bases[2], scratch, R, past]) { c, begin, end in
            let (k, v, scratch, R, past) = (c[0], c[1], c[2], c[3], c[4])
            b.forLoop(begin, end) { h in
                let keys = b.gep(f32, scratch, b.mul(h, layout.perHead))
                let values = b.gep(f32, keys, ir.i64(layout.valuesOffset))
                let keyOffsets = b.mul(b.laneIndices(lanes), ir.i32(strides[1].stride, lanes: lanes))
                if appending {
                    // K^T of keys past ..< past+R, a vector of `lanes` keys at a time: lanes
                    // outside that range are neither read nor written (masked), so the keys
                    // before stay as they are.
                    let firstVector = b.sdiv(past, ir.i64(lanes))
                    let endVector = b.sdiv(b.add(b.add(past, R), lanes - 1), ir.i64(lanes))
                    b.forLoop(firstVector, endVector) { vector in
                        let first = b.mul(vector, lanes)
                        let mask = b.and(b.not(b.prefixMask(b.sub(past, first), lanes: lanes)),
                                         b.prefixMask(b.sub(b.add(past, R), first), lanes: lanes))
                        // Lanes outside the new rows (masked off, never read) may point outside the buffer.
                        let row = b.gepAnyAddress(f32, k, b.add(b.mul(b.sub(first, past), strides[1].stride),
                                                                b.add(b.mul(h, dh), ir.i64(strides[1].offset))))
                        let rows = b.gepAnyAddress(f32, row, keyOffsets)
                        let panel = b.sdiv(first, ir.i64(nr))
                        let dst = b.gep(f32, keys, b.add(b.mul(panel, dh * nr), b.sub(first, b.mul(panel, nr))))
                        b.forLoop(dh) { kk in
                            b.maskedStore(b.maskedGather(vec, b.gepAnyAddress(f32, rows, kk), mask), b.gep(f32, dst, b.mul(kk, nr)),
                                          mask, align: lanes * DType.f32.byteSize)
                        }
                    }
                } else {
                    // K^T: panel p holds keys p*nr ..< p*nr+nr as [dh][nr]; keys past R are 0. Each
                    // vector of a panel's row kk gathers element kk of `lanes` keys (their rows are in
                    // L1 while the panel is built), so every store is a whole aligned vector.
                    let keyPanels = b.sdiv(b.add(R, nr - 1), ir.i64(nr))
                    b.forLoop(keyPanels) { p in
                        for at in stride(from: 0, to: nr, by: lanes) {
                            let first = b.add(b.mul(p, nr), ir.i64(at))
                            let mask = b.prefixMask(b.sub(R, first), lanes: lanes)
                            // Lanes past R (masked off, never read) may point past the buffer.
                            let row = b.gepAnyAddress(f32, k, b.add(b.mul(first, strides[1].stride),
                                                                    b.add(b.mul(h, dh), ir.i64(strides[1].offset))))
                            let rows = b.gepAnyAddress(f32, row, keyOffsets)
                            let dst = b.gep(f32, keys, b.add(b.mul(p, dh * nr), ir.i64(at)))
                            b.forLoop(dh) { kk in
                                b.store(b.maskedGather(vec, b.gepAnyAddress(f32, rows, kk), mask), b.gep(f32, dst, b.mul(kk, nr)),
                                        align: lanes * DType.f32.byteSize)
                            }
                        }
                    }
                }
                // V: panel q holds head columns q*nr ..< q*nr+nr as [rows][nr]; columns past dh are 0.
                for q in 0..<layout.valuePanels {
                    let columns = min(nr, dh - q * nr)
                    b.forLoop(R) { key in
                        let src = b.gep(f32, v, b.add(b.mul(key, strides[2].stride),
                                                      b.add(b.mul(h, dh), ir.i64(strides[2].offset + q * nr))))
                        let dst = b.gep(f32, values, b.add(ir.i64(q * maxRows * nr), b.mul(b.add(past, key), nr)))
                        for at in stride(from: 0, to: nr, by: lanes) {
                            let mask = b.prefixMask(ir.i64(columns - at), lanes: lanes)
                            b.store(b.maskedLoad(vec, b.gep(f32, src, ir.i64(at)), mask), b.gep(f32, dst, ir.i64(at)),
                                    align: lanes * DType.f32.byteSize)
                        }
                    }
                }
            }
        }

        // Query rows firstQuery ..< firstQuery+queries of the new ones, at positions from
        // past+firstQuery; every key up to a query's own position is visible to it.
        let blocks = b.sdiv(b.add(queries, mr - 1), ir.i64(mr))
        parallelFor("\(cIdentifier(inst.result)).attention", count: b.mul(blocks, heads), work: work,
                    captures: [bases[0], scratch, out, queries, blocks, firstQuery, past, R, queryRow]) { c, begin, end in
            let (q, scratch, out, R, blocks, firstQuery, past, newRows) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
            let queryRow = c[8]
            let firstPosition = b.add(past, firstQuery)
            let math = VectorMath(b: b, lanes: lanes)
            // Scores of one block of rows against one block of keys: mr x keyBlock on the stack.
            let keyBlock = layout.keyBlock
            let scores = b.alloca(ir.array(f32, mr * keyBlock))
            // Per row: the running maximum score, sum of exponentials, and the factor by which
            // the output so far must shrink when the maximum grows.
            let runningMax = b.alloca(ir.array(f32, mr)), runningSum = b.alloca(ir.array(f32, mr))
            let shrink = b.alloca(ir.array(f32, mr)), inverse = b.alloca(ir.array(f32, mr))
            let scale = ir.f32(1 / Double(dh).squareRoot(), lanes: lanes)
            let zero = ir.f32(0, lanes: lanes), minusInfinity = ir.f32(-.infinity, lanes: lanes)
            let noScale = ir.nullPointer
            b.forLoop(begin, end) { u in
                let h = b.sdiv(u, blocks), t0 = b.mul(b.sub(u, b.mul(h, blocks)), mr)
                let remaining = b.sub(R, t0)
                let rows = b.select(b.icmp(.slt, remaining, ir.i64(mr)), remaining, ir.i64(mr))
                let visible = causal ? b.add(b.add(firstPosition, t0), rows) : b.add(past, newRows)
                let keys = b.gep(f32, scratch, b.mul(h, layout.perHead))
                let values = b.gep(f32, keys, ir.i64(layout.valuesOffset))
                let qBlock = b.gep(f32, q, b.add(b.mul(b.add(queryRow, t0), strides[0].stride),
                                                 b.add(b.mul(h, dh), ir.i64(strides[0].offset))))
                let outBlock = b.gep(f32, out, b.add(b.mul(t0, inner), b.mul(h, dh)))
                b.forLoop(rows) { i in
                    storeF(ir.f32(-.infinity), runningMax, i)
                    storeF(ir.f32(0), runningSum, i)
                }
                let keyBlocks = b.sdiv(b.add(visible, keyBlock - 1), ir.i64(keyBlock))
                b.forLoop(keyBlocks) { kb in
                    let k0 = b.mul(kb, keyBlock)
                    let left = b.sub(visible, k0)
                    let width = b.select(b.icmp(.slt, left, ir.i64(keyBlock)), left, ir.i64(keyBlock))
                    // S = Q_block K^T over this block's keys, panel by panel.
                    let panels = b.sdiv(b.add(width, nr - 1), ir.i64(nr))
                    let firstPanel = b.sdiv(k0, ir.i64(nr))
                    forEachRowCount(rows, upTo: mr) { n in
                        let kernel = gemm.kernel(rows: n, ldx: strides[0].stride, Epilogue(), accumulate: false, finish: true)
                        b.forLoop(panels) { p in
                            b.call(kernel, [qBlock, b.gep(f32, keys, b.mul(b.add(firstPanel, p), dh * nr)), ir.i64(dh),
                                            b.gep(f32, scores, b.mul(p, nr)), ir.i64(keyBlock), ir.i64(nr),
                                            noScale, noScale, ir.i64(0), noScale, noScale])
                        }
                    }
                    // Online softmax: per row, the new maximum over the keys it may see in this
                    // block, exponentials against it (the keys it must not see get exactly 0),
                    // and the old sum shrunk to the new maximum.
                    let chunks = b.sdiv(b.add(width, lanes - 1), ir.i64(lanes))
                    b.forLoop(rows) { i in
                        let row = b.gep(f32, scores, b.mul(i, keyBlock))
                        let seen = causal ? b.sub(b.add(b.add(b.add(firstPosition, t0), i), 1), k0) : width
                        let best = b.alloca(vec)
                        b.store(minusInfinity, best, align: 4)
                        b.forLoop(chunks) { chunk in
                            let mask = b.prefixMask(b.sub(seen, b.mul(chunk, lanes)), lanes: lanes)
                            let x = b.select(mask, b.load(vec, b.gep(f32, row, b.mul(chunk, lanes)), align: 4), minusInfinity)
                            b.store(b.maxnum(x, b.load(vec, best, align: 4)), best, align: 4)
                        }
                        let old = loadF(runningMax, i)
                        let new = b.maxnum(old, b.reduceMax(b.load(vec, best, align: 4)))
                        // A row that sees no key of this block keeps its maximum (new == old);
                        // no row sees none at all, so `new` is finite from its first block on.
                        let m = b.splat(new, lanes: lanes)
                        let total = b.alloca(vec)
                        b.store(zero, total, align: 4)
                        b.forLoop(chunks) { chunk in
                            let at = b.gep(f32, row, b.mul(chunk, lanes))
                            let mask = b.prefixMask(b.sub(seen, b.mul(chunk, lanes)), lanes: lanes)
                            let e = b.select(mask, math.exp(b.fmul(b.fsub(b.load(vec, at, align: 4), m), scale)), zero)
                            b.store(e, at, align: 4)
                            b.store(b.fadd(b.load(vec, total, align: 4), e), total, align: 4)
                        }
                        let factor = b.select(b.fcmp(.oeq, old, ir.f32(-.infinity)), ir.f32(0),
                                              b.extract(math.exp(b.fmul(b.splat(b.fsub(old, new), lanes: lanes), scale)), 0))
                        let sum = b.fadd(b.fmul(loadF(runningSum, i), factor), b.reduceAdd(b.load(vec, total, align: 4)))
                        storeF(new, runningMax, i)
                        storeF(sum, runningSum, i)
                        storeF(factor, shrink, i)
                        storeF(b.fdiv(ir.f32(1), sum), inverse, i)
                    }
                    // O = O * shrink + P V_block; after the last block, times 1/sum (the
                    // kernel's row scale).
                    let first = b.icmp(.eq, kb, ir.i64(0))
                    let last = b.icmp(.eq, b.add(kb, 1), keyBlocks)
                    b.ifThen(b.icmp(.ne, kb, ir.i64(0))) {
                        b.forLoop(rows) { i in
                            let factor = b.splat(loadF(shrink, i), lanes: lanes)
                            let o = b.gep(f32, outBlock, b.mul(i, inner))
                            for at in stride(from: 0, to: dh, by: lanes) {
                                let mask = b.prefixMask(ir.i64(dh - at), lanes: lanes)
                                let p = b.gep(f32, o, ir.i64(at))
                                b.maskedStore(b.fmul(b.maskedLoad(vec, p, mask), factor), p, mask)
                            }
                        }
                    }
                    for (isFirst, isLast) in [(true, true), (true, false), (false, false), (false, true)] {
                        let when = b.and(isFirst ? first : b.not(first), isLast ? last : b.not(last))
                        b.ifThen(when) {
                            forEachRowCount(rows, upTo: mr) { n in
                                let kernel = gemm.kernel(rows: n, ldx: keyBlock, Epilogue(rowScale: true), accumulate: !isFirst,
                                                         finish: isLast)
                                // A loop, not unrolled: heads may be hundreds of columns wide.
                                b.forLoop(layout.valuePanels) { p in
                                    let column = b.mul(p, nr), left = b.sub(ir.i64(dh), column)
                                    let cols = b.select(b.icmp(.slt, left, ir.i64(nr)), left, ir.i64(nr))
                                    b.call(kernel, [scores,
                                                    b.gep(f32, values, b.add(b.mul(p, maxRows * nr), b.mul(k0, nr))), width,
                                                    b.gep(f32, outBlock, column), ir.i64(inner),
                                                    cols, noScale, noScale, ir.i64(0), inverse, noScale])
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
