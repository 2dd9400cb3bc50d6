// Model inputs from the command line: inline tokens, .npy files, seeded random values.
import Foundation
import TIR
import TIRFormats

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

/// Seeded random values (see `randomInputs(for:seqLen:seed:)`) for every input not given.
public func fillRandomInputs(_ model: LoadedModel, given: [String: HostTensor], seed: UInt64,
                             seqLen: Int?) -> [String: HostTensor] {
    let seq = seqLen ?? model.module.maxSeqLen
    return given.merging(randomInputs(for: model.module, seqLen: seq, seed: seed)) { mine, _ in mine }
}
