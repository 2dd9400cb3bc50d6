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
    var seen: Set<String> = []
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
        if tokens != nil, inputs[name] != nil, !seen.contains(name) {
            throw DriverError("error: --input \(item): --tokens already gives %\(name); give one of them")
        }
        guard seen.insert(name).inserted else {
            throw DriverError("error: --input \(item): %\(name) is given twice; give each input once")
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
        tensor.shape = try checkedShape(of: tensor.shape, for: input, item: item)
        inputs[name] = tensor
    }
    return inputs
}

/// The shape an input takes from a .npy file of shape `shape`: exactly the declared one (any
/// sequence length in 1...max for a `T` axis), after dropping a leading batch dimension of 1
/// (`[1, 3, 32, 32]` for `f32[3, 32, 32]`). Otherwise an error naming the first dimension (counted
/// from 1, in the file's shape) that differs.
func checkedShape(of shape: [Int], for input: Input, item: String) throws -> [Int] {
    let declared = input.type.dims
    let expected = "[" + declared.map { $0.fixedValue.map(String.init) ?? "T" }.joined(separator: ", ") + "]"
    var dims = shape
    var offset = 0
    if dims.count == declared.count + 1, dims.first == 1 {
        dims.removeFirst()
        offset = 1
    }
    guard dims.count == declared.count else {
        let batch = shape.count == declared.count + 1 ? "; a leading batch dimension must be 1" : ""
        throw DriverError("error: --input \(item): the array has \(shape.count) dimension\(shape.count == 1 ? "" : "s") (shape \(shape)), expected \(declared.count) (shape \(expected))\(batch)")
    }
    for (i, (n, dim)) in zip(dims, declared).enumerated() {
        switch dim {
        case .fixed(let want):
            guard n == want else {
                throw DriverError("error: --input \(item): dimension \(i + offset + 1) is \(n), expected \(want) (shape \(shape), expected \(expected))")
            }
        case .seq:
            guard n >= 1 else {
                throw DriverError("error: --input \(item): dimension \(i + offset + 1) is \(n): the sequence length must be at least 1 (shape \(shape), expected \(expected))")
            }
        }
    }
    return dims
}

/// Seeded random values (see `randomInputs(for:seqLen:seed:)`) for every input not given.
public func fillRandomInputs(_ model: LoadedModel, given: [String: HostTensor], seed: UInt64,
                             seqLen: Int?) -> [String: HostTensor] {
    let seq = seqLen ?? model.module.maxSeqLen
    return given.merging(randomInputs(for: model.module, seqLen: seq, seed: seed)) { mine, _ in mine }
}
