// The memory plan: where every value of a model lives at run time. Outputs in the caller's
// buffers, the rest in one caller-owned workspace laid out at compile time for the largest
// sequence length, with slots reused once their value is dead.
import TIR

public struct MemoryPlan: Sendable, CustomStringConvertible {
    /// A workspace slice: an intermediate value or an op's scratch, live from the op that writes
    /// it (`first`, an index into the model's body) to the last op that reads it.
    struct Slot: Sendable {
        var name: String
        var offset: Int
        var bytes: Int
        var first: Int
        var last: Int
    }

    /// Every materialized intermediate value and scratch, in the order they are written.
    var slots: [Slot] = []
    var workspaceBytes = 0
    /// What the workspace would take with one slot per value (for reports and tests).
    var unsharedBytes = 0
    /// The model's outputs, with their types, in declaration order.
    var outputs: [EntryBuffer] = []

    /// Buffers start on 64-byte boundaries (a cache line, one AVX-512 vector).
    static let alignment = 64

    /// The largest workspace planned (a caller, and the JIT, must allocate it for every call).
    static let maxWorkspaceBytes = 16 << 30

    /// Values that live elsewhere, for the printout: outputs (the caller's buffers) and values
    /// computed inside a GEMM and never written (the fusion plan's chains).
    private var elsewhere: [(name: String, place: String)] = []

    /// `gemm`: the target's GEMM blocking (attention packs K^T and V in its panels).
    init(_ model: Module, fusion: FusionPlan, gemm: GemmShape) throws {
        let results = Dictionary(model.body.map { ($0.result, $0) }, uniquingKeysWith: { first, _ in first })
        for out in model.outputs {
            guard let inst = results[out.name] else {
                throw CodegenError("output %\(out.name) must be the result of an op")
            }
            guard !outputs.contains(where: { $0.name == out.name }) else {
                throw CodegenError("output %\(out.name) is listed twice")
            }
            outputs.append(EntryBuffer(name: out.name, type: inst.type))
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
        var live: [Slot] = []
        var top = 0
        func place(_ name: String, bytes size: Int, at start: Int, lastRead end: Int) {
            let bytes = Self.rounded(size)
            unsharedBytes += bytes
            // Slots whose value was last read before this one is written are free again. A value
            // read while this one is written (the op's own operands) keeps its slot.
            live.removeAll { $0.last < start }
            let offset = Self.lowestGap(size: bytes, among: live.map { ($0.offset, $0.bytes) })
            let slot = Slot(name: name, offset: offset, bytes: bytes, first: start, last: end)
            live.append(slot)
            slots.append(slot)
            top = max(top, offset + bytes)
        }
        let ordered = model.body.enumerated().sorted { (runsAt[$0.element.result] ?? $0.offset, $0.offset) < (runsAt[$1.element.result] ?? $1.offset, $1.offset) }
        for (_, inst) in ordered {
            let start = runsAt[inst.result] ?? 0
            // Scratch an op asks for (OpLowering.scratch) is live only while it runs.
            for request in OpLowering.of(inst.op).scratch(inst, model, gemm) {
                place(Self.scratchName(inst.result, request.name), bytes: request.bytes, at: start, lastRead: start)
            }
            if outputNames.contains(inst.result) {
                elsewhere.append((inst.result, "output: the caller's buffer"))
                continue
            }
            if notWritten.contains(inst.result) {
                elsewhere.append((inst.result, "not written: computed inside the GEMM of its fused chain"))
                continue
            }
            // A scale-only norm keeps one float per row.
            let elements = fusion.scaleOnlyNorms[inst.result] != nil
                ? inst.type.dims.first?.size(seqLen: model.maxSeqLen) ?? 1
                : inst.type.elementCount(seqLen: model.maxSeqLen)
            place(inst.result, bytes: elements * inst.type.dtype.byteSize, at: start,
                  lastRead: lastRead[inst.result] ?? start)
        }
        workspaceBytes = max(top, Self.alignment)
        guard workspaceBytes <= Self.maxWorkspaceBytes else {
            let seq = model.seq.map { " for 'seq \($0.symbol) <= \($0.max)' (line \($0.loc.line))" } ?? ""
            throw CodegenError("the workspace\(seq) would take \(workspaceBytes >> 20) MiB, more than the \(Self.maxWorkspaceBytes >> 30) GiB tfc lays out: lower the maximum sequence length")
        }
    }

    /// The workspace name of scratch `name` of the op computing `result`.
    static func scratchName(_ result: String, _ name: String) -> String { result + "." + name }

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

    /// The plan as text (`tfc compile --emit memory-plan`): each workspace slice with its byte
    /// range and the ops (by index in the body) during which it is live, then the values that
    /// live elsewhere.
    public var description: String {
        var lines = ["// memory plan: workspace \(workspaceBytes) bytes (\(unsharedBytes) without reuse), 64-byte aligned slices",
                     "// [offset, end) bytes  live ops  value"]
        for slot in slots {
            let range = "[\(slot.offset), \(slot.offset + slot.bytes))"
            lines.append(range.padding(toLength: max(range.count, 20), withPad: " ", startingAt: 0)
                         + "  \(slot.first)...\(slot.last)".padding(toLength: 10, withPad: " ", startingAt: 0) + "  %\(slot.name)")
        }
        for (name, place) in elsewhere { lines.append("%\(name): \(place)") }
        lines.append("parameters: constants in the object (GEMM weights packed into panels)")
        return lines.joined(separator: "\n") + "\n"
    }
}
