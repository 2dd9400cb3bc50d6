// Tests of parameter resolution (weights files, seeded initializers) and of the portable RNG it uses.

import Foundation
import Testing
import TIR
@testable import TIRFormats

private func param(_ name: String, _ dims: [Int], _ initializer: ParamInit = .default, line: Int = 0) -> Param {
    Param(name: name, type: TensorType(.f32, dims.map(Dim.fixed)), initializer: initializer,
          loc: SourceLoc(line: line, column: 3))
}

private let weightsLine = SourceLoc(line: 3, column: 3)

/// A model whose weights come from `file`, with the given params.
private func fileModule(_ file: String, _ params: [Param]) -> Module {
    Module(name: "m", weights: .file(file), weightsLoc: weightsLine, params: params)
}

/// Writes `tensors` as `w.safetensors` in a fresh folder; returns the path of a `.tir` next to it.
private func tirNextToWeights(_ tensors: [(name: String, tensor: HostTensor)]) throws -> String {
    let dir = try makeTempDir("weights")
    try writeSafetensors(tensors, to: dir + "/w.safetensors")
    return dir + "/model.tir"
}

private func removeFolder(of tirPath: String) {
    try? FileManager.default.removeItem(atPath: (tirPath as NSString).deletingLastPathComponent)
}

@Suite("Weight loading and RNG") struct WeightLoaderTests {
    // MARK: - RNG

    @Test func rngMatchesPublishedAndGoldenValues() {
        // SplitMix64's published test vector (seed 1234567).
        var splitmix = SplitMix64(seed: 1_234_567)
        #expect((0..<3).map { _ in splitmix.next() } == [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423])
        #expect(fnv1a64("") == 0xCBF2_9CE4_8422_2325)
        #expect(fnv1a64("wte") == 0x5E66_D619_4840_93F9)
        // Golden values, also produced by the Python reference in Docs/weights.md: if these change,
        // every random model changes.
        var wte = ParamRandom(seed: 7, name: "wte")
        #expect(wte.normals(4, mean: 0, std: 0.125) == [-0.013778486289083958, 0.05655370280146599, -0.037524446845054626, 0.1242561787366867])
        var g = ParamRandom(seed: 0, name: "h0.ln1.g")
        #expect(g.uniforms(3, low: -1, high: 1) == [-0.8117169737815857, 0.030807342380285263, 0.6085165143013])
    }

    @Test func rngStreamsDependOnSeedAndNameOnly() {
        func sample(_ seed: UInt64, _ name: String) -> [Float] {
            var random = ParamRandom(seed: seed, name: name)
            return random.normals(16, mean: 0, std: 1)
        }
        #expect(sample(7, "wte") == sample(7, "wte"))
        #expect(sample(7, "wte") != sample(7, "wpe"))
        #expect(sample(7, "wte") != sample(8, "wte"))
        #expect(sample(0, "a") != sample(0, "b"))
    }

    @Test func rngStatisticsAreRoughlyRight() {
        let n = 100_000
        var random = ParamRandom(seed: 42, name: "stats")
        let normals = random.normals(n, mean: 1.5, std: 2).map(Double.init)
        let mean = normals.reduce(0, +) / Double(n)
        let std = (normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot()
        #expect(abs(mean - 1.5) < 0.03)  // ~5 standard errors
        #expect(abs(std - 2) < 0.03)
        let within1 = normals.filter { abs($0 - 1.5) < 2 }.count
        #expect(abs(Double(within1) / Double(n) - 0.6827) < 0.01)

        let uniforms = random.uniforms(n, low: -3, high: 5).map(Double.init)
        #expect(uniforms.allSatisfy { $0 >= -3 && $0 <= 5 })
        #expect(abs(uniforms.reduce(0, +) / Double(n) - 1) < 0.05)
    }

    // MARK: - Random and constant initializers

    @Test func loadsRandomModelDeterministically() throws {
        let module = Module(name: "m", weights: .random(seed: 7, std: 0.125), params: [
            param("wte", [4, 3]),
            param("g", [3], .ones),
            param("b", [3], .zeros),
            param("n", [2, 2], .normal(mean: 1, std: 0.2)),
            param("u", [5], .uniform(low: -0.5, high: 0.5)),
            param("s", []),
        ])
        let weights = try loadWeights(for: module, tirPath: "model.tir")
        #expect(weights.tensors.count == 6)
        var wte = ParamRandom(seed: 7, name: "wte")
        #expect(weights["wte"] == HostTensor(shape: [4, 3], f32: wte.normals(12, mean: 0, std: 0.125)))
        #expect(weights["g"] == HostTensor(shape: [3], f32: [1, 1, 1]))
        #expect(weights["b"] == HostTensor(shape: [3], f32: [0, 0, 0]))
        var n = ParamRandom(seed: 7, name: "n")
        #expect(weights["n"] == HostTensor(shape: [2, 2], f32: n.normals(4, mean: 1, std: 0.2)))
        var u = ParamRandom(seed: 7, name: "u")
        #expect(weights["u"] == HostTensor(shape: [5], f32: u.uniforms(5, low: -0.5, high: 0.5)))
        #expect(weights["s"]?.shape == [])
        #expect(try loadWeights(for: module, tirPath: "model.tir") == weights)
    }

    @Test func changingOneParamLeavesTheOthersAlone() throws {
        let before = Module(name: "m", weights: .random(seed: 3, std: 0.02),
                            params: [param("a", [8]), param("b", [4, 4]), param("c", [2])])
        var after = before
        after.params[1] = param("b", [5, 4], .normal(mean: 0, std: 1))
        after.params.insert(param("new", [3]), at: 0)
        let w0 = try loadWeights(for: before, tirPath: "x.tir")
        let w1 = try loadWeights(for: after, tirPath: "x.tir")
        #expect(w0["a"] == w1["a"])
        #expect(w0["c"] == w1["c"])
        #expect(w0["b"] != w1["b"])
    }

    @Test func integerParamsTakeConstantsButNotRandomValues() throws {
        let ids = Param(name: "ids", type: TensorType(.i32, [.fixed(2)]), initializer: .zeros)
        #expect(try loadWeights(for: Module(name: "m", params: [ids]), tirPath: "m.tir")["ids"] == HostTensor(shape: [2], i32: [0, 0]))
        let random = Param(name: "ids", type: TensorType(.i32, [.fixed(2)]), loc: SourceLoc(line: 9, column: 3))
        let d = diagnostic { () throws(Diagnostic) in try loadWeights(for: Module(name: "m", params: [random]), tirPath: "m.tir") }
        #expect(d?.description == "m.tir:9:3: error: parameter @ids: random values need an f32 or bf16 parameter, not i32")
    }

    @Test func hugeParamIsRefusedBeforeAllocating() {
        let module = Module(name: "m", params: [param("big", [1 << 20, 1 << 20], line: 4)])
        let d = diagnostic { () throws(Diagnostic) in try loadWeights(for: module, tirPath: "m.tir") }
        #expect(d?.description == "m.tir:4:3: error: parameter @big: shape [1048576, 1048576] is too large (at most 1073741824 elements)")
    }

    // MARK: - Weights files

    @Test func loadsFromSafetensorsFile() throws {
        let wte = HostTensor(shape: [3, 2], f32: [1, 2, 3, 4, 5, 6])
        let tir = try tirNextToWeights([(name: "wte", tensor: wte), (name: "renamed", tensor: HostTensor(shape: [2], f32: [7, 8])),
                                        (name: "unused", tensor: HostTensor(shape: [1], f32: [0]))])
        defer { removeFolder(of: tir) }
        let module = fileModule("w.safetensors", [
            param("wte", [3, 2]),
            param("bias", [2], .tensor("renamed")),
            param("noise", [4], .normal(mean: 0, std: 1)),
        ])
        let weights = try loadWeights(for: module, tirPath: tir)
        #expect(weights["wte"] == wte)
        #expect(weights["bias"] == HostTensor(shape: [2], f32: [7, 8]))
        // Random initializers in a file-backed model use seed 0.
        var noise = ParamRandom(seed: 0, name: "noise")
        #expect(weights["noise"] == HostTensor(shape: [4], f32: noise.normals(4, mean: 0, std: 1)))
    }

    @Test func widensHalfAndNarrowsDoubleTensors() throws {
        let dir = try makeTempDir("weights")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Hand-built: F16 [1, -2] and F64 [0.1].
        let header = Array(#"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"d":{"dtype":"F64","shape":[1],"data_offsets":[4,12]}}"#.utf8)
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) } + header + [0x00, 0x3C, 0x00, 0xC0]
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: Double(0.1).bitPattern >> (8 * UInt64($0))) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/w.safetensors"))
        let weights = try loadWeights(for: fileModule("w.safetensors", [param("h", [2]), param("d", [1])]), tirPath: dir + "/m.tir")
        #expect(weights["h"] == HostTensor(shape: [2], f32: [1, -2]))
        #expect(weights["d"] == HostTensor(shape: [1], f32: [Float(0.1)]))
    }

    @Test func weightsFileNotFound() {
        let d = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("gpt.safetensors", [param("wte", [2])]), tirPath: "/nonexistent/dir/gpt.tir")
        }
        #expect(d?.description == "/nonexistent/dir/gpt.tir:3:3: error: weights file 'gpt.safetensors' not found")
    }

    @Test func truncatedWeightsFileIsReportedAtTheWeightsLine() throws {
        let dir = try makeTempDir("weights")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data((0..<8).map { UInt8(truncatingIfNeeded: 4096 >> (8 * $0)) } + Array(repeating: 0x20, count: 92))
            .write(to: URL(fileURLWithPath: dir + "/gpt.safetensors"))
        let d = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("gpt.safetensors", [param("wte", [2])]), tirPath: dir + "/gpt.tir")
        }
        #expect(d?.file == dir + "/gpt.tir")
        #expect(d?.loc?.line == 3)
        #expect(d?.message == "'gpt.safetensors': truncated: header says 4096 bytes but only 92 follow the 8-byte length")
    }

    @Test func missingTensor() throws {
        let tir = try tirNextToWeights([(name: "wpe", tensor: HostTensor(shape: [2], f32: [0, 0]))])
        defer { removeFolder(of: tir) }
        let d = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("wte", [2], line: 7)]), tirPath: tir)
        }
        #expect(d?.description == "\(tir):7:3: error: parameter @wte: no tensor 'wte' in 'w.safetensors'")
        let renamed = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("b", [2], .tensor("bias"), line: 8)]), tirPath: tir)
        }
        #expect(renamed?.message == "parameter @b: no tensor 'bias' in 'w.safetensors'")
    }

    /// `tensor("t", rows = blocks(...))`: blocks of rows of a [6, 2] tensor (a fused projection
    /// of two heads, [q | k | v] per head of one row each) and of a 1-D bias; bf16 as stored.
    @Test func selectsRowBlocks() throws {
        let fused = HostTensor(shape: [6, 2], f32: (0..<12).map { Float($0) })
        let bias = HostTensor(shape: [6], f32: [10, 11, 12, 13, 14, 15])
        let tir = try tirNextToWeights([(name: "qkv.w", tensor: fused), (name: "qkv.b", tensor: bias)])
        defer { removeFolder(of: tir) }
        let rows = { (start: Int) in RowBlocks(start: start, size: 1, stride: 3) }
        var bf16 = param("kbf", [2, 2], .tensorRows("qkv.w", rows(1)))
        bf16.type.dtype = .bf16
        let module = fileModule("w.safetensors", [
            param("q", [2, 2], .tensorRows("qkv.w", rows(0))),
            param("v", [2, 2], .tensorRows("qkv.w", rows(2))),
            param("kb", [2], .tensorRows("qkv.b", rows(1))),
            param("pair", [4], .tensorRows("qkv.b", RowBlocks(start: 1, size: 2, stride: 3))),
            param("one", [2], .tensorRows("qkv.b", RowBlocks(start: 4, size: 2, stride: 100))),
            bf16,
        ])
        let weights = try loadWeights(for: module, tirPath: tir)
        #expect(weights["q"] == HostTensor(shape: [2, 2], f32: [0, 1, 6, 7]))
        #expect(weights["v"] == HostTensor(shape: [2, 2], f32: [4, 5, 10, 11]))
        #expect(weights["kb"] == HostTensor(shape: [2], f32: [11, 14]))
        #expect(weights["pair"] == HostTensor(shape: [4], f32: [11, 12, 14, 15]))
        #expect(weights["one"] == HostTensor(shape: [2], f32: [14, 15]))
        #expect(weights["kbf"] == HostTensor(shape: [2, 2], bf16: [2, 3, 8, 9].map { bf16Bits(Float($0)) }))
        try checkWeights(for: module, tirPath: tir)
    }

    /// A selection past the stored rows, or of another rank or trailing shape, is an error at the
    /// parameter; nothing is read out of bounds.
    @Test func rowBlocksOutsideTheTensor() throws {
        let tir = try tirNextToWeights([(name: "qkv.w", tensor: HostTensor(shape: [6, 2], f32: Array(repeating: 1, count: 12)))])
        defer { removeFolder(of: tir) }
        func message(_ shape: [Int], _ rows: RowBlocks) -> String? {
            let module = fileModule("w.safetensors", [param("p", shape, .tensorRows("qkv.w", rows), line: 9)])
            let load = diagnostic { () throws(Diagnostic) in _ = try loadWeights(for: module, tirPath: tir) }
            let check = diagnostic { () throws(Diagnostic) in try checkWeights(for: module, tirPath: tir) }
            #expect(load?.description == check?.description)
            #expect(load?.loc?.line == 9)
            return load?.message
        }
        #expect(message([2, 2], RowBlocks(start: 3, size: 1, stride: 3)) == "parameter @p: rows = blocks(start = 3, size = 1, stride = 3) reads rows up to 6 (block 1), but tensor 'qkv.w' has 6 rows in 'w.safetensors'")
        #expect(message([4, 2], RowBlocks(start: 0, size: 2, stride: 5)) == "parameter @p: rows = blocks(start = 0, size = 2, stride = 5) reads rows up to 6 (block 1), but tensor 'qkv.w' has 6 rows in 'w.safetensors'")
        #expect(message([1, 2], RowBlocks(start: 7, size: 1, stride: 1)) == "parameter @p: rows = blocks(start = 7, size = 1, stride = 1) reads rows up to 7 (block 0), but tensor 'qkv.w' has 6 rows in 'w.safetensors'")
        #expect(message([2, 2], RowBlocks(start: 0, size: 1, stride: Int.max)) == "parameter @p: rows = blocks(start = 0, size = 1, stride = 9223372036854775807) reads rows up to 9223372036854775807 (block 1), but tensor 'qkv.w' has 6 rows in 'w.safetensors'")
        #expect(message([2, 3], RowBlocks(start: 0, size: 1, stride: 3)) == "parameter @p: tensor 'qkv.w' has shape [6, 2] in 'w.safetensors'; rows = blocks(start = 0, size = 1, stride = 3) needs [rows, 3]")
        #expect(message([4], RowBlocks(start: 0, size: 1, stride: 3)) == "parameter @p: tensor 'qkv.w' has shape [6, 2] in 'w.safetensors'; rows = blocks(start = 0, size = 1, stride = 3) needs [rows]")
        #expect(message([3, 2], RowBlocks(start: 0, size: 2, stride: 3)) == "parameter @p: rows = blocks(start = 0, size = 2, stride = 3) needs start >= 0, size > 0, stride > 0 and a first axis made of blocks of size rows, got shape [3, 2]")
        #expect(message([2, 2], RowBlocks(start: -1, size: 1, stride: 3)) == "parameter @p: rows = blocks(start = -1, size = 1, stride = 3) needs start >= 0, size > 0, stride > 0 and a first axis made of blocks of size rows, got shape [2, 2]")
    }

    @Test func misshapedTensor() throws {
        let tir = try tirNextToWeights([(name: "h0.fc.w", tensor: HostTensor(shape: [2, 3], f32: Array(repeating: 0, count: 6)))])
        defer { removeFolder(of: tir) }
        let d = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("h0.fc.w", [2, 4], line: 5)]), tirPath: tir)
        }
        #expect(d?.loc?.line == 5)
        #expect(d?.message == "parameter @h0.fc.w: tensor 'h0.fc.w' has shape [2, 3] in 'w.safetensors', expected [2, 4]")
    }

    @Test func wrongDType() throws {
        let tir = try tirNextToWeights([(name: "wte", tensor: HostTensor(shape: [2], i32: [1, 2]))])
        defer { removeFolder(of: tir) }
        let d = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("wte", [2])]), tirPath: tir)
        }
        #expect(d?.message == "parameter @wte: tensor 'wte' has dtype I32, expected a float type")
    }

    @Test func nonFiniteWeight() throws {
        let tir = try tirNextToWeights([(name: "ln.g", tensor: HostTensor(shape: [2, 2], f32: [1, 1, .nan, 1])),
                                        (name: "ln.b", tensor: HostTensor(shape: [1], f32: [-.infinity]))])
        defer { removeFolder(of: tir) }
        let nan = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("ln.g", [2, 2])]), tirPath: tir)
        }
        #expect(nan?.message == "parameter @ln.g: tensor 'ln.g' in 'w.safetensors' has a non-finite value (nan) at [1, 0]")
        let inf = diagnostic { () throws(Diagnostic) in
            try loadWeights(for: fileModule("w.safetensors", [param("ln.b", [1])]), tirPath: tir)
        }
        #expect(inf?.message == "parameter @ln.b: tensor 'ln.b' in 'w.safetensors' has a non-finite value (-inf) at [0]")
    }

    @Test func namedTensorNeedsAWeightsFile() {
        let module = Module(name: "m", weights: .random(seed: 1, std: 0.02), params: [param("w", [2], .tensor("x"), line: 6)])
        let d = diagnostic { () throws(Diagnostic) in try loadWeights(for: module, tirPath: "m.tir") }
        #expect(d?.description == "m.tir:6:3: error: parameter @w: tensor 'x' needs a weights file, but the model's weights are random")
    }

    @Test func weightsPathIsRelativeToTheTirFile() {
        #expect(resolveWeightsPath("w.safetensors", tirPath: "models/gpt.tir") == "models/w.safetensors")
        #expect(resolveWeightsPath("w.safetensors", tirPath: "gpt.tir") == "w.safetensors")
        #expect(resolveWeightsPath("../w/x.safetensors", tirPath: "/a/b/gpt.tir") == "/a/b/../w/x.safetensors")
        #expect(resolveWeightsPath("/abs/x.safetensors", tirPath: "/a/b/gpt.tir") == "/abs/x.safetensors")
    }
}

@Suite struct WeightReshapeTests {
    @Test func explicitTensorsMayBeReshapedButDefaultOnesMayNot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-reshape-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data: [Float] = [1, 2, 3, 4, 5, 6]
        try writeSafetensors([(name: "cls", tensor: HostTensor(shape: [1, 1, 6], f32: data))], to: "\(dir)/w.safetensors")
        func load(_ initializer: ParamInit, name: String = "p") throws(Diagnostic) -> Weights {
            let m = Module(name: "m", weights: .file("w.safetensors"),
                           params: [Param(name: name, type: TensorType(.f32, [.fixed(2), .fixed(3)]), initializer: initializer)])
            return try loadWeights(for: m, tirPath: "\(dir)/m.tir")
        }
        let w = try load(.tensor("cls"))
        #expect(w["p"] == HostTensor(shape: [2, 3], f32: data))
        #expect(throws: Diagnostic.self) { try load(.default, name: "cls") }
        do {
            _ = try load(.default, name: "cls")
        } catch {
            #expect(error.message.contains("has shape [1, 1, 6]"))
        }
    }
}
