// The C ABI of a compiled model: symbol names, argument order, status codes, workspace size.
import LLVMBridge
import TIR

/// A status code returned by a compiled model's entry points. Every code of the generated ABI
/// is one row of `Status.all` (name, value, meaning): the argument checks return them, the header
/// prints them as `<PREFIX>_<name>`, and the JIT runner explains them. A new code is a new row.
public struct Status: Sendable, Hashable, CustomStringConvertible {
    /// The C name after the prefix: `OK`, `ERR_...`.
    public let cName: String
    public let rawValue: Int32
    public let meaning: String

    private init(_ cName: String, _ rawValue: Int32, _ meaning: String) {
        self.cName = cName
        self.rawValue = rawValue
        self.meaning = meaning
    }

    // The meanings are what `tfc run` and the header say: seq_len below 1 or above the model's
    // maximum; a token id outside [0, vocabulary); a NULL pointer argument; a workspace whose
    // address is not a multiple of `workspaceAlignment` (ArgumentChecks.swift says why).
    public static let ok = Status("OK", 0, "success")
    public static let badSequenceLength = Status("ERR_SEQ_LEN", 1, "sequence length out of range")
    public static let badTokenId = Status("ERR_TOKEN_ID", 2, "token id out of range")
    public static let nullPointer = Status("ERR_NULL", 3, "NULL input, output or workspace pointer")
    public static let badAlignment = Status("ERR_ALIGNMENT", 4, "workspace not aligned to 64 bytes")
    public static let unsupportedCPU = Status("ERR_CPU", 5, "this CPU lacks an instruction set extension the code was compiled for")
    // For the extend entry points: n new tokens would take the cache past its maximum context;
    // a cache that `_cache_init` did not make for this code (or that was overwritten since).
    public static let cacheFull = Status("ERR_CACHE_FULL", 6, "the new tokens do not fit in the cache")
    public static let badCache = Status("ERR_CACHE", 7, "not a cache initialized by this model's cache_init, or corrupted")
    // For an object that reads its weights from a file: no weights set yet, or not this object's file.
    public static let badWeights = Status("ERR_WEIGHTS", 8, "no weights set, or not the weights file this object was compiled with")

    /// The table, in value order.
    public static let all: [Status] = [.ok, .badSequenceLength, .badTokenId, .nullPointer, .badAlignment, .unsupportedCPU,
                                       .cacheFull, .badCache, .badWeights]

    /// The code with this value, if there is one.
    public init?(rawValue: Int32) {
        guard let s = Self.all.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = s
    }

    public var description: String { "\(rawValue) (\(meaning))" }
}

/// The alignment, in bytes, the entry points require of the workspace (ERR_ALIGNMENT otherwise).
public let workspaceAlignment = MemoryPlan.alignment

/// How to call a compiled model:
///
///     int32_t <prefix>_forward(const in0 *, ..., [int64_t seq_len,] float *out0, ..., void *workspace);
///
/// inputs in declaration order, then the sequence length (only for models with a `seq`), then
/// outputs, then a caller-owned workspace of `workspaceBytes` bytes (64-byte aligned). The
/// function keeps no state between calls: concurrent calls with distinct workspaces are safe.
public struct EntryPoint: Sendable {
    public var prefix: String
    public var inputs: [EntryBuffer]
    public var outputs: [EntryBuffer]
    public var seq: SeqDecl?
    public var workspaceBytes: Int
    /// The CPUs the code was compiled for, in the order of preference: the first call runs the
    /// first whose extensions this CPU has, or returns ERR_CPU if none (CPUCheck.swift).
    public var variants: [CodeVariant]

    /// The first (or only) CPU, and the extensions a CPU must have to run its code.
    public var cpu: String { variants[0].cpu }
    public var cpuFeatures: [String] { variants[0].features }
    /// Whether the entry points ask the CPU anything: several CPUs, or one beyond the baseline.
    public var checksCPU: Bool { variants.count > 1 || !variants[0].features.isEmpty }

    public var forwardSymbol: String { prefix + "_forward" }
    /// The same with a thread count as the last argument (0: every online core).
    public var threadsSymbol: String { prefix + "_forward_threads" }
    /// `int32_t <prefix>_forward_packed(void *const *args, int64_t seq_len, int32_t threads)` with args =
    /// inputs, outputs, workspace: one signature for every model, used by the JIT runner.
    public var packedSymbol: String { prefix + "_forward_packed" }
    /// `const char *<prefix>_cpu(void)`: the CPU whose code runs on this machine (NULL: none).
    public var cpuSymbol: String { prefix + "_cpu" }

    // The extend entry points (a causal model's, ExtendPlan), when every CPU's code has them:
    //   int32_t <prefix>_extend(inputs..., int64_t n, void *cache, outputs..., void *workspace, int32_t threads)
    // appends n positions to the cache and writes the outputs of the last one; `_extend_all` of
    // all n. `_cache_init(cache)`, `_cache_length(cache)`, `_cache_truncate(cache, length)`.
    public var hasExtend: Bool { variants.allSatisfy { $0.cache != nil } }
    /// The most positions a cache holds, and its size in bytes (the largest of the CPUs' layouts).
    public var maxContext: Int? { variants.compactMap { $0.cache?.maxContext }.min() }
    public var cacheBytes: Int { variants.compactMap { $0.cache?.bytes }.max() ?? 0 }
    public var extendSymbol: String { prefix + "_extend" }
    public var extendAllSymbol: String { prefix + "_extend_all" }
    /// `int32_t <prefix>_extend_packed(void *const *args, int64_t n, int32_t last_only, int32_t threads)`
    /// with args = inputs, cache, outputs, workspace (the JIT's).
    public var extendPackedSymbol: String { prefix + "_extend_packed" }
    public var cacheInitSymbol: String { prefix + "_cache_init" }
    public var cacheLengthSymbol: String { prefix + "_cache_length" }
    public var cacheTruncateSymbol: String { prefix + "_cache_truncate" }

    /// For an object compiled with `--weights-file`: the file it reads (its size and id), and
    /// `int32_t <prefix>_set_weights(const void *weights, uint64_t size)`, which every other
    /// entry point needs called first (ERR_WEIGHTS otherwise).
    public var weightsFile: WeightsFileInfo?
    public var setWeightsSymbol: String { prefix + "_set_weights" }
}

/// Code for one CPU in an object: the CPU's name and the extensions (TargetSpec.checkedFeatures)
/// a CPU must have to run it.
public struct CodeVariant: Sendable, Hashable {
    public var cpu: String
    public var features: [String]
    /// The layout of its key/value cache (its magic names it), for a model with extend entry points.
    public var cache: CacheLayout?

    public init(_ target: TargetSpec, extend: ExtendPlan? = nil) {
        cpu = target.cpu
        features = target.checkedFeatures
        cache = extend.map { CacheLayout(magic: $0.magic, bytes: $0.cacheBytes, maxContext: $0.maxContext) }
    }
}

public struct CacheLayout: Sendable, Hashable {
    public var magic: UInt64
    public var bytes: Int
    public var maxContext: Int
}

/// One buffer argument of the entry point: the TIR value it holds and its type.
public struct EntryBuffer: Sendable, Hashable {
    public var name: String
    public var type: TensorType
}

/// `<prefix>_forward_threads(...)`: when the object checks its CPU, calls the code of the first
/// CPU in `entry.variants` whose extensions this one has (`forwards` in the same order), or
/// returns ERR_CPU; else calls the one forward function. Also builds `<prefix>_cpu`.
func buildThreadsEntry(_ entry: EntryPoint, calling forwards: [Function], weights: Value?, in ir: IRModule) -> Function {
    precondition(forwards.count == entry.variants.count, "a forward function per CPU")
    let type = forwards[0].type
    let fn = ir.addFunction(entry.threadsSymbol, type)
    ir.addAttribute("nounwind", to: fn)
    let b = IRBuilder(ir, fn)
    let args = (0..<type.paramCount).map { fn.param($0) }
    if let weights { returnUnlessWeightsSet(b, ir, weights) }
    guard entry.checksCPU else {
        b.ret(b.call(forwards[0], args))
        buildCPUName(entry, choice: nil, in: ir)
        return fn
    }
    compileForBaseline(fn, in: ir)
    let choose = buildCPUChoice(entry.variants.map(\.features), in: ir)
    returnCallOfChosen(b, ir, choice: b.call(choose, []), forwards, args)
    buildCPUName(entry, choice: choose, in: ir)
    return fn
}

/// Returns the result of `functions[choice]` called with `args`, or ERR_CPU when `choice` (the
/// index of the CPU chosen, -1 for none) names none of them.
private func returnCallOfChosen(_ b: IRBuilder, _ ir: IRModule, choice: Value, _ functions: [Function], _ args: [Value]) {
    for (i, function) in functions.enumerated() {
        let run = b.newBlock("cpu.\(i)"), next = b.newBlock("cpu.\(i).not")
        b.condBr(b.icmp(.eq, choice, ir.i32(i)), run, next)
        b.position(at: run)
        b.ret(b.call(function, args))
        b.position(at: next)
    }
    b.ret(ir.i32(Int(Status.unsupportedCPU.rawValue)))
}

/// `const char *<prefix>_cpu(void)`: the name of the CPU whose code runs here (of `choice`, when
/// the object checks), NULL when the CPU has none's extensions.
private func buildCPUName(_ entry: EntryPoint, choice: Function?, in ir: IRModule) {
    let fn = ir.addFunction(entry.cpuSymbol, ir.functionType(ir.ptr, []))
    ir.addAttribute("nounwind", to: fn)
    if choice != nil { compileForBaseline(fn, in: ir) }  // x86 only: the only objects that check
    let b = IRBuilder(ir, fn)
    let names = entry.variants.enumerated().map { i, variant in
        Array(variant.cpu.utf8 + [0]).withUnsafeBytes { ir.addConstantBytes("tfc.cpu.name.\(i)", $0) }
    }
    guard let choice else {
        b.ret(names[0])
        return
    }
    let chosen = b.call(choice, [])
    for (i, name) in names.enumerated() { b.returnIf(b.icmp(.eq, chosen, ir.i32(i)), name) }
    b.ret(ir.nullPointer)
}

/// `<prefix>_forward(...)`: the threaded entry with threads = 0 (every online core).
func buildDefaultThreadsEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let count = forward.type.paramCount - 1
    let fn = ir.addFunction(entry.forwardSymbol, ir.functionType(ir.i32, (0..<count).map { forward.type.param($0) }))
    if entry.checksCPU { compileForBaseline(fn, in: ir) }
    let b = IRBuilder(ir, fn)
    b.ret(b.call(forward, (0..<count).map { fn.param($0) } + [ir.i32(0)]))
}

/// `int32_t <prefix>_forward_packed(void *const *args, int64_t seq_len, int32_t threads)`:
/// unpacks the pointer array and calls the forward function.
func buildPackedEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let fn = ir.addFunction(entry.packedSymbol, ir.functionType(ir.i32, [ir.ptr, ir.i64, ir.i32]))
    if entry.checksCPU { compileForBaseline(fn, in: ir) }
    let b = IRBuilder(ir, fn)
    let args = fn.param(0)
    var pointers: [Value] = []
    for i in 0..<(entry.inputs.count + entry.outputs.count + 1) {
        pointers.append(b.load(ir.ptr, b.gep(ir.ptr, args, ir.i64(i)), align: 8))
    }
    var callArgs = Array(pointers[0..<entry.inputs.count])
    if entry.seq != nil { callArgs.append(fn.param(1)) }
    callArgs += pointers[entry.inputs.count...]
    callArgs.append(fn.param(2))
    b.ret(b.call(forward, callArgs))
}

// MARK: The extend entry points

/// `<prefix>_extend` and `<prefix>_extend_all` (and with `packed`, `<prefix>_extend_packed`),
/// each calling the step function of the CPU chosen as the forward entry points do (`steps` in
/// the order of `entry.variants`), and the cache functions.
func buildExtendEntries(_ entry: EntryPoint, calling steps: [Function], weights: Value?, packed: Bool, in ir: IRModule) {
    precondition(steps.count == entry.variants.count, "a step function per CPU")
    // The step's parameters: inputs, n, outputs, workspace, cache, last_only, threads.
    let inputs = entry.inputs.count, outputs = entry.outputs.count
    let choose = entry.checksCPU ? buildCPUChoice(entry.variants.map(\.features), in: ir) : nil
    let i32 = ir.i32, i64 = ir.i64, ptr = ir.ptr

    /// Calls the chosen CPU's step with `args` (in the step's order), or returns ERR_CPU.
    func callChosen(_ b: IRBuilder, _ args: [Value]) {
        guard let choose else {
            b.ret(b.call(steps[0], args))
            return
        }
        returnCallOfChosen(b, ir, choice: b.call(choose, []), steps, args)
    }
    func publicFunction(_ name: String, _ type: IRType) -> (Function, IRBuilder) {
        let fn = ir.addFunction(name, type)
        ir.addAttribute("nounwind", to: fn)
        if choose != nil { compileForBaseline(fn, in: ir) }
        return (fn, IRBuilder(ir, fn))
    }
    /// An entry point that runs the model: it needs the weights.
    func runningFunction(_ name: String, _ type: IRType) -> (Function, IRBuilder) {
        let (fn, b) = publicFunction(name, type)
        if let weights { returnUnlessWeightsSet(b, ir, weights) }
        return (fn, b)
    }

    // The C order: inputs, n, cache, outputs, workspace, threads.
    let publicType = ir.functionType(i32, [IRType](repeating: ptr, count: inputs) + [i64, ptr]
                                     + [IRType](repeating: ptr, count: outputs + 1) + [i32])
    for (symbol, lastOnly) in [(entry.extendSymbol, 1), (entry.extendAllSymbol, 0)] {
        let (fn, b) = runningFunction(symbol, publicType)
        let p = { fn.param($0) }
        callChosen(b, (0..<inputs).map(p) + [p(inputs)] + (0...outputs).map { p(inputs + 2 + $0) }
                   + [p(inputs + 1), ir.i32(lastOnly), p(inputs + outputs + 3)])
    }
    if packed {
        let (fn, b) = runningFunction(entry.extendPackedSymbol, ir.functionType(i32, [ptr, i64, i32, i32]))
        let pointers = (0..<(inputs + outputs + 2)).map { b.load(ptr, b.gep(ptr, fn.param(0), ir.i64($0)), align: 8) }
        callChosen(b, Array(pointers[0..<inputs]) + [fn.param(1)] + Array(pointers[(inputs + 1)...])
                   + [pointers[inputs], fn.param(2), fn.param(3)])
    }

    let magicOffset = ir.i64(ExtendPlan.magicOffset), lengthOffset = ir.i64(ExtendPlan.lengthOffset)
    let ok = ir.i32(Int(Status.ok.rawValue))
    func status(_ s: Status) -> Value { ir.i32(Int(s.rawValue)) }
    /// The chosen CPU's cache layout: its magic and maximum context, or nil values with ERR_CPU
    /// returned (`failure`) when the CPU has no variant.
    func chosenLayout(_ b: IRBuilder, failure: Value) -> (magic: Value, maxContext: Value) {
        guard let choose else {
            let cache = entry.variants[0].cache!
            return (ir.i64(Int(bitPattern: UInt(cache.magic))), ir.i64(cache.maxContext))
        }
        let choice = b.call(choose, [])
        b.returnIf(b.icmp(.slt, choice, ir.i32(0)), failure)
        var magic = ir.i64(0), context = ir.i64(0)
        for (i, variant) in entry.variants.enumerated() {
            let here = b.icmp(.eq, choice, ir.i32(i))
            magic = b.select(here, ir.i64(Int(bitPattern: UInt(variant.cache!.magic))), magic)
            context = b.select(here, ir.i64(variant.cache!.maxContext), context)
        }
        return (magic, context)
    }
    func misaligned(_ b: IRBuilder, _ p: Value) -> Value {
        b.icmp(.ne, b.and(b.ptrToInt(p, to: i64), ir.i64(ExtendPlan.alignment - 1)), ir.i64(0))
    }
    /// The cache's length, or -1 when it is not one this code made (or is corrupted).
    func validLength(_ b: IRBuilder, _ cache: Value, failure: Value) -> Value {
        let (magic, context) = chosenLayout(b, failure: failure)
        let stored = b.load(i64, b.gep(ir.i8, cache, magicOffset), align: 8)
        let length = b.load(i64, b.gep(ir.i8, cache, lengthOffset), align: 8)
        let bad = b.or(b.icmp(.ne, stored, magic), b.or(b.icmp(.slt, length, ir.i64(0)), b.icmp(.sgt, length, context)))
        return b.select(bad, ir.i64(-1), length)
    }

    // int32_t <prefix>_cache_init(void *cache): an empty cache for this CPU's code.
    do {
        let (fn, b) = publicFunction(entry.cacheInitSymbol, ir.functionType(i32, [ptr]))
        let cache = fn.param(0)
        b.returnIf(b.icmp(.eq, cache, ir.nullPointer), status(.nullPointer))
        b.returnIf(misaligned(b, cache), status(.badAlignment))
        let (magic, _) = chosenLayout(b, failure: status(.unsupportedCPU))
        b.store(magic, b.gep(ir.i8, cache, magicOffset), align: 8)
        b.store(ir.i64(0), b.gep(ir.i8, cache, lengthOffset), align: 8)
        b.ret(ok)
    }
    // int64_t <prefix>_cache_length(const void *cache): positions held, or -1.
    do {
        let (fn, b) = publicFunction(entry.cacheLengthSymbol, ir.functionType(i64, [ptr]))
        let cache = fn.param(0)
        b.returnIf(b.or(b.icmp(.eq, cache, ir.nullPointer), misaligned(b, cache)), ir.i64(-1))
        b.ret(validLength(b, cache, failure: ir.i64(-1)))
    }
    // int32_t <prefix>_cache_truncate(void *cache, int64_t length): keep the first `length` positions.
    do {
        let (fn, b) = publicFunction(entry.cacheTruncateSymbol, ir.functionType(i32, [ptr, i64]))
        let (cache, length) = (fn.param(0), fn.param(1))
        b.returnIf(b.icmp(.eq, cache, ir.nullPointer), status(.nullPointer))
        b.returnIf(misaligned(b, cache), status(.badAlignment))
        let current = validLength(b, cache, failure: status(.unsupportedCPU))
        b.returnIf(b.icmp(.slt, current, ir.i64(0)), status(.badCache))
        b.returnIf(b.or(b.icmp(.slt, length, ir.i64(0)), b.icmp(.sgt, length, current)), status(.badSequenceLength))
        b.store(length, b.gep(ir.i8, cache, lengthOffset), align: 8)
        b.ret(ok)
    }
}

// MARK: Weights read from a file

/// Returns ERR_WEIGHTS while no weights file is set (`weights`, the pointer global, is NULL).
private func returnUnlessWeightsSet(_ b: IRBuilder, _ ir: IRModule, _ weights: Value) {
    let base = b.load(ir.ptr, weights, align: 8)
    b.returnIf(b.icmp(.eq, base, ir.nullPointer), ir.i32(Int(Status.badWeights.rawValue)))
}

/// `int32_t <prefix>_set_weights(const void *weights, uint64_t size)`: checks that `weights` is a
/// 64-byte aligned copy of the file this object was compiled with (its size, and the header's
/// magic, version, size and id: WeightStore.swift) and makes the code read it. Returns OK,
/// ERR_NULL, ERR_ALIGNMENT or ERR_WEIGHTS (and then keeps the weights it had).
func buildSetWeights(_ entry: EntryPoint, info: WeightsFileInfo, pointer: Value, in ir: IRModule) {
    let i64 = ir.i64
    let fn = ir.addFunction(entry.setWeightsSymbol, ir.functionType(ir.i32, [ir.ptr, i64]))
    ir.addAttribute("nounwind", to: fn)
    let b = IRBuilder(ir, fn)
    let (data, size) = (fn.param(0), fn.param(1))
    func status(_ s: Status) -> Value { ir.i32(Int(s.rawValue)) }
    func word(_ value: UInt64) -> Value { ir.i64(Int(bitPattern: UInt(value))) }
    b.returnIf(b.icmp(.eq, data, ir.nullPointer), status(.nullPointer))
    let misaligned = b.and(b.ptrToInt(data, to: i64), ir.i64(WeightsFile.alignment - 1))
    b.returnIf(b.icmp(.ne, misaligned, ir.i64(0)), status(.badAlignment))
    b.returnIf(b.icmp(.ne, size, ir.i64(info.bytes)), status(.badWeights))
    let expected: [(offset: Int, value: UInt64)] = [(0, WeightsFile.magicWord), (8, WeightsFile.versionWord),
                                                    (16, UInt64(info.bytes)), (24, info.id)]
    for (offset, value) in expected {
        let stored = b.load(i64, b.gep(ir.i8, data, ir.i64(offset)), align: 8)
        b.returnIf(b.icmp(.ne, stored, word(value)), status(.badWeights))
    }
    b.store(data, pointer, align: 8)
    b.ret(status(.ok))
}
