// Lowers a verified TIR module to its forward function: argument checks, then one call per op to
// that op's own function (`tfc.op.<result>`), whose code comes from the op table in
// OpLowering.swift, over buffers laid out by the memory plan. A function per op keeps every
// function LLVM optimizes small, so compile time grows with the number of ops, not faster (one
// function for the whole model made LLVM's per-function passes superlinear), and a profile of the
// compiled code names its ops.
import Foundation
import LLVMBridge
import TIR

public struct CodegenError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct CodegenOptions: Sendable {
    /// C symbol prefix; defaults to the model's name.
    public var prefix: String?
    /// Also emit `<prefix>_forward_packed` (the JIT runner calls it).
    public var packedEntry: Bool
    /// Where the weights go instead of being embedded as constants (nil: embedded): host memory
    /// the JIT points the code at, or a weights file the object reads through
    /// `<prefix>_set_weights`. Either spares LLVM a copy of the weights.
    public var weightStore: WeightStore?
    /// The most weight bytes the module may embed (with no store): a larger model is refused,
    /// pointing at --weights-file.
    public var maxEmbeddedBytes = maxEmbeddedWeightBytes
    /// Parallel loops estimated below this many flops run on the calling thread (0: every loop
    /// with more than one chunk is split; tests use it to run every parallel path).
    public var minParallelWork: Int
    /// Time every op's function: the forward function adds the nanoseconds of each call of the
    /// i-th op function to element i of an int64 array at the external symbol `profileSymbol`
    /// (for the JIT, which defines it; one caller at a time).
    public var profile: Bool
    /// Give `compute = bf16` products the paired layout of `vdpbf16ps` even on a target without
    /// it (through a two-FMA emulation, slower than the default there): for tests of that path.
    public var pairedBF16: Bool
    /// Also build the extend entry points over a key/value cache (ExtendPlan), for a model that
    /// can have them (LoweringPlans.extend); with `packedEntry`, also `<prefix>_extend_packed`.
    public var extendEntries: Bool

    public init(prefix: String? = nil, packedEntry: Bool = false, weightStore: WeightStore? = nil,
                minParallelWork: Int = defaultMinParallelWork, profile: Bool = false, pairedBF16: Bool = false,
                extendEntries: Bool = false) {
        self.extendEntries = extendEntries
        self.profile = profile
        self.pairedBF16 = pairedBF16
        self.prefix = prefix
        self.packedEntry = packedEntry
        self.weightStore = weightStore
        self.minParallelWork = minParallelWork
    }
}

/// The symbol of the op times array of a profiled build (CodegenOptions.profile).
let profileSymbol = "tfc.profile"

/// The ops that get a function of their own, in call order: the entries of the profile array.
func profiledOps(_ model: Module, fusion: FusionPlan) -> [Instruction] {
    model.body.filter { !fusion.fused.contains($0.result) }
}

/// The most ops one model may have (GPT-2 XL, 48 blocks, has about 500): a bound on compile time
/// and memory, which grow linearly with the op count (scripts/compile_time.py measures it).
public let maxCompiledOps = 20_000

/// The most weight bytes an object embeds: its code reaches its data through 32-bit PC-relative
/// offsets (x86-64's and AArch64's default code models), so code and data together must stay
/// below 2 GiB; the rest of this bound is room for the code.
public let maxEmbeddedWeightBytes = (1 << 31) - (64 << 20)

/// `n` bytes as "1.9 GB" (decimal units, as `ls -lh --si` and the docs print them).
func formatBytes(_ n: Int) -> String {
    n >= 1_000_000_000 ? String(format: "%.2f GB", Double(n) / 1e9)
        : n >= 1_000_000 ? String(format: "%.1f MB", Double(n) / 1e6) : "\(n) bytes"
}

/// The plans a model's code is built from, each printable on its own (`tfc compile --emit`).
public struct LoweringPlans: Sendable {
    public let fusion: FusionPlan
    public let memory: MemoryPlan
    /// The extend entry points' cache, for a causal model (nil, with the reason in
    /// `extendRefusal`, for any other).
    public let extend: ExtendPlan?
    public let extendRefusal: String?
    /// How the code is called; for an object with code for several CPUs, the first CPU's plans
    /// with every CPU in `entry.variants` and the largest workspace of them.
    public internal(set) var entry: EntryPoint

    /// Plans `model` for `target`: what is fused, where every value lives, how it is called.
    public init(_ model: Module, target: TargetSpec, prefix: String? = nil) throws {
        guard model.body.count <= maxCompiledOps else {
            throw CodegenError("@\(model.name) has \(model.body.count) ops; tfc compiles models of at most \(maxCompiledOps)")
        }
        fusion = FusionPlan(model)
        memory = try MemoryPlan(model, fusion: fusion, gemm: GemmShape.forTarget(target))
        let cPrefix = cIdentifier(prefix ?? model.name)
        do {
            extend = try ExtendPlan(model, fusion: fusion, gemm: GemmShape.forTarget(target), prefix: cPrefix)
            extendRefusal = nil
        } catch let error as CodegenError {
            extend = nil
            extendRefusal = error.description
        }
        entry = EntryPoint(prefix: cPrefix,
                           inputs: model.inputs.map { EntryBuffer(name: $0.name, type: $0.type) },
                           outputs: memory.outputs, seq: model.seq, workspaceBytes: memory.workspaceBytes,
                           variants: [CodeVariant(target, extend: extend)])
    }
}

/// Builds the model's entry point(s) into `ir`, its weights embedded or placed in
/// `options.weightStore`; returns what the object checks of its weights file, when it has one.
@discardableResult
func lowerModel(_ model: Module, weights: Weights, plans: LoweringPlans, into ir: IRModule, target: TargetSpec,
                options: CodegenOptions) throws -> WeightsFileInfo? {
    try lowerModel(model, weights: weights, plans: [plans], entry: plans.entry, into: ir, targets: [target], options: options)
}

/// The same with code for each of `targets` (plans[i] for targets[i]): every CPU's functions in a
/// namespace of their own (`tfc.<cpu>.`), the weights shared where the layouts agree, and entry
/// points that run the first CPU's code that this one can (EntryPoint.variants).
func lowerModel(_ model: Module, weights: Weights, plans: [LoweringPlans], entry: EntryPoint, into ir: IRModule,
                targets: [TargetSpec], options: CodegenOptions) throws -> WeightsFileInfo? {
    let constants = ConstantPool(store: options.weightStore, symbolPrefix: "tfc.\(entry.prefix).weight.")
    var forwards: [Function] = [], steps: [Function] = []
    let withExtend = options.extendEntries && entry.hasExtend
    for (target, plans) in zip(targets, plans) {
        let namespace = targets.count == 1 ? "tfc." : "tfc.\(cIdentifier(target.cpu))."
        let lowering = try FunctionLowering(model: model, weights: weights, plans: plans, ir: ir, target: target,
                                            minParallelWork: options.minParallelWork, profile: options.profile,
                                            pairedBF16: options.pairedBF16, namespace: namespace, constants: constants)
        forwards.append(try lowering.build())
        if withExtend {
            let step = try FunctionLowering(model: model, weights: weights, plans: plans, ir: ir, target: target,
                                            minParallelWork: options.minParallelWork, pairedBF16: options.pairedBF16,
                                            namespace: namespace, constants: constants, extend: plans.extend,
                                            sibling: lowering)
            steps.append(try step.build())
        }
    }
    // Code that reads a weights file runs only once `<prefix>_set_weights` stored its address.
    let fileStore = options.weightStore.flatMap { $0.isFile ? $0 : nil }
    let weightsPointer = fileStore.map { _ in ir.addPointerGlobal("tfc.weights") }
    let threads = buildThreadsEntry(entry, calling: forwards, weights: weightsPointer, in: ir)
    buildDefaultThreadsEntry(entry, calling: threads, in: ir)
    if options.packedEntry { buildPackedEntry(entry, calling: threads, in: ir) }
    if withExtend { buildExtendEntries(entry, calling: steps, weights: weightsPointer, packed: options.packedEntry, in: ir) }
    try constants.place(in: ir, maxEmbeddedBytes: options.maxEmbeddedBytes)
    if let store = options.weightStore, store.isObjectSection { _ = try store.finish() }
    guard let fileStore, let weightsPointer else { return nil }
    let info = try fileStore.finish()
    try fileStore.redirect(in: ir, through: weightsPointer)
    buildSetWeights(entry, info: info, pointer: weightsPointer, in: ir)
    return info
}

/// The weight constants of one module, by name: every CPU's code in an object reads the same
/// global for the same layout of a weight. While the code is lowered each is a placeholder
/// symbol with the means to make its bytes; `place` then makes the bytes of those the code uses
/// (an op's operand list names its weight even where the code reads only the packed panels):
/// embedded constants, or with a store, its external symbols.
final class ConstantPool {
    private struct Pending {
        let name: String
        let symbol: String
        let placeholder: Value
        let makeBytes: () -> [UInt8]
    }

    private var pending: [Pending] = []
    private var globals: [String: Value] = [:]
    let store: WeightStore?
    /// The start of every weight's symbol: named after the model, so that the objects of two
    /// models link into one program.
    let symbolPrefix: String
    init(store: WeightStore? = nil, symbolPrefix: String = "tfc.weight.") {
        self.store = store
        self.symbolPrefix = symbolPrefix
    }

    /// The symbol the code reads the weight `name` through; `makeBytes` is called by `place`,
    /// once, if the code uses it.
    func constant(_ name: String, in ir: IRModule, _ makeBytes: @escaping () -> [UInt8]) -> Value {
        if let shared = globals[name] { return shared }
        let symbol = "\(symbolPrefix)\(pending.count)"
        let placeholder = ir.addExternalConstant(symbol, alignment: WeightsFile.alignment)
        // Defined in the object itself (a section appended to it): reached PC-relative, not exported.
        if store?.isObjectSection == true { ir.makeHiddenAndLocal(placeholder) }
        pending.append(Pending(name: name, symbol: symbol, placeholder: placeholder, makeBytes: makeBytes))
        globals[name] = placeholder
        return placeholder
    }

    /// Makes the bytes of every weight the code uses, in the order the code asked for them, and
    /// drops the others; the embedded ones become private constants (at most `maxEmbeddedBytes`
    /// of them, else an error that points at --weights-file), the others go to the store.
    func place(in ir: IRModule, maxEmbeddedBytes: Int) throws {
        var embeddedBytes = 0
        for weight in pending {
            guard ir.hasUses(weight.placeholder) else {
                ir.deleteGlobal(weight.placeholder)
                continue
            }
            let bytes = weight.makeBytes()
            if let store, !store.isObjectSection {
                try store.add(bytes, symbol: weight.symbol, global: weight.placeholder)
                continue
            }
            embeddedBytes += bytes.count
            if embeddedBytes > maxEmbeddedBytes {
                throw CodegenError("the weights take more than \(formatBytes(maxEmbeddedBytes)) in the object's layout,"
                                   + " the most an object embeds (its code reaches its data with 32-bit offsets): write"
                                   + " them to a file beside the object with --weights-file FILE")
            }
            if let store {
                try store.add(bytes, symbol: weight.symbol, global: weight.placeholder)
                continue
            }
            let constant = bytes.withUnsafeBytes { ir.addConstantBytes(weight.name, $0) }
            ir.replaceAllUses(of: weight.placeholder, with: constant)
            ir.deleteGlobal(weight.placeholder)
        }
        pending = []
    }
}

/// What one op's lowering is given: the instruction, the addresses and types of its operands, the
/// buffer it writes and its row and column counts.
struct OpContext {
    let inst: Instruction
    /// Operand addresses, in operand order.
    let operands: [Value]
    /// Operand types (a parameter's element type may be bf16; every other value is f32 or i32).
    let types: [TensorType]
    /// Where the op's code stores: its own buffer, or for a linear with fused ops after it, the
    /// buffer of the last of them (FusionPlan.destination).
    let out: Value
    /// Rows of the result at run time, and elements per row.
    let rows: Value
    let cols: Int
    /// Which of the call's rows the op computes first: 0, or in an extend call that wants only
    /// the last position's outputs, the last row for the ops that lead only there
    /// (ExtendPlan.lastRowOnly). Its operands with every row are addressed from that row on;
    /// attention, which needs every row of its keys and values, gets them whole.
    let firstRow: Value
    /// The position of the first row computed: firstRow, plus the cache's length in an extend call.
    let position: Value

    /// The optional operand at `index`, when present.
    func optional(_ index: Int) -> Value? { index < operands.count ? operands[index] : nil }
    func optionalType(_ index: Int) -> DType { index < types.count ? types[index].dtype : .f32 }
}

/// The lowering of one forward function. Every TIR value is a row-major buffer: the
/// argument pointer for inputs and outputs, a workspace slice otherwise, a constant global for
/// parameters. Rows may be the runtime sequence length; every other axis is static. Each op is
/// emitted into a function of its own (see `build`), called from the forward function with the
/// same buffers; each op family's code is an extension of this class in its own file under Ops/.
final class FunctionLowering {
    let model: Module
    let weights: Weights
    let plan: MemoryPlan
    let fusion: FusionPlan
    let entry: EntryPoint
    let ir: IRModule
    let target: TargetSpec
    let fn: Function
    /// The builder of the function being written: the forward function, an op's function, or a
    /// task function while a parallel loop body is built (see parallelFor).
    var b: IRBuilder
    /// The current function's input and output pointers, by value name.
    var buffers: [String: Value] = [:]
    /// Where each value and scratch the memory plan puts in the workspace starts.
    let slotOffsets: [String: Int]
    var params: [String: Value] = [:]
    /// The current function's sequence length, workspace, thread count (1...maxThreads,
    /// computed on entry to the forward function from its `threads` argument) and thread team
    /// record (see ThreadTeam.swift, in the forward function's frame).
    var seqLen: Value?
    var workspace: Value!
    var threads: Value!
    var teamRecord: Value!
    lazy var teamFunctions: TeamFunctions = buildTeamFunctions()
    let gemm: GemmKernels
    /// Weight constants in a kernel's layout, by parameter name and layout.
    var packed: [String: Value] = [:]
    /// For the extend function (nil for the forward one): the cache's plan, and in the current
    /// function the cache's address, its length on entry (`past`), whether only the last
    /// position's outputs are wanted (i1), and while an op restricted to that row is lowered, the
    /// rows to skip in the buffers that have every row (`rowOffset`, see `buffer`).
    let extend: ExtendPlan?
    var cache: Value?
    var past: Value?
    var lastOnly: Value?
    var rowOffset: Value?
    /// The function of each op lowered so far, by result; and the forward function's lowering
    /// that an extend step shares them with.
    var opFunctions: [String: Function] = [:]
    let sibling: FunctionLowering?
    /// Bytes per row of every input and value that has a row per new token in an extend call.
    private lazy var fullRowBytes: [String: Int] = {
        guard let extend else { return [:] }
        var bytes: [String: Int] = [:]
        for input in model.inputs where input.type.dims.first == .seq {
            bytes[input.name] = cols(input.type) * input.type.dtype.byteSize
        }
        for inst in model.body where inst.type.dims.first == .seq && !extend.lastRowOnly.contains(inst.result) {
            // A scale-only norm's buffer keeps one float per row (MemoryPlan).
            bytes[inst.result] = fusion.scaleOnlyNorms[inst.result] != nil ? DType.f32.byteSize
                : cols(inst.type) * inst.type.dtype.byteSize
        }
        return bytes
    }()
    /// The start of every function's name: `tfc.`, or `tfc.<cpu>.` for each of several CPUs'
    /// code in one object.
    let namespace: String
    /// The module's weight constants by name, shared by the code of every CPU in it.
    let constants: ConstantPool

    let minParallelWork: Int
    let profile: Bool
    let pairedBF16: Bool
    /// Every value's and parameter's type by name (Module.type(of:) searches the body: a
    /// lookup per operand would make lowering quadratic in the op count).
    private lazy var valueTypes: [String: TensorType] = Dictionary(
        model.inputs.map { ($0.name, $0.type) } + model.body.map { ($0.result, $0.type) }, uniquingKeysWith: { a, _ in a })
    private lazy var paramTypes: [String: TensorType] = Dictionary(
        model.params.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })

    /// `extend`: build the extend function over a cache (ExtendPlan) rather than the forward
    /// function, sharing `sibling`'s GEMM kernels and thread team (the forward function's
    /// lowering for the same CPU) and naming its own functions `<namespace>extend.`.
    init(model: Module, weights: Weights, plans: LoweringPlans, ir: IRModule, target: TargetSpec,
         minParallelWork: Int, profile: Bool = false, pairedBF16: Bool = false,
         namespace: String = "tfc.", constants: ConstantPool = ConstantPool(),
         extend: ExtendPlan? = nil, sibling: FunctionLowering? = nil) throws {
        self.extend = extend
        self.sibling = sibling
        self.namespace = extend == nil ? namespace : namespace + "extend."
        self.constants = constants
        self.profile = profile
        self.pairedBF16 = pairedBF16
        self.minParallelWork = minParallelWork
        self.model = model
        self.weights = weights
        self.plan = plans.memory
        self.fusion = plans.fusion
        self.entry = plans.entry
        self.ir = ir
        self.target = target
        slotOffsets = Dictionary(plans.memory.slots.map { ($0.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        var paramTypes = [IRType](repeating: ir.ptr, count: model.inputs.count)
        if model.seq != nil { paramTypes.append(ir.i64) }
        paramTypes += [IRType](repeating: ir.ptr, count: plan.outputs.count + 1)
        if extend != nil { paramTypes += [ir.ptr, ir.i32] }  // the cache, and whether only the last row is wanted
        paramTypes.append(ir.i32)
        // The model's code; the public entry points (EntryPoint.swift) check the CPU and call it.
        fn = ir.addFunction(self.namespace + (extend == nil ? "forward" : "step"), ir.functionType(ir.i32, paramTypes),
                            linkage: .internal)
        b = IRBuilder(ir, fn)
        gemm = sibling?.gemm ?? GemmKernels(ir: ir, target: target, namespace: namespace)
        if let sibling { teamFunctions = sibling.teamFunctions }
        let index = bindArguments(of: fn)
        if extend != nil {
            cache = fn.param(index + 1)
            lastOnly = b.icmp(.ne, fn.param(index + 2), ir.i32(0))
        }
        threads = fn.param(fn.type.paramCount - 1)
        ir.addCodeAttributes(to: fn, target: target)
        for i in 0..<(index + 1) where !(model.seq != nil && i == model.inputs.count) {
            ir.addAttribute("nocapture", to: fn, param: i)
            ir.addAttribute("noalias", to: fn, param: i)
        }
    }

    func build() throws -> Function {
        try checkArguments()
        if let cache { past = b.load(ir.i64, b.gep(ir.i8, cache, ir.i64(ExtendPlan.lengthOffset)), align: 8) }
        threads = resolveThreadCount(fn.param(fn.type.paramCount - 1))
        teamRecord = makeTeam()
        let opType = ir.functionType(ir.void, [IRType](repeating: ir.ptr, count: model.inputs.count)
                                     + (model.seq != nil ? [ir.i64] : [])
                                     + [IRType](repeating: ir.ptr, count: plan.outputs.count + 1)
                                     + (extend != nil ? [ir.ptr, ir.i64, ir.i1] : []) + [ir.i64, ir.ptr])
        let times = profile ? ir.addExternalGlobal(profileSymbol) : nil
        for (i, inst) in profiledOps(model, fusion: fusion).enumerated() {
            let start = profile ? nanoseconds() : nil
            if let shared = sharedOpFunction(inst) {
                b.call(shared, (0..<leadingParameters).map { fn.param($0) } + [threads, teamRecord])
                continue
            }
            try lowerInOwnFunction(inst, type: opType)
            if let times, let start {
                let slot = b.gep(ir.i64, times, ir.i64(i))
                b.store(b.add(b.load(ir.i64, slot, align: 8), b.sub(nanoseconds(), start)), slot, align: 8)
            }
        }
        endTeam(teamRecord)
        // The cache holds the new positions only once all of them are written.
        if let cache, let past, let seqLen {
            b.store(b.add(past, seqLen), b.gep(ir.i8, cache, ir.i64(ExtendPlan.lengthOffset)), align: 8)
        }
        b.ret(ir.i32(Int(Status.ok.rawValue)))
        return fn
    }

    /// Parameters of the forward function and of every op's function up to the workspace.
    private var leadingParameters: Int { model.inputs.count + (model.seq != nil ? 1 : 0) + plan.outputs.count + 1 }

    /// In an extend step, the forward's own function for an op whose code an extend step would
    /// repeat: one that works row by row on every new row, the same whatever its rows'
    /// positions (ExtendPlan.readsPositions), and not restricted to the last row. It takes the
    /// same arguments (n as the sequence length), so the step calls it, and the object holds
    /// one copy of most of the model's code.
    private func sharedOpFunction(_ inst: Instruction) -> Function? {
        guard let extend, let sibling, !ExtendPlan.readsPositions.contains(inst.op),
              !extend.lastRowOnly.contains(fusion.destination(of: inst.result)) else { return nil }
        return sibling.opFunctions[inst.result]
    }

    /// Emits `inst` into a function of its own, `void tfc.op.<result>(inputs..., seq_len?,
    /// outputs..., workspace, [cache, past, last_only,] threads, team)`, kept out of line
    /// (`noinline`: the inliner would otherwise fold every op back into one giant function),
    /// and calls it.
    private func lowerInOwnFunction(_ inst: Instruction, type: IRType) throws {
        let op = ir.addFunction(namespace + "op.\(cIdentifier(inst.result))", type, linkage: .internal)
        opFunctions[inst.result] = op
        ir.addCodeAttributes(to: op, target: target)
        ir.addAttribute("noinline", to: op)
        let pointers = leadingParameters
        for i in 0..<pointers where !(model.seq != nil && i == model.inputs.count) {
            ir.addAttribute("nocapture", to: op, param: i)
            ir.addAttribute("noalias", to: op, param: i)
        }
        // The forward function's arguments up to the workspace come in the same order; an extend
        // step's then pass the cache, its length on entry and whether only the last row is wanted.
        let state = extend != nil ? [cache!, past!, lastOnly!] : []
        b.call(op, (0..<pointers).map { fn.param($0) } + state + [threads, teamRecord])

        let outer = (b, buffers, seqLen, workspace, threads, teamRecord, cache, past, lastOnly)
        defer { (b, buffers, seqLen, workspace, threads, teamRecord, cache, past, lastOnly) = outer }
        b = IRBuilder(ir, op)
        let index = bindArguments(of: op) + state.count
        if extend != nil { (cache, past, lastOnly) = (op.param(index - 2), op.param(index - 1), op.param(index)) }
        threads = op.param(index + 1)
        teamRecord = op.param(index + 2)
        try lower(inst)
        b.retVoid()
    }

    /// Takes the buffers, the sequence length and the workspace from `function`'s leading
    /// parameters (inputs..., [seq_len,] outputs..., workspace), as the forward function and every
    /// op's function have them; returns the workspace's index.
    private func bindArguments(of function: Function) -> Int {
        buffers = [:]
        var index = 0
        for input in model.inputs {
            buffers[input.name] = function.param(index)
            index += 1
        }
        if model.seq != nil {
            seqLen = function.param(index)
            index += 1
        }
        for output in plan.outputs {
            buffers[output.name] = function.param(index)
            index += 1
        }
        workspace = function.param(index)
        return index
    }

    /// CLOCK_MONOTONIC in nanoseconds (for profiled builds).
    private func nanoseconds() -> Value {
        let clock = ir.declare("clock_gettime", ir.functionType(ir.i32, [ir.i32, ir.ptr]))
        let timespec = b.alloca(ir.array(ir.i64, 2))
        b.call(clock, [ir.i32(1), timespec])  // CLOCK_MONOTONIC is 1 on Linux
        let seconds = b.load(ir.i64, timespec, align: 8), nanos = b.load(ir.i64, b.gep(ir.i64, timespec, ir.i64(1)), align: 8)
        return b.add(b.mul(seconds, 1_000_000_000), nanos)
    }

    /// The address of value (or scratch) `name` in the current function: an argument, or a
    /// workspace slice computed where it is asked for. While an op computes only the last row
    /// (`rowOffset`), a buffer with every row is addressed from that row; the op's own buffer,
    /// and every other value restricted to that row, holds just it, from its start.
    func buffer(_ name: String) -> Value? {
        guard let base = buffers[name] ?? slotOffsets[name].map({ b.gep(ir.i8, workspace, ir.i64($0)) }) else { return nil }
        guard let rowOffset, let bytes = fullRowBytes[name] else { return base }
        return b.gep(ir.i8, base, b.mul(rowOffset, bytes))
    }

    /// The dispatch: the op's operands and destination resolved, then its entry of the op table.
    private func lower(_ inst: Instruction) throws {
        let destination = fusion.destination(of: inst.result)
        var rows = rows(inst.type), firstRow = ir.i64(0)
        if let extend, let lastOnly, let seqLen, extend.lastRowOnly.contains(destination) {
            firstRow = b.select(lastOnly, b.sub(seqLen, ir.i64(1)), ir.i64(0))
            rows = b.select(lastOnly, ir.i64(1), seqLen)
            // Attention addresses its operands itself: its keys and values have every row.
            if inst.op != .attention { rowOffset = firstRow }
        }
        defer { rowOffset = nil }
        guard let out = buffer(destination) else { throw CodegenError("no buffer planned for %\(destination)") }
        let context = OpContext(inst: inst, operands: try inst.operands.map(pointer), types: try inst.operands.map(type),
                                out: out, rows: rows, cols: cols(inst.type), firstRow: firstRow,
                                position: past.map { b.add($0, firstRow) } ?? firstRow)
        try OpLowering.of(inst.op).lower(self)(context)
    }

    // MARK: Addressing

    /// The number of rows (first axis) of a value at run time.
    func rows(_ type: TensorType) -> Value {
        switch type.dims.first {
        case .seq?: return seqLen ?? ir.i64(1)
        case .fixed(let n)?: return ir.i64(n)
        case nil: return ir.i64(1)
        }
    }

    /// Elements per row: the product of every axis after the first (all static).
    func cols(_ type: TensorType) -> Int { type.dims.dropFirst().reduce(1) { $0 * ($1.fixedValue ?? 1) } }

    func pointer(_ operand: Operand) throws -> Value {
        switch operand {
        case .value(let name):
            guard let p = buffer(name) else { throw CodegenError("no buffer for %\(name)") }
            return p
        case .param(let name):
            if let p = params[name] { return p }
            guard let tensor = weights[name] else { throw CodegenError("no weights for @\(name)") }
            let global = constant("w." + name, tensor.bytes)
            params[name] = global
            return global
        }
    }

    /// The workspace scratch `name` that `inst` asked for (OpLowering.scratch).
    func scratch(_ inst: Instruction, _ name: String) throws -> Value {
        guard let p = buffer(MemoryPlan.scratchName(inst.result, name)) else {
            throw CodegenError("%\(inst.result): no scratch '\(name)' in the memory plan")
        }
        return p
    }

    /// Weight bytes as an embedded constant (one per name in the module: the code of several CPUs
    /// shares the layouts they have in common), or as an external symbol of the weight store.
    /// The bytes are made once the whole module is lowered, only if the code uses them
    /// (ConstantPool.place).
    func constant(_ name: String, _ makeBytes: @autoclosure @escaping () -> [UInt8]) -> Value {
        constants.constant(name, in: ir, makeBytes)
    }

    func type(_ operand: Operand) throws -> TensorType {
        let t: TensorType?
        switch operand {
        case .value(let name): t = valueTypes[name]
        case .param(let name): t = paramTypes[name]
        }
        guard let t else { throw CodegenError("unknown operand \(operand)") }
        return t
    }

    // MARK: Loads and stores by element type

    var f32: IRType { ir.f32 }

    /// The LLVM type an element of `dtype` is stored as (bf16 as its 16 bits).
    func storageType(_ dtype: DType) -> IRType {
        switch dtype {
        case .f32: return ir.f32
        case .bf16: return ir.i16
        case .i32: return ir.i32
        }
    }

    /// base[index] of an f32 buffer.
    func loadF(_ base: Value, _ index: Value) -> Value { b.load(f32, b.gep(f32, base, index)) }
    func storeF(_ v: Value, _ base: Value, _ index: Value) { b.store(v, b.gep(f32, base, index)) }

    /// base[index] of a buffer of `dtype` elements, as a float (bf16 widened exactly).
    func loadFloat(_ base: Value, _ index: Value, _ dtype: DType) -> Value {
        switch dtype {
        case .bf16: return TIRCodegen.widenBF16(b, b.load(ir.i16, b.gep(ir.i16, base, index), align: 2), lanes: 1)
        default: return loadF(base, index)
        }
    }

    /// A vector of `lanes` floats from base[index...], lanes off in `mask` reading 0.
    func loadFloats(_ base: Value, _ index: Value, _ dtype: DType, lanes: Int, mask: Value) -> Value {
        TIRCodegen.loadFloats(b, base, index, dtype, lanes: lanes, mask: mask)
    }

    /// Copies `count` elements of `dtype` from src into the f32 buffer dst, widening bf16.
    func copyFloats(to dst: Value, from src: Value, _ dtype: DType, count: Value) {
        switch dtype {
        case .bf16:
            b.forLoop(count) { i in storeF(loadFloat(src, i, .bf16), dst, i) }
        default:
            let memcpy = ir.intrinsic("llvm.memcpy", [ir.ptr, ir.ptr, ir.i64])
            b.call(memcpy, [dst, src, b.mul(count, dtype.byteSize), ir.i1(false)])
        }
    }

    /// Accumulates `body` over 0..<count into a float starting at `initial`; reassociation is
    /// allowed so that LLVM may vectorize the reduction.
    func sum(_ count: Value, from initial: Value, _ term: (Value) -> Value) -> Value {
        let acc = b.alloca(f32)
        b.store(initial, acc)
        b.forLoop(count) { i in
            b.store(b.fadd(b.load(f32, acc), term(i), fast: true), acc)
        }
        return b.load(f32, acc)
    }

    /// Calls body(offset, mask) over `count` floats in vector chunks of `lanes`: full ones in a
    /// loop, then one masked tail.
    func forEachChunk(_ count: Int, lanes: Int, _ body: (Value, Value) -> Void) {
        let all = b.prefixMask(ir.i64(lanes), lanes: lanes)
        b.forLoop(count / lanes) { c in body(b.mul(c, lanes), all) }
        if count % lanes != 0 { body(ir.i64(count - count % lanes), b.prefixMask(ir.i64(count % lanes), lanes: lanes)) }
    }

    /// The same over a run-time count.
    func forEachChunk(_ count: Value, lanes: Int, _ body: (Value, Value) -> Void) {
        let chunks = b.sdiv(b.add(count, lanes - 1), ir.i64(lanes))
        b.forLoop(chunks) { c in
            let at = b.mul(c, lanes)
            body(at, b.prefixMask(b.sub(count, at), lanes: lanes))
        }
    }

    /// x * y * times at run time, for comparing with minParallelWork: every factor is clamped
    /// first (to 2^16, resp. 2^20), so the product cannot overflow and is at least the
    /// threshold whenever a factor was clamped.
    func workEstimate(_ x: Value, _ y: Value, times: Int) -> Value {
        func clamp(_ v: Value) -> Value { b.select(b.icmp(.sgt, v, ir.i64(1 << 16)), ir.i64(1 << 16), v) }
        return b.mul(b.mul(clamp(x), clamp(y)), ir.i64(min(times, 1 << 20)))
    }

    /// Emits `body(n)` for the n in 1...max that equals the run-time `count` (kernels have a
    /// compile-time row count).
    func forEachRowCount(_ count: Value, upTo max: Int, _ body: (Int) -> Void) {
        for n in 1...max { b.ifThen(b.icmp(.eq, count, ir.i64(n))) { body(n) } }
    }
}

extension HostTensor {
    /// The elements as stored in memory (little-endian, as every supported target is).
    var bytes: [UInt8] {
        switch storage {
        case .f32(let v): return v.withUnsafeBytes { Array($0) }
        case .bf16(let v): return v.withUnsafeBytes { Array($0) }
        case .i32(let v): return v.withUnsafeBytes { Array($0) }
        }
    }
}
