// Compiles a model in-process with the JIT and runs it from Swift.
import LLVMBridge
import TIR

public struct RunError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let status: Status?
    public init(_ description: String, status: Status? = nil) {
        self.description = description
        self.status = status
    }
}

/// A model compiled for this CPU. Calls are reentrant: each `run` uses its own workspace.
public final class JITModel: @unchecked Sendable {
    public let entry: EntryPoint
    public let model: Module
    private let jit: JIT
    private let packed: @convention(c) (UnsafePointer<UnsafeMutableRawPointer?>?, Int64, Int32) -> Int32
    /// Threads per call (0: every online core).
    public let threads: Int32
    /// The weights the code reads, in host memory (external symbols).
    private let weightStore = WeightStore(.memory)
    /// A profiled build's ops, in call order, and the nanoseconds spent in each so far.
    public let profiledOps: [Instruction]
    private let opNanoseconds: UnsafeMutablePointer<Int64>?
    /// The extend entry points (with `extend: true`): see CacheSession.
    let extendFunctions: ExtendFunctions?

    deinit {
        opNanoseconds?.deallocate()
    }

    /// `target`: the host, or the host with features turned off (TargetSpec.without), to run the
    /// code a CPU without them gets. `profile`: time each op (`opTimes`; for one caller at a time).
    /// `pairedBF16`: see CodegenOptions.pairedBF16. `extend`: also build the extend entry points
    /// (a causal model's; others are refused with the reason), for `CacheSession`.
    public init(_ model: Module, weights: Weights, threads: Int = 0, minParallelWork: Int = defaultMinParallelWork,
                target: TargetSpec = .host, profile: Bool = false, pairedBF16: Bool = false, extend: Bool = false) throws {
        self.model = model
        self.threads = Int32(clamping: max(0, threads))
        jit = try JIT(target: target)
        let plans = try LoweringPlans(model, target: jit.target)
        if extend, let why = plans.extendRefusal { throw RunError(why) }
        entry = plans.entry
        profiledOps = profile ? TIRCodegen.profiledOps(model, fusion: plans.fusion) : []
        let times: UnsafeMutablePointer<Int64>? = profile ? .allocate(capacity: max(1, profiledOps.count)) : nil
        times?.initialize(repeating: 0, count: max(1, profiledOps.count))
        opNanoseconds = times
        let options = CodegenOptions(packedEntry: true, weightStore: weightStore, minParallelWork: minParallelWork,
                                     profile: profile, pairedBF16: pairedBF16, extendEntries: extend)
        let target = jit.target
        _ = try generateCode(model.name, target: target, to: .jit(jit)) { ir in
            try lowerModel(model, weights: weights, plans: plans, into: ir, target: target, options: options)
        } symbols: { [weightStore] _ in
            // The weights stay in this process, 64-byte aligned, for as long as the code does.
            weightStore.symbols + (times.map { [(profileSymbol, UnsafeRawPointer($0))] } ?? [])
        }
        packed = unsafeBitCast(try jit.lookup(entry.packedSymbol),
                               to: (@convention(c) (UnsafePointer<UnsafeMutableRawPointer?>?, Int64, Int32) -> Int32).self)
        extendFunctions = extend ? try ExtendFunctions(jit, entry) : nil
    }

    /// Keeps the code alive around a call of one of its functions.
    func withCode<R>(_ body: () throws -> R) rethrows -> R { try withExtendedLifetime(jit) { try body() } }

    /// A profiled build's time in each op since it was made or last reset, in call order.
    public var opTimes: [(op: Instruction, nanoseconds: Int64)] {
        guard let opNanoseconds else { return [] }
        return profiledOps.enumerated().map { ($1, opNanoseconds[$0]) }
    }

    public func resetProfile() {
        opNanoseconds?.update(repeating: 0, count: max(1, profiledOps.count))
    }

    /// Runs the model. A status other than OK from the compiled code becomes a `RunError`.
    public func run(inputs: [String: HostTensor], seqLen: Int? = nil) throws -> [String: HostTensor] {
        let call = try prepare(inputs: inputs, seqLen: seqLen)
        try call.invoke()
        return call.outputs()
    }

    /// Checks the inputs and allocates every buffer of one call, so that the call itself can be
    /// repeated (benchmarks) with nothing else on the path.
    public func prepare(inputs: [String: HostTensor], seqLen: Int? = nil) throws -> PreparedCall {
        // The sequence length and token ids are checked by the compiled code itself (that is what
        // a C caller gets, and what the tests exercise); here only what keeps the call in bounds.
        guard let seq = seqLen ?? model.impliedSeqLen(inputs) else {
            throw RunError("cannot infer the sequence length: pass it explicitly")
        }
        guard seq >= 0 else { throw RunError("negative sequence length \(seq)", status: .badSequenceLength) }
        var tensors: [HostTensor] = []
        for input in model.inputs {
            guard let tensor = inputs[input.name] else { throw RunError("missing input %\(input.name)") }
            guard tensor.dtype == input.type.dtype else {
                throw RunError("input %\(input.name) has dtype \(tensor.dtype), expected \(input.type.dtype)")
            }
            let expected = input.type.elementCount(seqLen: seq)
            guard tensor.count == expected else {
                throw RunError("input %\(input.name) has \(tensor.count) elements, expected \(expected) (shape \(input.type.shape(seqLen: seq)))")
            }
            tensors.append(tensor)
        }
        return PreparedCall(model: self, inputs: tensors, seqLen: seq)
    }

    fileprivate func call(_ args: [UnsafeMutableRawPointer?], seqLen: Int) -> Int32 {
        withExtendedLifetime(jit) { args.withUnsafeBufferPointer { packed($0.baseAddress, Int64(seqLen), threads) } }
    }
}

/// One call of a compiled model with its buffers (inputs copied in, outputs, workspace), each a
/// 64-byte-aligned allocation owned by this object. Keeps its model (and so the code) alive.
public final class PreparedCall: @unchecked Sendable {
    public let model: JITModel
    public let seqLen: Int
    private var buffers: [UnsafeMutableRawPointer] = []
    private var args: [UnsafeMutableRawPointer?] = []
    private let outputCounts: [Int]

    fileprivate init(model: JITModel, inputs: [HostTensor], seqLen: Int) {
        self.model = model
        self.seqLen = seqLen
        outputCounts = model.entry.outputs.map { $0.type.elementCount(seqLen: seqLen) }
        for tensor in inputs {
            let bytes = tensor.bytes
            let p = allocate(bytes.count)
            bytes.withUnsafeBytes { if let src = $0.baseAddress { p.copyMemory(from: src, byteCount: $0.count) } }
            args.append(p)
        }
        for (output, count) in zip(model.entry.outputs, outputCounts) {
            args.append(allocate(count * output.type.dtype.byteSize))
        }
        args.append(allocate(model.entry.workspaceBytes))
    }

    deinit { buffers.forEach { $0.deallocate() } }

    private func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        buffers.append(p)
        return p
    }

    /// Calls the compiled code; its status, if not OK, becomes a RunError.
    public func invoke() throws {
        let status = model.call(args, seqLen: seqLen)
        guard status == 0 else {
            let s = Status(rawValue: status)
            throw RunError("compiled model returned status \(status) (\(s?.meaning ?? "unknown"))", status: s)
        }
    }

    /// The outputs of the last call, by name.
    public func outputs() -> [String: HostTensor] {
        var result: [String: HostTensor] = [:]
        let first = model.model.inputs.count
        for (i, output) in model.entry.outputs.enumerated() {
            guard let p = args[first + i] else { continue }
            let data = Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: outputCounts[i]))
            result[output.name] = HostTensor(shape: output.type.shape(seqLen: seqLen), f32: data)
        }
        return result
    }
}
