// A key/value cache of a JIT-compiled causal model, and the extend calls that fill it: what
// `tfc generate` and the tests use, through the same entry points a C caller gets.
import LLVMBridge
import TIR

/// The extend entry points of a JIT-compiled model (JITModel(extend: true)).
struct ExtendFunctions {
    typealias Packed = @convention(c) (UnsafePointer<UnsafeMutableRawPointer?>?, Int64, Int32, Int32) -> Int32
    let extend: Packed
    let cacheInit: @convention(c) (UnsafeMutableRawPointer?) -> Int32
    let cacheLength: @convention(c) (UnsafeRawPointer?) -> Int64
    let cacheTruncate: @convention(c) (UnsafeMutableRawPointer?, Int64) -> Int32

    init(_ jit: JIT, _ entry: EntryPoint) throws {
        extend = unsafeBitCast(try jit.lookup(entry.extendPackedSymbol), to: Packed.self)
        cacheInit = unsafeBitCast(try jit.lookup(entry.cacheInitSymbol),
                                  to: (@convention(c) (UnsafeMutableRawPointer?) -> Int32).self)
        cacheLength = unsafeBitCast(try jit.lookup(entry.cacheLengthSymbol),
                                    to: (@convention(c) (UnsafeRawPointer?) -> Int64).self)
        cacheTruncate = unsafeBitCast(try jit.lookup(entry.cacheTruncateSymbol),
                                      to: (@convention(c) (UnsafeMutableRawPointer?, Int64) -> Int32).self)
    }
}

/// One conversation with a causal model: its cache, and the buffers of an extend call (inputs and
/// outputs for up to the model's sequence bound of new positions, the workspace), allocated once.
/// Not for concurrent use; sessions of one model are independent of each other.
public final class CacheSession: @unchecked Sendable {
    public let model: JITModel
    private let functions: ExtendFunctions
    private let cache: UnsafeMutableRawPointer
    private let inputs: [UnsafeMutableRawPointer]
    private let outputs: [UnsafeMutableRawPointer]
    private let workspace: UnsafeMutableRawPointer
    /// The most positions one call may add (the workspace was planned for them).
    public let maxNewPositions: Int

    /// An empty cache for `model`, which must have been built with `extend: true`.
    public init(_ model: JITModel) throws {
        guard let functions = model.extendFunctions, let maxSeq = model.entry.seq?.max else {
            throw RunError("@\(model.model.name) was compiled without extend entry points")
        }
        self.model = model
        self.functions = functions
        maxNewPositions = maxSeq
        func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        }
        cache = allocate(model.entry.cacheBytes)
        inputs = model.entry.inputs.map { allocate($0.type.elementCount(seqLen: maxSeq) * $0.type.dtype.byteSize) }
        outputs = model.entry.outputs.map { allocate($0.type.elementCount(seqLen: maxSeq) * $0.type.dtype.byteSize) }
        workspace = allocate(model.entry.workspaceBytes)
        let status = model.withCode { functions.cacheInit(cache) }
        guard status == 0 else { throw Self.failure(status, "cache_init") }
    }

    deinit {
        ([cache, workspace] + inputs + outputs).forEach { $0.deallocate() }
    }

    /// The most positions the cache holds.
    public var maxContext: Int { model.entry.maxContext ?? 0 }

    /// Positions in the cache now.
    public var length: Int { Int(model.withCode { functions.cacheLength(cache) }) }

    /// Appends the positions of `inputs` (each input with the same number of rows n) and returns
    /// the outputs of the last one (rows 1), or with `allPositions` of all n. A status other than
    /// OK (e.g. ERR_CACHE_FULL) becomes a RunError, and the cache is as it was.
    public func extend(_ inputs: [String: HostTensor], allPositions: Bool = false) throws -> [String: HostTensor] {
        guard let n = model.model.impliedSeqLen(inputs) else { throw RunError("cannot infer the number of new positions") }
        guard n >= 1, n <= maxNewPositions else {
            throw RunError("\(n) new positions: one call adds 1...\(maxNewPositions)", status: .badSequenceLength)
        }
        for (input, buffer) in zip(model.model.inputs, self.inputs) {
            guard let tensor = inputs[input.name], tensor.dtype == input.type.dtype,
                  tensor.count == input.type.elementCount(seqLen: n) else {
                throw RunError("input %\(input.name) must be \(input.type.dtype) of shape \(input.type.shape(seqLen: n))")
            }
            tensor.bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        try call(n: n, lastOnly: !allPositions)
        let rows = allPositions ? n : 1
        var result: [String: HostTensor] = [:]
        for (output, buffer) in zip(model.entry.outputs, outputs) {
            let count = output.type.elementCount(seqLen: rows)
            let data = Array(UnsafeBufferPointer(start: buffer.assumingMemoryBound(to: Float.self), count: count))
            result[output.name] = HostTensor(shape: output.type.shape(seqLen: rows), f32: data)
        }
        return result
    }

    /// For a model with one input of token ids and one float output (a language model): appends
    /// `tokens` and returns the last position's output row (the next token's logits).
    public func extend(tokens: [Int32]) throws -> [Float] {
        guard model.model.inputs.count == 1, model.model.inputs[0].type.dtype == .i32, model.entry.outputs.count == 1 else {
            throw RunError("extend(tokens:) is for a model with one token input and one output")
        }
        guard !tokens.isEmpty, tokens.count <= maxNewPositions else {
            throw RunError("\(tokens.count) new tokens: one call adds 1...\(maxNewPositions)", status: .badSequenceLength)
        }
        tokens.withUnsafeBytes { inputs[0].copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        try call(n: tokens.count, lastOnly: true)
        let count = model.entry.outputs[0].type.elementCount(seqLen: 1)
        return Array(UnsafeBufferPointer(start: outputs[0].assumingMemoryBound(to: Float.self), count: count))
    }

    /// Keeps the first `length` positions (0...self.length).
    public func truncate(to length: Int) throws {
        let status = model.withCode { functions.cacheTruncate(cache, Int64(length)) }
        guard status == 0 else { throw Self.failure(status, "cache_truncate") }
    }

    /// A second session that starts from this one's cache (a fork of the conversation: the cache's
    /// bytes copied, as a C caller would).
    public func fork() throws -> CacheSession {
        let copy = try CacheSession(model)
        copy.cache.copyMemory(from: cache, byteCount: model.entry.cacheBytes)
        return copy
    }

    /// The raw cache, for tests that corrupt it on purpose.
    public func withCacheBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: cache, count: model.entry.cacheBytes))
    }

    private func call(n: Int, lastOnly: Bool) throws {
        var args: [UnsafeMutableRawPointer?] = inputs + [cache] + outputs + [workspace]
        let status = model.withCode {
            args.withUnsafeMutableBufferPointer { functions.extend($0.baseAddress, Int64(n), lastOnly ? 1 : 0, model.threads) }
        }
        guard status == 0 else { throw Self.failure(status, "extend") }
    }

    private static func failure(_ status: Int32, _ function: String) -> RunError {
        let s = Status(rawValue: status)
        return RunError("\(function) returned status \(status) (\(s?.meaning ?? "unknown"))", status: s)
    }
}
