// The plan of a causal model's stateful entry points (`<name>_extend`): the key/value cache each
// attention keeps between calls, the longest context it holds, and which values need computing
// for the last position only when only the last position's outputs are asked for.
//
// Nothing in the model changes: the only ops that depend on positions are attention (which reads
// the keys and values of earlier positions: the cache holds them) and the ops that read the
// positions' indices (`positions`, `rope`: they get the cache's length as an offset). Every other op
// works row by row, so the new tokens' rows go through it alone. A model whose outputs mix
// positions in another way (select_row, cls_token, patch_embed, non-causal attention) is refused.
import TIR

public struct ExtendPlan: Sendable {
    /// The most positions the cache holds: the model's sequence bound, and no more than any
    /// positions table has rows.
    public let maxContext: Int
    /// Bytes of one cache: the header, then each attention's keys and values.
    public let cacheBytes: Int
    /// Written by `<name>_cache_init` into the header and checked by every call: a cache made by
    /// other code (another model, another CPU's layout, or none) is refused, not misread.
    public let magic: UInt64
    /// Where each attention op's keys and values start in the cache, and their layout.
    let attention: [String: (offset: Int, layout: AttentionLayout)]
    /// The values computed for the last position alone when only its outputs are asked for:
    /// every value on the way from the last attention's queries to the outputs (the keys and
    /// values of every position must still be computed, for the cache).
    let lastRowOnly: Set<String>

    /// The ops whose code depends on where its rows are in the sequence (the cache's length is
    /// an argument of theirs in an extend step): attention, and the ops that read positions.
    static let readsPositions: Set<OpKind> = [.attention, .positions, .rope]

    /// The header: the magic (8 bytes), the number of positions held (int64), padding to a line.
    static let headerBytes = 64
    static let magicOffset = 0
    static let lengthOffset = 8
    /// The cache's address must be a multiple of this: its panels are read as aligned vectors.
    public static let alignment = MemoryPlan.alignment

    /// Why `model` gets no extend entry points, or nil when it does.
    public static func refusal(_ model: Module) -> String? {
        guard model.seq != nil else { return "@\(model.name) has no sequence dimension (no 'seq' declaration)" }
        let attentions = model.body.filter { $0.op == .attention }
        guard !attentions.isEmpty else { return "@\(model.name) has no attention, so no key/value cache to keep" }
        if let open = attentions.first(where: { !($0.bool("causal") ?? false) }) {
            return "attention %\(open.result) is not causal: every position reads later ones, so no new token can be added to a cache"
        }
        if let mixing = model.body.first(where: { [.selectRow, .clsToken, .patchEmbed].contains($0.op) }) {
            return "%\(mixing.result) (\(mixing.op.rawValue)) mixes positions outside attention"
        }
        for input in model.inputs where input.type.dims.first != .seq {
            return "input %\(input.name) has no sequence axis: extend appends tokens, and every input must have a row per token"
        }
        for inst in model.body where inst.type.dims.first != .seq {
            return "%\(inst.result) has no sequence axis: extend computes rows for new positions only"
        }
        return nil
    }

    /// `gemm`: the target's blocking (the cache holds K^T and V in its panels, as attention's
    /// scratch does in the full forward).
    init(_ model: Module, fusion: FusionPlan, gemm: GemmShape, prefix: String) throws {
        if let why = Self.refusal(model) { throw CodegenError("no extend entry point: " + why) }
        var context = model.maxSeqLen
        for inst in model.body where inst.op == .positions {
            if let rows = model.type(of: inst.operands[0])?.staticShape?.first {
                context = min(context, rows - (inst.int("offset") ?? 0))
            }
        }
        maxContext = context

        var offset = Self.headerBytes
        var attention: [String: (offset: Int, layout: AttentionLayout)] = [:]
        // The magic names the layout: the model's prefix, the context, the panel width, and each
        // attention's heads and head width, hashed (FNV-1a).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
        }
        mix("tfc.cache.v1 \(prefix) \(context) nr\(gemm.nr) f32")
        for inst in model.body where inst.op == .attention {
            guard let layout = AttentionLayout(inst, maxRows: context, nr: gemm.nr) else {
                throw CodegenError("attention %\(inst.result): heads must divide its width")
            }
            attention[inst.result] = (offset, layout)
            offset += MemoryPlan.rounded(layout.heads * layout.perHead * DType.f32.byteSize)
            mix(" \(layout.heads)x\(layout.headDim)")
        }
        self.attention = attention
        cacheBytes = offset
        magic = hash

        // Which rows each value must have when only the last position's outputs are wanted:
        // outputs need the last row; a row-wise op needs of its operands the rows it computes;
        // attention needs its keys and values at every new position (they go into the cache)
        // and its queries at the rows it computes.
        var needsAll: Set<String> = []
        for inst in model.body.reversed() {
            let all = needsAll.contains(inst.result)
            for (i, operand) in inst.operands.enumerated() {
                guard case .value(let name) = operand else { continue }
                let keysOrValues = inst.op == .attention && (inst.operands.count == 1 || i > 0)
                if all || keysOrValues { needsAll.insert(name) }
            }
        }
        if let output = model.outputs.first(where: { needsAll.contains($0.name) }) {
            throw CodegenError("no extend entry point: output %\(output.name) is also read as attention keys or values")
        }
        lastRowOnly = Set(model.body.map(\.result)).subtracting(needsAll)
    }
}
