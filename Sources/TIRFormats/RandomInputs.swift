// Seeded inputs for a module: what `tfc run --random-inputs`, `tfc verify`, `tfc bench` and
// the tests feed to models when no real data is given.
import TIR

/// Seeded values for every input of `module` at `seqLen`: token ids uniform over the smallest
/// table that reads them (so they are always valid), images uniform in [-1, 1).
public func randomInputs(for module: Module, seqLen: Int, seed: UInt64) -> [String: HostTensor] {
    var rng = SplitMix64(seed: seed)
    var inputs: [String: HostTensor] = [:]
    for input in module.inputs {
        let shape = input.type.shape(seqLen: seqLen)
        let count = shape.reduce(1, *)
        if input.type.dtype == .i32 {
            let vocabulary = module.body.filter { $0.op == .embedding && $0.operands.first == .value(input.name) }
                .compactMap { module.type(of: $0.operands[1])?.staticShape?.first }.min() ?? 1
            inputs[input.name] = HostTensor(shape: shape, i32: (0..<count).map { _ in
                Int32(rng.next() % UInt64(max(vocabulary, 1)))
            })
        } else {
            inputs[input.name] = HostTensor(shape: shape, f32: (0..<count).map { _ in
                Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1)
            })
        }
    }
    return inputs
}
