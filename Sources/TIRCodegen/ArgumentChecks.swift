// The forward function's argument checks, emitted before any work: a call that fails one
// returns its status (EntryPoint.swift) and writes nothing.
import LLVMBridge
import TIR

extension FunctionLowering {
    /// Checks every argument before any work, so that a failed call writes nothing: NULL
    /// pointers, the sequence length, every token id against the table it indexes.
    func checkArguments() throws {
        let null = ir.nullPointer
        var anyNull: Value?
        for i in 0..<(model.inputs.count + plan.outputs.count + 1) {
            let p = i < model.inputs.count ? fn.param(i) : fn.param(i + (model.seq != nil ? 1 : 0))
            let isNull = b.icmp(.eq, p, null)
            anyNull = anyNull.map { b.or($0, isNull) } ?? isNull
        }
        if let anyNull { b.returnIf(anyNull, status(.nullPointer)) }
        if let seqLen, let seq = model.seq {
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

    private func status(_ s: Status) -> Value { ir.i32(Int(s.rawValue)) }
}
