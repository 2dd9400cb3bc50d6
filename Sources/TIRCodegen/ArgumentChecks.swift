// The forward function's argument checks, emitted before any work: a call that fails one
// returns its status (EntryPoint.swift) and writes nothing.
import LLVMBridge
import TIR

extension FunctionLowering {
    /// Checks every argument before any work, so that a failed call writes nothing: NULL
    /// pointers, the sequence length, every token id against the table it indexes; in an extend
    /// step also the cache (its alignment, its header, room for the new tokens).
    func checkArguments() throws {
        let null = ir.nullPointer
        var anyNull: Value?
        let workspaceIndex = model.inputs.count + (model.seq != nil ? 1 : 0) + plan.outputs.count
        var pointers = (0..<model.inputs.count).map { fn.param($0) }
        pointers += (workspaceIndex - plan.outputs.count...workspaceIndex).map { fn.param($0) }
        if let cache { pointers.append(cache) }
        for p in pointers {
            let isNull = b.icmp(.eq, p, null)
            anyNull = anyNull.map { b.or($0, isNull) } ?? isNull
        }
        if let anyNull { b.returnIf(anyNull, status(.nullPointer)) }
        // The workspace must be 64-byte aligned, and this is checked rather than tolerated: the
        // memory plan puts every slot on a 64-byte boundary from the workspace's start, and the
        // code states that alignment to LLVM (packed K/V panels are loaded as whole aligned
        // vectors, `align lanes * 4`), which is what lets it use aligned vector moves. Accepting
        // any 16-byte aligned pointer (what malloc guarantees) would mean giving that up on every
        // workspace access or realigning inside the caller's buffer (a different size contract);
        // a status costs one test per call and leaves the valid calls' code as it was.
        // The cache's panels are read as aligned vectors too.
        for p in [fn.param(workspaceIndex)] + (cache.map { [$0] } ?? []) {
            let misaligned = b.and(b.ptrToInt(p, to: ir.i64), ir.i64(workspaceAlignment - 1))
            b.returnIf(b.icmp(.ne, misaligned, ir.i64(0)), status(.badAlignment))
        }
        if let extend, let cache, let seqLen {
            try checkCache(cache, extend, adding: seqLen)
        } else if let seqLen, let seq = model.seq {
            b.returnIf(b.or(b.icmp(.slt, seqLen, ir.i64(1)), b.icmp(.sgt, seqLen, ir.i64(seq.max))),
                       status(.badSequenceLength))
        }
        // Every token id read by an embedding must index its table: check them all up front.
        var vocab: [String: Int] = [:]
        for inst in model.body where inst.op == .embedding {
            guard case .value(let ids) = inst.operands[0], let table = model.type(of: inst.operands[1])?.staticShape
            else { throw CodegenError("embedding %\(inst.result): ids must be an input and the table static") }
            vocab[ids] = min(vocab[ids] ?? Int.max, table[0])
        }
        for (ids, size) in vocab.sorted(by: { $0.key < $1.key }) {
            guard let input = model.inputs.first(where: { $0.name == ids }), let base = buffers[ids] else {
                throw CodegenError("token ids %\(ids) must be a model input")
            }
            b.forLoop(rows(input.type)) { i in
                let id = b.load(ir.i32, b.gep(ir.i32, base, i))
                b.returnIf(b.icmp(.uge, id, ir.i32(size)), status(.badTokenId))  // unsigned: negatives too
            }
        }
    }

    /// A cache that `<name>_cache_init` made for this code and that holds 0...maxContext
    /// positions (ERR_CACHE otherwise: its length then bounds no access), at least one new token
    /// (ERR_SEQ_LEN), and room for them all (ERR_CACHE_FULL).
    private func checkCache(_ cache: Value, _ extend: ExtendPlan, adding count: Value) throws {
        let magic = b.load(ir.i64, b.gep(ir.i8, cache, ir.i64(ExtendPlan.magicOffset)), align: 8)
        let length = b.load(ir.i64, b.gep(ir.i8, cache, ir.i64(ExtendPlan.lengthOffset)), align: 8)
        let foreign = b.icmp(.ne, magic, ir.i64(Int(bitPattern: UInt(extend.magic))))
        let corrupt = b.or(b.icmp(.slt, length, ir.i64(0)), b.icmp(.sgt, length, ir.i64(extend.maxContext)))
        b.returnIf(b.or(foreign, corrupt), status(.badCache))
        b.returnIf(b.icmp(.slt, count, ir.i64(1)), status(.badSequenceLength))
        b.returnIf(b.icmp(.sgt, count, b.sub(ir.i64(extend.maxContext), length)), status(.cacheFull))
    }

    private func status(_ s: Status) -> Value { ir.i32(Int(s.rawValue)) }
}
