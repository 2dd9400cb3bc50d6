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

    /// The table, in value order.
    public static let all: [Status] = [.ok, .badSequenceLength, .badTokenId, .nullPointer, .badAlignment, .unsupportedCPU]

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
}

/// Code for one CPU in an object: the CPU's name and the extensions (TargetSpec.checkedFeatures)
/// a CPU must have to run it.
public struct CodeVariant: Sendable, Hashable {
    public var cpu: String
    public var features: [String]

    public init(_ target: TargetSpec) {
        cpu = target.cpu
        features = target.checkedFeatures
    }
}

/// One buffer argument of the entry point: the TIR value it holds and its type.
public struct EntryBuffer: Sendable, Hashable {
    public var name: String
    public var type: TensorType
}

/// `<prefix>_forward_threads(...)`: when the object checks its CPU, calls the code of the first
/// CPU in `entry.variants` whose extensions this one has (`forwards` in the same order), or
/// returns ERR_CPU; else calls the one forward function. Also builds `<prefix>_cpu`.
func buildThreadsEntry(_ entry: EntryPoint, calling forwards: [Function], in ir: IRModule) -> Function {
    precondition(forwards.count == entry.variants.count, "a forward function per CPU")
    let type = forwards[0].type
    let fn = ir.addFunction(entry.threadsSymbol, type)
    ir.addAttribute("nounwind", to: fn)
    let b = IRBuilder(ir, fn)
    let args = (0..<type.paramCount).map { fn.param($0) }
    guard entry.checksCPU else {
        b.ret(b.call(forwards[0], args))
        buildCPUName(entry, choice: nil, in: ir)
        return fn
    }
    compileForBaseline(fn, in: ir)
    let choose = buildCPUChoice(entry.variants.map(\.features), in: ir)
    let choice = b.call(choose, [])
    for (i, forward) in forwards.enumerated() {
        let run = b.newBlock("cpu.\(i)"), next = b.newBlock("cpu.\(i).not")
        b.condBr(b.icmp(.eq, choice, ir.i32(i)), run, next)
        b.position(at: run)
        b.ret(b.call(forward, args))
        b.position(at: next)
    }
    b.ret(ir.i32(Int(Status.unsupportedCPU.rawValue)))
    buildCPUName(entry, choice: choose, in: ir)
    return fn
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
