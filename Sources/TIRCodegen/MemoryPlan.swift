// Where every value of a model lives at run time: outputs in the caller's buffers, the rest in
// one caller-owned workspace laid out at compile time for the largest sequence length, with
// slots reused once their value is dead.
import TIR

struct MemoryPlan {
    /// Byte offset in the workspace of each intermediate value that is materialized.
    var offsets: [(name: String, offset: Int)] = []
    var workspaceBytes = 0
    /// What the workspace would take with one slot per value (for reports and tests).
    var unsharedBytes = 0
    /// The model's outputs, with their types, in declaration order.
    var outputs: [Input] = []

    /// Buffers start on 64-byte boundaries (a cache line, one AVX-512 vector).
    static let alignment = 64

    /// `nr`: the GEMM panel width of the target (attention packs K^T and V in panels).
    init(_ model: Module, fusion: FusionPlan, nr: Int) throws {
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

        // When each op runs: a fused op runs with the linear that computes it. Only the last
        // value of a fused chain is written; the ones before it never exist in memory.
        var runsAt: [String: Int] = [:]
        for (i, inst) in model.body.enumerated() { runsAt[inst.result] = i }
        var notWritten: Set<String> = []
        for (linear, plan) in fusion.linears {
            let at = runsAt[linear] ?? 0
            for value in plan.chain { runsAt[value] = at }
            notWritten.formUnion(([linear] + plan.chain).dropLast())
        }
        // Live interval [first write, last read], in execution order; reads by a fused op happen
        // when it runs.
        var lastRead: [String: Int] = [:]
        for inst in model.body {
            let at = runsAt[inst.result] ?? 0
            for case .value(let v) in inst.operands {
                lastRead[v] = max(lastRead[v] ?? 0, at)
                // A linear after a scale-only norm reads the norm's input too.
                if case .value(let input)? = fusion.scaleOnlyNorms[v] { lastRead[input] = max(lastRead[input] ?? 0, at) }
            }
        }
        struct Slot { var offset: Int; var bytes: Int; var lastRead: Int }
        var live: [Slot] = []
        var top = 0
        func place(_ name: String, elements: Int, at start: Int, lastRead end: Int) {
            let bytes = Self.rounded(elements * 4)
            unsharedBytes += bytes
            // Slots whose value was last read before this one is written are free again. A value
            // read while this one is written (the op's own operands) keeps its slot.
            live.removeAll { $0.lastRead < start }
            let offset = Self.lowestGap(size: bytes, among: live.map { ($0.offset, $0.bytes) })
            live.append(Slot(offset: offset, bytes: bytes, lastRead: end))
            offsets.append((name, offset))
            top = max(top, offset + bytes)
        }
        let ordered = model.body.enumerated().sorted { (runsAt[$0.element.result] ?? $0.offset, $0.offset) < (runsAt[$1.element.result] ?? $1.offset, $1.offset) }
        for (_, inst) in ordered {
            let start = runsAt[inst.result] ?? 0
            // patch_embed gathers its patches into a scratch matrix for the GEMM, live only
            // while it runs.
            if inst.op == .patchEmbed, let rows = inst.type.dims.first?.fixedValue,
               let weight = model.type(of: inst.operands[1])?.staticShape {
                let k = inst.bool("transposed") == true ? weight[1] : weight[0]
                place(Self.im2colName(inst.result), elements: rows * k, at: start, lastRead: start)
            }
            // attention packs K^T and V of every head into a scratch, live only while it runs.
            if inst.op == .attention, let heads = inst.int("heads"), heads > 0 {
                let layout = AttentionLayout(maxRows: inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1,
                                             headDim: (inst.type.dims.last?.fixedValue ?? heads) / heads, nr: nr)
                place(Self.attentionName(inst.result), elements: heads * layout.perHead, at: start, lastRead: start)
            }
            guard !outputNames.contains(inst.result), !notWritten.contains(inst.result) else { continue }
            // A scale-only norm keeps one float per row.
            let elements = fusion.scaleOnlyNorms[inst.result] != nil
                ? inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1
                : inst.type.elementCount(seqLen: model.maxSeqLen)
            place(inst.result, elements: elements, at: start, lastRead: lastRead[inst.result] ?? start)
        }
        workspaceBytes = max(top, Self.alignment)
    }

    /// The workspace name of a patch_embed's gathered patches.
    static func im2colName(_ result: String) -> String { result + ".im2col" }

    /// The workspace name of an attention's packed keys and values.
    static func attentionName(_ result: String) -> String { result + ".kv" }

    static func rounded(_ bytes: Int) -> Int { (bytes + alignment - 1) / alignment * alignment }

    /// The lowest offset where `size` bytes fit between the occupied ranges (first fit).
    static func lowestGap(size: Int, among occupied: [(offset: Int, bytes: Int)]) -> Int {
        var candidate = 0
        for range in occupied.sorted(by: { $0.offset < $1.offset }) {
            if candidate + size <= range.offset { return candidate }
            candidate = max(candidate, range.offset + range.bytes)
        }
        return candidate
    }
}

/// Where attention keeps one head's packed K^T and V (in floats; see lowerAttention): K^T as
/// `keyPanels` panels of [headDim][nr] (keys past the sequence are 0), then V as `valuePanels`
/// panels of [maxRows][nr] (columns past headDim are 0). Offsets are multiples of 16 floats, so
/// every panel starts on a vector boundary.
struct AttentionLayout {
    /// Keys per step of the online softmax: 128, in whole panels (the score tile on the stack is
    /// mr x keyBlock floats, 4 KiB on AVX-512, whatever the sequence length).
    let keyBlock: Int
    let keyPanels: Int
    let valuePanels: Int
    let valuesOffset: Int
    let perHead: Int

    init(maxRows: Int, headDim: Int, nr: Int) {
        func round16(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        keyBlock = (128 + nr - 1) / nr * nr
        keyPanels = (maxRows + nr - 1) / nr
        valuePanels = (headDim + nr - 1) / nr
        valuesOffset = round16(keyPanels * headDim * nr)
        perHead = valuesOffset + round16(valuePanels * maxRows * nr)
    }
}
