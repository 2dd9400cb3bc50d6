// Model inputs from the command line (inline tokens, .npy files, seeded random values) and
// printing of outputs.
import Foundation
import LLVMBridge
import TIR
import TIRCodegen

/// `--target`/`--cpu` to a target description, or a user-facing error.
public func resolveTarget(_ name: String?, cpu: String?) throws -> TargetSpec {
    do {
        let spec = try targetSpec(named: name, cpu: cpu)
        _ = try TargetMachine(spec)  // fails early, with LLVM's message, for an unknown triple or CPU
        return spec
    } catch {
        throw DriverError("error: \(error)")
    }
}

/// Inputs given as `--tokens 1,2,3` (for the model's only integer input) and `--input name=file.npy`.
public func parseInputs(_ module: Module, tokens: String?, files: [String]) throws -> [String: HostTensor] {
    var inputs: [String: HostTensor] = [:]
    if let tokens {
        let integerInputs = module.inputs.filter { $0.type.dtype == .i32 }
        guard integerInputs.count == 1, let input = integerInputs.first else {
            throw DriverError("error: --tokens needs a model with exactly one integer input (it has \(integerInputs.count))")
        }
        var ids: [Int32] = []
        for piece in tokens.split(separator: ",", omittingEmptySubsequences: false) {
            let text = piece.trimmingCharacters(in: .whitespaces)
            guard let id = Int32(text) else { throw DriverError("error: --tokens: '\(text)' is not a 32-bit integer") }
            ids.append(id)
        }
        inputs[input.name] = HostTensor(shape: [ids.count], i32: ids)
    }
    for item in files {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw DriverError("error: --input expects name=file.npy, got '\(item)'")
        }
        let name = parts[0].hasPrefix("%") ? String(parts[0].dropFirst()) : parts[0]
        guard let input = module.inputs.first(where: { $0.name == name }) else {
            let known = module.inputs.map { "%" + $0.name }.joined(separator: ", ")
            throw DriverError("error: --input: the model has no input %\(name) (inputs: \(known))")
        }
        var tensor: HostTensor
        do {
            tensor = try readNpy(path: parts[1])
        } catch {
            throw DriverError(error.description)
        }
        if input.type.dtype == .f32, tensor.dtype == .i32 { tensor = HostTensor(shape: tensor.shape, f32: tensor.floats) }
        if input.type.dtype == .i32, tensor.dtype == .f32 {
            throw DriverError("error: --input \(name): \(parts[1]) holds floats, the input takes int32 ids")
        }
        // Any layout with the right element count is accepted (ids as [T] or [1, T]); the
        // tensor takes the input's shape, with the sequence length implied by the count.
        let perRow = max(1, input.type.dims.dropFirst().reduce(1) { $0 * ($1.fixedValue ?? 1) })
        let seq = input.type.dims.first == .seq ? tensor.count / perRow : 1
        let shape = input.type.shape(seqLen: seq)
        guard shape.reduce(1, *) == tensor.count else {
            throw DriverError("error: --input \(name): \(parts[1]) has shape \(tensor.shape), the input takes \(input.type.dtype)\(input.type.dims)")
        }
        tensor.shape = shape
        inputs[name] = tensor
    }
    return inputs
}

/// Seeded random values for every input not given: token ids uniform over the smallest table
/// that reads them, images uniform in [-1, 1).
public func fillRandomInputs(_ model: LoadedModel, given: [String: HostTensor], seed: UInt64,
                             seqLen: Int?) -> [String: HostTensor] {
    var inputs = given
    let m = model.module
    let seq = seqLen ?? m.maxSeqLen
    var rng = SeededGenerator(seed: seed)
    for input in m.inputs where inputs[input.name] == nil {
        let shape = input.type.shape(seqLen: seq)
        let count = shape.reduce(1, *)
        if input.type.dtype == .i32 {
            let vocab = m.body.filter { $0.op == .embedding && $0.operands.first == .value(input.name) }
                .compactMap { m.type(of: $0.operands[1])?.staticShape?.first }.min() ?? 1
            inputs[input.name] = HostTensor(shape: shape, i32: (0..<count).map { _ in Int32(rng.next() % UInt64(vocab)) })
        } else {
            inputs[input.name] = HostTensor(shape: shape, f32: (0..<count).map { _ in
                Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1)
            })
        }
    }
    return inputs
}

/// SplitMix64: a small, portable, seeded generator for test inputs.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `%logits f32[3, 256]` then one line per row: its first values and its argmax.
public func describeTensor(name: String, _ tensor: HostTensor, full: Bool) -> String {
    let values = tensor.floats
    let cols = tensor.shape.count > 1 ? tensor.shape.dropFirst().reduce(1, *) : max(values.count, 1)
    var lines = ["%\(name) f32\(tensor.shape)"]
    for start in stride(from: 0, to: values.count, by: cols) {
        let row = values[start..<min(start + cols, values.count)]
        let shown = full ? Array(row) : Array(row.prefix(6))
        var line = "  [" + shown.map { String(format: "%.6g", $0) }.joined(separator: ", ")
        if shown.count < row.count { line += ", ... (\(row.count) values)" }
        line += "]"
        if let best = row.indices.max(by: { row[$0] < row[$1] }) { line += "  argmax \(best - start)" }
        lines.append(line)
    }
    return lines.joined(separator: "\n")
}
