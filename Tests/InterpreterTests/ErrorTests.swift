// Bad inputs and malformed modules throw an InterpreterError that says what is wrong; nothing crashes.

import Testing
import TIR
import TIRInterpreter

/// Expects `body` to throw an InterpreterError of `kind` whose message contains `fragment`.
private func expectError(_ kind: InterpreterError.Kind, _ fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    let error = #expect(throws: InterpreterError.self, sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    #expect(error.kind == kind, sourceLocation: sourceLocation)
    #expect(error.description.contains(fragment), "message: \(error.description)", sourceLocation: sourceLocation)
}

/// tokens i32[T <= 8] -> embedding(@wte f32[4, 2]) + positions(@wpe f32[8, 2]).
private func embedModel() -> (Module, [String: HostTensor]) {
    var b = ModelBuilder("embed", maxSeq: 8)
    let tokens = b.input("tokens", .i32, [T])
    let tok = b.op("tok", .embedding, [tokens, b.param("wte", [4, 2])], [], [T, .fixed(2)])
    let pos = b.op("pos", .positions, [b.param("wpe", [8, 2])], [], [T, .fixed(2)])
    b.op("x", .add, [tok, pos], [], [T, .fixed(2)])
    b.output("x")
    return (b.module, ["wte": filled([4, 2], 1), "wpe": filled([8, 2])])
}

private func run(_ model: (Module, [String: HostTensor]), _ inputs: [String: HostTensor], seqLen: Int) throws {
    _ = try Interpreter(module: model.0, weights: Weights(model.1)).run(inputs: inputs, seqLen: seqLen)
}

/// A module with one instruction over an f32[2, 4] input %x, for the malformed-module cases.
private func single(_ op: OpKind, _ operands: [Operand], _ attrs: [(key: String, value: AttrValue)] = [],
                    _ shape: [Int], weights: [String: HostTensor] = [:]) throws {
    var b = ModelBuilder("bad")
    b.input("x", .f32, [.fixed(2), .fixed(4)])
    for (name, tensor) in weights { b.param(name, tensor.shape) }
    b.op("y", op, operands, attrs, shape.map { .fixed($0) })
    b.output("y")
    _ = try runFirstOutput(b.module, weights: weights, inputs: ["x": filled([2, 4], 1)])
}

@Suite("Interpreter errors")
struct ErrorTests {
    // MARK: - The caller's inputs

    @Test func tokenIDOutOfRange() {
        expectError(.invalidInput, "token id 300 out of range [0, 4) at position 2") {
            try run(embedModel(), ["tokens": i32([0, 1, 300, 2])], seqLen: 4)
        }
        expectError(.invalidInput, "token id -1 out of range [0, 4) at position 0") {
            try run(embedModel(), ["tokens": i32([-1])], seqLen: 1)
        }
        expectError(.invalidInput, "%tok = embedding") {
            try run(embedModel(), ["tokens": i32([4])], seqLen: 1)
        }
    }

    @Test(arguments: [0, -1, 9])
    func sequenceLengthOutOfRange(seqLen: Int) {
        expectError(.invalidInput, "sequence length \(seqLen) is outside [1, 8]") {
            try run(embedModel(), ["tokens": i32(Array(repeating: 0, count: max(seqLen, 0)))], seqLen: seqLen)
        }
    }

    @Test func wrongInputs() {
        expectError(.invalidInput, "missing input 'tokens'") { try run(embedModel(), [:], seqLen: 1) }
        expectError(.invalidInput, "unknown input 'extra'") {
            try run(embedModel(), ["tokens": i32([0]), "extra": i32([0])], seqLen: 1)
        }
        expectError(.invalidInput, "input 'tokens' must be i32, got f32") {
            try run(embedModel(), ["tokens": filled([1])], seqLen: 1)
        }
        expectError(.invalidInput, "input 'tokens' must be i32[T] ([5] at T = 5), got [4]") {
            try run(embedModel(), ["tokens": i32([0, 1, 2, 3])], seqLen: 5)
        }
    }

    @Test func inputShapeMustMatch() throws {
        var b = ModelBuilder("image")
        let image = b.input("image", .f32, [.fixed(1), .fixed(2), .fixed(4)])
        b.op("p", .patchEmbed, [image, b.param("w", [4, 1])], [("patch", .int(2))], [.fixed(2), .fixed(1)])
        b.output("p")
        let model = (b.module, ["w": f32([4, 1], [1, 1, 1, 1])])
        let pixels = (0..<8).map(Double.init)
        expectError(.invalidInput, "input 'image' must be f32[1, 2, 4], got [2, 1, 4]") {
            try run(model, ["image": f32([2, 1, 4], pixels)], seqLen: 1)
        }
        var edited = f32([8], pixels)
        edited.shape = [1, 2, 4, 2]  // a shape that no longer matches the data
        expectError(.invalidInput, "got [1, 2, 4, 2] holding 8 elements") {
            try run(model, ["image": edited], seqLen: 1)
        }
        // Row-major data of the right length is accepted flat.
        #expect(try runFirstOutput(b.module, weights: model.1, inputs: ["image": f32([8], pixels)]) == [10, 18])
    }

    // MARK: - Weights that do not fit the module

    @Test func weightsMustMatchTheirParameters() {
        var model = embedModel()
        model.1["wte"] = nil
        expectError(.invalidModule, "no weight for @wte") { try run(model, ["tokens": i32([0])], seqLen: 1) }
        model.1["wte"] = filled([2, 4])
        expectError(.invalidModule, "weight @wte has shape [2, 4], declared f32[4, 2]") {
            try run(model, ["tokens": i32([0])], seqLen: 1)
        }
    }

    // MARK: - Malformed modules (what the verifier rejects) throw too

    @Test func malformedModules() {
        let x = Operand.value("x")
        expectError(.invalidModule, "%nowhere is used before it is defined") {
            try single(.add, [x, .value("nowhere")], [], [2, 4])
        }
        expectError(.invalidModule, "@w is not a declared parameter") { try single(.add, [x, .param("w")], [], [2, 4]) }
        expectError(.invalidModule, "computed f32[2, 4], but the declared type is f32[2, 5]") {
            try single(.add, [x, x], [], [2, 5])
        }
        expectError(.invalidModule, "takes 1...3 operands, got 0") {
            try single(.attention, [], [("heads", .int(1))], [2, 4])
        }
        expectError(.invalidModule, "takes one fused qkv operand or three") {
            try single(.attention, [x, x], [("heads", .int(1))], [2, 4])
        }
        expectError(.invalidModule, "3 heads do not divide width 4") {
            try single(.attention, [x, x, x], [("heads", .int(3))], [2, 4])
        }
        expectError(.invalidModule, "fused qkv width 4 is not a multiple of 3") {
            try single(.attention, [x], [("heads", .int(1))], [2, 4])
        }
        expectError(.invalidModule, "missing attribute 'heads'") { try single(.attention, [x, x, x], [], [2, 4]) }
        expectError(.invalidModule, "missing attribute 'eps'") { try single(.layernorm, [x], [], [2, 4]) }
        expectError(.invalidModule, "attribute 'heads' must be an integer") {
            try single(.attention, [x, x, x], [("heads", .float(1))], [2, 4])
        }
        expectError(.invalidModule, "unknown gelu approximation 'fast'") {
            try single(.gelu, [x], [("approximation", .word("fast"))], [2, 4])
        }
        for index in [2, -1] {
            expectError(.invalidModule, "row \(index) out of range [0, 2)") {
                try single(.selectRow, [x], [("index", .int(index))], [1, 4])
            }
        }
        expectError(.invalidModule, "%x is f32, expected i32") {
            try single(.embedding, [x, .param("t")], [], [2, 2], weights: ["t": filled([3, 2])])
        }
        expectError(.invalidModule, "x [2, 4] does not fit weight [3, 2]") {
            try single(.linear, [x, .param("w")], [], [2, 2], weights: ["w": filled([3, 2])])
        }
        expectError(.invalidModule, "bias must be [2], got [3]") {
            try single(.linear, [x, .param("w"), .param("b")], [], [2, 2],
                       weights: ["w": filled([4, 2]), "b": filled([3])])
        }
        expectError(.invalidModule, "gain must be [4], got [2]") {
            try single(.rmsnorm, [x, .param("g")], [("eps", .float(1e-5))], [2, 4], weights: ["g": f32([2], [1, 1])])
        }
        expectError(.invalidModule, "cannot add [2, 4] and [4]") {
            try single(.add, [x, .param("b")], [], [2, 4], weights: ["b": filled([4])])
        }
        expectError(.invalidModule, "patch 3 does not fit a 2x4 image") {
            try single(.patchEmbed, [.param("img"), .param("w")], [("patch", .int(3))], [1, 1],
                       weights: ["img": filled([1, 2, 4]), "w": filled([9, 1])])
        }
        expectError(.invalidModule, "patch \(Int.max) does not fit a 2x4 image") {
            try single(.patchEmbed, [.param("img"), .param("w")], [("patch", .int(Int.max))], [1, 1],
                       weights: ["img": filled([1, 2, 4]), "w": filled([9, 1])])
        }
        expectError(.invalidModule, "8 positions from row 0 asked of a table with 3 rows") {
            try single(.positions, [.param("p")], [], [8, 1], weights: ["p": filled([3, 1])])
        }
    }

    @Test func malformedStructure() {
        var twice = ModelBuilder("twice")
        let x = twice.input("x", .f32, [.fixed(1)])
        twice.op("x", .gelu, [x], [], [.fixed(1)])
        twice.output("x")
        expectError(.invalidModule, "%x is defined twice") {
            _ = try runFirstOutput(twice.module, inputs: ["x": filled([1])])
        }
        var negative = ModelBuilder("negative")
        let n = negative.input("n", .f32, [.fixed(-1), .fixed(-3)])
        negative.op("y", .gelu, [n], [], [.fixed(-1), .fixed(-3)])
        negative.output("y")
        expectError(.invalidModule, "input 'n' has an invalid type f32[-1, -3]") {
            _ = try runFirstOutput(negative.module, inputs: ["n": HostTensor(shape: [-1, -3], f32: [0, 0, 0])])
        }
        var noOutput = ModelBuilder("no_output")
        noOutput.input("x", .f32, [.fixed(1)])
        noOutput.output("y")
        expectError(.invalidModule, "output %y is never defined") {
            _ = try runFirstOutput(noOutput.module, inputs: ["x": filled([1])])
        }
    }
}
