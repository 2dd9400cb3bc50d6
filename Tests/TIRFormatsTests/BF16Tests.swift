// bfloat16 parameters: rounding, text, verifier rules, safetensors and weight loading.

import Foundation
import Testing
@testable import TIR
@testable import TIRFormats

/// Parses `source` as test.tir.
private func parsed(_ source: String) throws -> Module { try parseModule(source, file: "test.tir") }

/// A Float from its bits, for readable tie cases.
private func float(_ bits: UInt32) -> Float { Float(bitPattern: bits) }

private func verify(_ body: String) throws -> [String] {
    let m = try parsed("model @m {\n  seq T <= 16\n\(body)\n}\n")
    return verifyModule(m, file: "test.tir").map(\.description)
}

private func bf16Param(_ name: String, _ dims: [Int], _ initializer: ParamInit = .default) -> Param {
    Param(name: name, type: TensorType(.bf16, dims.map(Dim.fixed)), initializer: initializer, loc: SourceLoc(line: 7, column: 3))
}

/// Writes `tensors` as `w.safetensors` in a fresh folder and loads `params` from it.
private func loadFromFile(_ tensors: [(name: String, tensor: HostTensor)], _ params: [Param]) throws -> Weights {
    let dir = try makeTempDir("bf16")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try writeSafetensors(tensors, to: dir + "/w.safetensors")
    return try loadWeights(for: Module(name: "m", weights: .file("w.safetensors"), params: params), tirPath: dir + "/m.tir")
}

@Suite struct BF16Tests {
    // MARK: Rounding

    @Test func roundsFloatToNearestEven() {
        #expect(DType.bf16.byteSize == 2 && DType.f32.byteSize == 4 && DType.i32.byteSize == 4)
        #expect(bf16Bits(Float(1)) == 0x3F80)
        #expect(bf16Bits(float(0x3F80_7FFF)) == 0x3F80)  // below half: down
        #expect(bf16Bits(float(0x3F80_8000)) == 0x3F80)  // tie, even below: down
        #expect(bf16Bits(float(0x3F81_8000)) == 0x3F82)  // tie, odd below: up to even
        #expect(bf16Bits(float(0x3F80_8001)) == 0x3F81)  // above half: up
        #expect(bf16Bits(float(0xBF80_8000)) == 0xBF80)  // negative tie
        #expect(bf16Bits(float(0xBF81_8000)) == 0xBF82)
        #expect(bf16Bits(float(0x3FFF_8000)) == 0x4000)  // a carry into the exponent
        #expect(bf16Bits(Float.greatestFiniteMagnitude) == 0x7F80)  // past the largest bf16: infinity
        #expect(bf16Bits(-Float.infinity) == 0xFF80)
        #expect(bf16Bits(float(0x0000_8000)) == 0x0000)  // subnormal tie to even (zero)
        #expect(bf16Bits(float(0x0001_8000)) == 0x0002)
        #expect(bf16Bits(-Float(0)) == 0x8000)
    }

    @Test func nanStaysNaN() {
        for nan in [Float.nan, -Float.nan, float(0x7F80_0001), float(0xFF80_0001), float(0x7FFF_FFFF)] {
            let bits = bf16Bits(nan)
            #expect(floatFromBF16(bits).isNaN, "\(String(nan.bitPattern, radix: 16)) -> \(String(bits, radix: 16))")
            #expect(floatFromBF16(bits).sign == nan.sign)
        }
        #expect(bf16Bits(Double.nan) == 0x7FC0 && bf16Bits(-Double.nan) == 0xFFC0)
    }

    @Test func widensExactly() {
        for bits: UInt16 in [0x0000, 0x8000, 0x0001, 0x3F80, 0x3FC0, 0xC2F7, 0x7F7F, 0x7F80, 0xFF80] {
            #expect(floatFromBF16(bits).bitPattern == UInt32(bits) << 16)
            #expect(bf16Bits(floatFromBF16(bits)) == bits)
        }
        let t = HostTensor(shape: [1, 2], bf16: [0x3FC0, 0xC2F7])
        #expect(t.dtype == .bf16 && t.floats == [1.5, -123.5] && t.doubles == [1.5, -123.5])
    }

    @Test func roundsDoubleOnce() {
        // Just above a bf16 tie: Float(x) lands on the tie (and would then round down to even);
        // rounding once goes up.
        let x = 1 + 0x1p-8 + 0x1p-40
        #expect(bf16Bits(Float(x)) == 0x3F80)
        #expect(bf16Bits(x) == 0x3F81)
        #expect(bf16Bits(1 + 0x1p-8) == 0x3F80 && bf16Bits(1 + 3 * 0x1p-8) == 0x3F82)
        #expect(bf16Bits(0x1p-133) == 0x0001)  // the smallest bf16 subnormal
        #expect(bf16Bits(0x1p-134) == 0x0000 && bf16Bits(3 * 0x1p-134) == 0x0002)  // subnormal ties
        #expect(bf16Bits(1e-300) == 0x0000 && bf16Bits(-1e-300) == 0x8000)
        #expect(bf16Bits(1e300) == 0x7F80 && bf16Bits(Double(Float.greatestFiniteMagnitude)) == 0x7F80)
        #expect(bf16Bits(-Double.infinity) == 0xFF80)
        // On every value a Float holds, both agree.
        var random = ParamRandom(seed: 5, name: "x")
        for value in random.normals(2000, mean: 0, std: 100) {
            #expect(bf16Bits(Double(value)) == bf16Bits(value))
        }
    }

    // MARK: Text and verifier

    @Test func bf16ParamsRoundTripThroughText() throws {
        let source = "model @m {\n  weights random(seed = 0, std = 0.02)\n  input %x : f32[2, 768]\n\n  param @w : bf16[768, 3072]\n\n  %y = linear(%x, @w) : f32[2, 3072]\n  output %y\n}\n"
        let m = try parsed(source)
        #expect(m.param(named: "w")?.type == TensorType(.bf16, [.fixed(768), .fixed(3072)]))
        #expect(printModule(m) == source)
        #expect(try parseModule(printModule(m), file: "x.tir") == m)
        #expect(verifyModule(m, file: "x.tir").isEmpty)
    }

    @Test func everyOpReadsABF16ParamLikeAnF32One() throws {
        #expect(try verify("""
              input %ids : i32[T]
              input %img : f32[1, 4, 4]
              param @wte : bf16[10, 8]
              param @pos : bf16[16, 8]
              param @g : bf16[8]
              param @w : bf16[8, 8]
              param @b : bf16[8]
              param @cls : bf16[1, 8]
              param @pw : bf16[4, 8]
              param @row : bf16[1, 8]
              %x = embedding(%ids, @wte) : f32[T, 8]
              %p = positions(@pos) : f32[T, 8]
              %s = add(%x, %p) : f32[T, 8]
              %n = layernorm(%s, @g, @b) {eps = 1e-05} : f32[T, 8]
              %y = linear(%n, @w, @b) {transposed = true} : f32[T, 8]
              %patches = patch_embed(%img, @pw, @b) {patch = 2} : f32[4, 8]
              %seq = cls_token(%patches, @cls) : f32[5, 8]
              %first = select_row(%y) : f32[1, 8]
              %plus = add(%first, @row) : f32[1, 8]
              %times = mul(@row, %plus) : f32[1, 8]
              %t = tanh(@row) : f32[1, 8]
              output %y, %seq, %times, %t
            """) == [])
    }

    @Test func bf16IsForParametersOnly() throws {
        #expect(try verify("""
              input %x : bf16[T, 8]
              %y = gelu(%x) : f32[T, 8]
              output %y
            """) == ["test.tir:3:9: error: input %x must be f32 or i32, got bf16[T, 8]; bf16 is for parameters only"])
        #expect(try verify("""
              input %x : f32[T, 8]
              %y = relu(%x) : bf16[T, 8]
              output %y
            """) == ["test.tir:4:19: error: result type bf16[T, 8] must be f32: every op computes in f32; bf16 is for parameters only"])
    }

    @Test func bf16MessagesNameBF16() throws {
        #expect(try verify("""
              input %ids : i32[T]
              param @wte : bf16[50]
              %x = embedding(%ids, @wte) : f32[T, 8]
              output %x
            """) == ["test.tir:5:24: error: embedding table must be bf16[V, d], got @wte : bf16[50]"])
        #expect(try verify("""
              input %x : f32[T, 8]
              param @g : bf16[4]
              %n = rmsnorm(%x, @g) {eps = 1e-05} : f32[T, 8]
              output %n
            """) == ["test.tir:5:20: error: rmsnorm gain must be bf16[8], got @g : bf16[4]"])
        #expect(try verify("""
              input %x : f32[3, 8]
              param @c : bf16[2, 8]
              %s = cls_token(%x, @c) : f32[4, 8]
              output %s
            """) == ["test.tir:5:22: error: cls_token cls must be bf16[8] or bf16[1, 8], got @c : bf16[2, 8]"])
    }

    // MARK: Safetensors

    @Test func writerStoresBF16AsBF16() throws {
        let bits: [UInt16] = [0x3FC0, 0xC2F7, 0x0001]
        let bytes = try encodeSafetensors([(name: "w", tensor: HostTensor(shape: [3], bf16: bits))], metadata: [], file: "o")
        let file = try SafetensorsFile(bytes: bytes, path: "o")
        #expect(file.entry(named: "w") == SafetensorsEntry(name: "w", dtype: .bf16, shape: [3], dataOffsets: 0..<6))
        #expect(try file.tensor(named: "w", floats: .bf16) == HostTensor(shape: [3], bf16: bits))
        #expect(try file.tensor(named: "w") == HostTensor(shape: [3], f32: bits.map(floatFromBF16)))
        // .npy has no bf16: the f32 values it stands for.
        let npy = try decodeNpy(try encodeNpy(HostTensor(shape: [3], bf16: bits), file: "x.npy"), file: "x.npy")
        #expect(npy == HostTensor(shape: [3], f32: bits.map(floatFromBF16)))
    }

    // MARK: Weight loading

    @Test func bf16TensorIntoABF16ParamKeepsItsBits() throws {
        // Every finite sign/exponent pattern with a few mantissas, NaN-free.
        var bits: [UInt16] = []
        for b in stride(from: 0, to: 0x7F80, by: 97) { bits += [UInt16(b), UInt16(b) | 0x8000] }
        let stored = HostTensor(shape: [bits.count], bf16: bits)
        let w = try loadFromFile([(name: "w", tensor: stored), (name: "r", tensor: HostTensor(shape: [1, 1, 2], bf16: [0x3F80, 0x4000]))],
                                 [bf16Param("w", [bits.count]), bf16Param("r2", [1, 2], .tensor("r"))])
        #expect(w["w"] == stored)
        #expect(w["r2"] == HostTensor(shape: [1, 2], bf16: [0x3F80, 0x4000]))  // reshaped, as f32 ones are
        // The same tensor read by an f32 parameter is widened exactly.
        let wide = try loadFromFile([(name: "w", tensor: stored)],
                                    [Param(name: "w", type: TensorType(.f32, [.fixed(bits.count)]))])
        #expect(wide["w"] == HostTensor(shape: [bits.count], f32: bits.map(floatFromBF16)))
    }

    @Test func f32TensorIntoABF16ParamRoundsToNearestEven() throws {
        let values = [float(0x3F80_8000), float(0x3F81_8000), float(0x3F80_8001), float(0xBF80_8000), float(0x3F80_7FFF), 0.1]
        let w = try loadFromFile([(name: "w", tensor: HostTensor(shape: [6], f32: values))], [bf16Param("w", [6])])
        #expect(w["w"] == HostTensor(shape: [6], bf16: [0x3F80, 0x3F82, 0x3F81, 0xBF80, 0x3F80, 0x3DCD]))
    }

    @Test func f64TensorIntoABF16ParamRoundsOnce() throws {
        let dir = try makeTempDir("bf16")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = 1 + 0x1p-8 + 0x1p-40
        let header = Array(#"{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#.utf8)
        try Data(le64(UInt64(header.count)) + header + le64(x.bitPattern)).write(to: URL(fileURLWithPath: dir + "/w.safetensors"))
        let module = Module(name: "m", weights: .file("w.safetensors"), params: [bf16Param("d", [1])])
        #expect(try loadWeights(for: module, tirPath: dir + "/m.tir")["d"] == HostTensor(shape: [1], bf16: [0x3F81]))
    }

    @Test func valuePastTheLargestBF16IsRefused() throws {
        var message: String?
        do {
            _ = try loadFromFile([(name: "w", tensor: HostTensor(shape: [2], f32: [1, 3.4e38]))], [bf16Param("w", [2])])
        } catch let error as Diagnostic {
            message = error.message
        }
        #expect(message == "parameter @w: tensor 'w' in 'w.safetensors' has a non-finite value (inf) as bf16 at [1]")
    }

    @Test func seededBF16ParamsRoundTheSameStream() throws {
        let f32Params = [Param(name: "a", type: TensorType(.f32, [.fixed(64)])),
                         Param(name: "u", type: TensorType(.f32, [.fixed(8)]), initializer: .uniform(low: -1, high: 1)),
                         Param(name: "o", type: TensorType(.f32, [.fixed(3)]), initializer: .ones)]
        let bf16Params = f32Params.map { Param(name: $0.name, type: TensorType(.bf16, $0.type.dims), initializer: $0.initializer) }
        let wide = try loadWeights(for: Module(name: "m", weights: .random(seed: 9, std: 0.5), params: f32Params), tirPath: "m.tir")
        let narrow = try loadWeights(for: Module(name: "m", weights: .random(seed: 9, std: 0.5), params: bf16Params), tirPath: "m.tir")
        var a = ParamRandom(seed: 9, name: "a")
        var u = ParamRandom(seed: 9, name: "u")
        #expect(narrow["a"] == HostTensor(shape: [64], bf16: a.normalValues(64, mean: 0, std: 0.5).map { bf16Bits($0) }))
        #expect(narrow["u"] == HostTensor(shape: [8], bf16: u.uniformValues(8, low: -1, high: 1).map { bf16Bits($0) }))
        #expect(narrow["o"] == HostTensor(shape: [3], bf16: [0x3F80, 0x3F80, 0x3F80]))
        // The same stream as the f32 parameter's, to within bf16's rounding.
        for name in ["a", "u"] {
            let (x, y) = (try #require(wide[name]).floats, try #require(narrow[name]).floats)
            #expect(zip(x, y).allSatisfy { abs($0 - $1) <= abs($0) * 0x1p-8 })
        }
    }
}
