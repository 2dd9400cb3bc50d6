// Where every value of a model lives at run time: outputs in the caller's buffers, the rest in
// one caller-owned workspace laid out at compile time for the largest sequence length.
import TIR

struct MemoryPlan {
    /// Byte offset in the workspace of each intermediate value.
    var offsets: [(name: String, offset: Int)] = []
    /// Byte offset of the attention score row (one row of the largest sequence).
    var scratchOffset = 0
    var workspaceBytes = 0
    /// The model's outputs, with their types, in declaration order.
    var outputs: [Input] = []

    /// Buffers start on 64-byte boundaries (a cache line, one AVX-512 vector).
    static let alignment = 64

    init(_ model: Module) throws {
        let results = Dictionary(model.body.map { ($0.result, $0) }, uniquingKeysWith: { first, _ in first })
        for out in model.outputs {
            guard let inst = results[out.name] else {
                throw CodegenError("output %\(out.name) must be the result of an op")
            }
            guard !outputs.contains(where: { $0.name == out.name }) else {
                throw CodegenError("output %\(out.name) is listed twice")
            }
            outputs.append(Input(name: out.name, type: inst.type, loc: out.loc))
        }
        let outputNames = Set(outputs.map(\.name))
        var top = 0
        func reserve(_ bytes: Int) -> Int {
            let at = top
            top += (bytes + Self.alignment - 1) / Self.alignment * Self.alignment
            return at
        }
        // One slot per intermediate value, sized for the maximum sequence length. (Reuse of
        // slots by liveness is a later optimization; correctness does not depend on it.)
        for inst in model.body where !outputNames.contains(inst.result) {
            offsets.append((inst.result, reserve(inst.type.elementCount(seqLen: model.maxSeqLen) * 4)))
        }
        let longestRows = model.body.filter { $0.op == .attention }
            .map { $0.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1 }.max() ?? 0
        scratchOffset = reserve(longestRows * 4)
        workspaceBytes = max(top, Self.alignment)
    }
}
