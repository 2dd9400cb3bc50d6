// Limits on what parameters a model may declare: initializers whose values would not fit their
// type, and the total parameter memory; `checkWeights` checks all of it without generating values.

import Foundation
import Testing
import TIR
@testable import TIRFormats

private func param(_ name: String, _ dims: [Int], _ initializer: ParamInit, dtype: DType = .f32,
                   line: Int) -> Param {
    Param(name: name, type: TensorType(dtype, dims.map(Dim.fixed)), initializer: initializer,
          loc: SourceLoc(line: line, column: 3))
}

private func randomModule(_ params: [Param]) -> Module {
    Module(name: "m", weights: .random(seed: 1, std: 0.02), params: params)
}

/// The message of the diagnostic loading (or, with `checkOnly`, checking) `module` throws, or nil.
private func failure(_ module: Module, checkOnly: Bool = false) -> String? {
    do {
        if checkOnly {
            try checkWeights(for: module, tirPath: "m.tir")
        } else {
            _ = try loadWeights(for: module, tirPath: "m.tir")
        }
        return nil
    } catch {
        return error.description
    }
}

@Suite struct WeightLimitTests {
    @Test(arguments: [
        (ParamInit.normal(mean: 0, std: 1e300), "normal(0.0, 1e+300) gives values past the largest finite f32"),
        (ParamInit.normal(mean: 3e38, std: 1e37), "normal(3e+38, 1e+37) gives values past the largest finite f32"),
        (ParamInit.uniform(low: -1e308, high: 1e308), "uniform(-1e+308, 1e+308) has a bound past the largest finite f32"),
        (ParamInit.uniform(low: 0, high: 3.5e38), "uniform(0.0, 3.5e+38) has a bound past the largest finite f32"),
    ])
    func initializersPastTheTypeAreRefused(initializer: ParamInit, message: String) {
        let module = randomModule([param("ok", [4], .normal(mean: 0, std: 1), line: 5),
                                   param("w", [2, 3], initializer, line: 6)])
        for checkOnly in [false, true] {
            let text = failure(module, checkOnly: checkOnly)
            #expect(text?.hasPrefix("m.tir:6:3: error: parameter @w: ") == true, "\(text ?? "accepted")")
            #expect(text?.contains(message) == true, "\(text ?? "accepted")")
        }
    }

    @Test func initializersWithinTheTypePass() throws {
        // |mean| + 8.6 std just within float32, and uniform bounds at its largest value: every
        // generated value is finite.
        let module = randomModule([param("n", [1000], .normal(mean: 0, std: 3.9e37), line: 5),
                                   param("u", [1000], .uniform(low: -3.4e38, high: 3.4e38), line: 6)])
        let weights = try loadWeights(for: module, tirPath: "m.tir")
        #expect(weights["n"]?.floats.allSatisfy(\.isFinite) == true)
        #expect(weights["u"]?.floats.allSatisfy(\.isFinite) == true)
    }

    @Test func bf16UsesItsOwnLargestValue() {
        // 3.395e38 fits float32 but not bfloat16 (largest 3.3895e38).
        let module = randomModule([param("u", [8], .uniform(low: 0, high: 3.395e38), dtype: .bf16, line: 4)])
        let text = failure(module, checkOnly: true)
        #expect(text?.contains("past the largest finite bf16") == true, "\(text ?? "accepted")")
    }

    @Test func totalParameterMemoryIsCapped() {
        // Each 4 GiB parameter is within the per-parameter limit; the fifth takes the total past
        // 16 GiB and is refused before anything is generated.
        let big = (1...5).map { param("p\($0)", [1 << 15, 1 << 15], .zeros, line: 10 + $0) }
        let text = failure(randomModule(big))
        #expect(text?.hasPrefix("m.tir:15:3: error: parameter @p5: the parameters up to this one take more than 16 GiB") == true,
                "\(text ?? "accepted")")
    }

    @Test func checkingGeneratesNothing() throws {
        // 8 GiB of declared zeros and normals: checked from their arguments alone (materializing them
        // would take 8 GiB).
        let module = randomModule([param("a", [1 << 15, 1 << 15], .zeros, line: 4),
                                   param("b", [1 << 15, 1 << 15], .normal(mean: 0, std: 1), line: 5)])
        try checkWeights(for: module, tirPath: "m.tir")
    }
}

@Suite struct WeightFileKindTests {
    /// The loader's message for a model whose weights file is `path`.
    private func message(weights path: String) -> String? {
        let module = Module(name: "m", weights: .file(path), weightsLoc: SourceLoc(line: 2, column: 3),
                            params: [param("g", [4], .default, line: 4)])
        return failure(module, checkOnly: true)
    }

    @Test func devicesAndFIFOsAreNotRead() throws {
        #expect(message(weights: "/dev/zero") == "m.tir:2:3: error: '/dev/zero': is not a regular file (a device, FIFO or socket): weights must be a file on disk")
        let dir = try makeTempDir("fifo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/w.fifo", 0o600) == 0)
        #expect(message(weights: dir + "/w.fifo")?.contains("is not a regular file") == true)
    }

    @Test func aTextFileIsNotEchoed() throws {
        let dir = try makeTempDir("text")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "secret words in a text file\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let text = message(weights: dir + "/notes.txt")
        #expect(text?.contains("not a safetensors file") == true, "\(text ?? "accepted")")
        // Nothing of the content, not even as the number its first bytes make.
        let first8 = Array("secret w".utf8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect(text?.contains("secret") == false && text?.contains("\(first8)") == false, "\(text ?? "")")
    }
}
