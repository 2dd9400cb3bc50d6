// The C ABI of a compiled model: symbol names, argument order, status codes, workspace size.
import LLVMBridge
import TIR

/// Status codes returned by a compiled model's entry point.
public enum Status: Int32, Sendable, CaseIterable {
    case ok = 0
    /// `seq_len` is below 1 or above the model's maximum.
    case badSequenceLength = 1
    /// A token id is outside [0, vocabulary).
    case badTokenId = 2
    /// An input, output or workspace pointer is NULL.
    case nullPointer = 3

    public var cName: String {
        switch self {
        case .ok: return "OK"
        case .badSequenceLength: return "ERR_SEQ_LEN"
        case .badTokenId: return "ERR_TOKEN_ID"
        case .nullPointer: return "ERR_NULL"
        }
    }

    public var meaning: String {
        switch self {
        case .ok: return "success"
        case .badSequenceLength: return "sequence length out of range"
        case .badTokenId: return "token id out of range"
        case .nullPointer: return "NULL input, output or workspace pointer"
        }
    }
}

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

    public var forwardSymbol: String { prefix + "_forward" }
    /// The same with a thread count as the last argument (0: every online core).
    public var threadsSymbol: String { prefix + "_forward_threads" }
    /// `int32_t <prefix>_forward_packed(void *const *args, int64_t seq_len, int32_t threads)` with args =
    /// inputs, outputs, workspace: one signature for every model, used by the JIT runner.
    public var packedSymbol: String { prefix + "_forward_packed" }
}

/// One buffer argument of the entry point: the TIR value it holds and its type.
public struct EntryBuffer: Sendable, Hashable {
    public var name: String
    public var type: TensorType
}

/// A C identifier made from a model name: `gpt-tiny.v2` -> `gpt_tiny_v2`.
public func cIdentifier(_ name: String) -> String {
    var s = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    if s.isEmpty || s.first!.isNumber { s = "m_" + s }
    return s
}

/// `<prefix>_forward(...)`: the threaded entry with threads = 0 (every online core).
func buildDefaultThreadsEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let count = forward.type.paramCount - 1
    let fn = ir.addFunction(entry.forwardSymbol, ir.functionType(ir.i32, (0..<count).map { forward.type.param($0) }))
    let b = IRBuilder(ir, fn)
    b.ret(b.call(forward, (0..<count).map { fn.param($0) } + [ir.i32(0)]))
}

/// `int32_t <prefix>_forward_packed(void *const *args, int64_t seq_len, int32_t threads)`:
/// unpacks the pointer array and calls the forward function.
func buildPackedEntry(_ entry: EntryPoint, calling forward: Function, in ir: IRModule) {
    let fn = ir.addFunction(entry.packedSymbol, ir.functionType(ir.i32, [ir.ptr, ir.i64, ir.i32]))
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
