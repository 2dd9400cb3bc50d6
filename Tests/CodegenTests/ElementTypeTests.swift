// bf16 parameters end to end: packed and read in their own type by compiled code, which must
// match the interpreter computing on the same (exactly widened) values.
import Foundation
import Testing
import TIR
import TIRCodegen
import TIRInterpreter

/// `module` with every parameter stored as bf16 (each value rounded to nearest-even once).
func withBF16Parameters(_ module: Module, _ weights: Weights) -> (Module, Weights) {
    var m = module
    var w = weights
    for i in m.params.indices {
        m.params[i].type.dtype = .bf16
        let name = m.params[i].name
        if let t = weights[name] { w[name] = HostTensor(shape: t.shape, bf16: t.floats.map(bf16Bits)) }
    }
    return (m, w)
}

@Test(arguments: [("gpt-tiny.tir", [1, 5, 33]), ("vit-tiny.tir", [1])])
func bf16ParametersMatchInterpreter(file: String, seqLens: [Int]) throws {
    let (f32Module, f32Weights) = try load(path: examplePath(file))
    let (module, weights) = withBF16Parameters(f32Module, f32Weights)
    #expect(weights.tensors.values.allSatisfy { $0.dtype == .bf16 })
    let error = try compare(module, weights, seqLens: seqLens)
    #expect(error <= 1e-5, "max relative error \(error)")
    // The rounding is real: the bf16 model is not the f32 one.
    let inputs = randomInputs(module, seqLen: seqLens.last ?? 1, seed: 9)
    let a = try Interpreter(module: module, weights: weights).run(inputs: inputs, seqLen: seqLens.last ?? 1)
    let b = try Interpreter(module: f32Module, weights: f32Weights).run(inputs: inputs, seqLen: seqLens.last ?? 1)
    let name = module.outputs[0].name
    #expect(a[name] != b[name])
}

@Test func bf16OpCasesMatchInterpreter() throws {
    for (name, source) in opCases {
        let (f32Module, f32Weights) = try load(source: source)
        let (module, weights) = withBF16Parameters(f32Module, f32Weights)
        let error = try compare(module, weights, seqLens: [1, 3, module.seq?.max ?? 1])
        #expect(error <= 1e-5, "\(name): max relative error \(error)")
    }
}

@Test func bf16WeightsTakeHalfTheObject() throws {
    let (f32Module, f32Weights) = try load(path: examplePath("gpt-tiny.tir"))
    let (module, weights) = withBF16Parameters(f32Module, f32Weights)
    let full = try compileAOT(f32Module, weights: f32Weights, AOTRequest(target: .host, headerName: "a.h"))
    let half = try compileAOT(module, weights: weights, AOTRequest(target: .host, headerName: "b.h"))
    let parameterBytes = f32Weights.tensors.values.reduce(0) { $0 + $1.count * 4 }
    // At least a third of the float32 parameter bytes saved (panels add padding to both).
    #expect(full.object.count - half.object.count > parameterBytes / 3,
            "\(full.object.count) vs \(half.object.count) bytes, parameters \(parameterBytes)")
}
