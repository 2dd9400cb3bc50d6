// Tests of the safetensors reader and writer: spec-built golden bytes, round trips, one test per malformation.

import Foundation
import Testing
import TIR
@testable import TIRFormats


/// A safetensors image built by hand from the spec: u64 LE header length, header, data.
private func image(_ header: String, _ data: [UInt8] = []) -> Data {
    Data(le64(UInt64(header.utf8.count)) + Array(header.utf8) + data)
}

/// The message of opening an in-memory image.
private func openError(_ bytes: Data) -> String? {
    diagnostic { () throws(Diagnostic) in try SafetensorsFile(bytes: bytes, path: "w.safetensors") }?.message
}

@Suite("Safetensors") struct SafetensorsTests {
    @Test func safetensorsReadsHandBuiltFileOfEveryReadableDType() throws {
        let header = #"{"__metadata__":{"format":"pt"},"#
            + #""f32":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""f16":{"dtype":"F16","shape":[5],"data_offsets":[8,18]},"#
            + #""bf16":{"dtype":"BF16","shape":[1,2],"data_offsets":[18,22]},"#
            + #""f64":{"dtype":"F64","shape":[],"data_offsets":[22,30]},"#
            + #""i32":{"dtype":"I32","shape":[2,1],"data_offsets":[30,38]},"#
            + #""i64":{"dtype":"I64","shape":[1],"data_offsets":[38,46]}}"#
        var data: [UInt8] = []
        data += le32(Float(1.5).bitPattern) + le32(Float(-2).bitPattern)
        data += le16(0x3C00) + le16(0xC000) + le16(0x0001) + le16(0x7BFF) + le16(0xFC00)  // 1, -2, 2^-24, 65504, -inf
        data += le16(0x3FC0) + le16(0xC2F7)  // bf16: 1.5, -123.5
        data += le64(Double(0.1).bitPattern)
        data += le32(UInt32(bitPattern: -7)) + le32(123_456)
        data += le64(UInt64(bitPattern: -2_000_000_000))

        let file = try SafetensorsFile(bytes: image(header, data), path: "w.safetensors")
        #expect(file.names == ["f32", "f16", "bf16", "f64", "i32", "i64"])
        #expect(file.metadata.map(\.key) == ["format"] && file.metadata.map(\.value) == ["pt"])
        #expect(file.entry(named: "f16") == SafetensorsEntry(name: "f16", dtype: .f16, shape: [5], dataOffsets: 8..<18))
        #expect(try file.tensor(named: "f32") == HostTensor(shape: [2], f32: [1.5, -2]))
        #expect(try file.tensor(named: "f16") == HostTensor(shape: [5], f32: [1, -2, 0x1p-24, 65504, -.infinity]))
        #expect(try file.tensor(named: "bf16") == HostTensor(shape: [1, 2], f32: [1.5, -123.5]))
        #expect(try file.tensor(named: "f64") == HostTensor(shape: [], f32: [Float(0.1)]))
        #expect(try file.tensor(named: "i32") == HostTensor(shape: [2, 1], i32: [-7, 123_456]))
        #expect(try file.tensor(named: "i64") == HostTensor(shape: [1], i32: [-2_000_000_000]))
    }

    @Test func safetensorsHalfConversionIsExact() {
        #expect(floatFromHalfBits(0x0000) == 0 && floatFromHalfBits(0x8000).sign == .minus)
        #expect(floatFromHalfBits(0x3555) == 0.333251953125)
        #expect(floatFromHalfBits(0x03FF) == 0x1.ff8p-15)  // largest subnormal
        #expect(floatFromHalfBits(0x0400) == 0x1p-14)  // smallest normal
        #expect(floatFromHalfBits(0x7C00) == .infinity)
        #expect(floatFromHalfBits(0x7E00).isNaN)
    }

    @Test func safetensorsWriterProducesSpecBytes() throws {
        let bytes = try encodeSafetensors([(name: "w", tensor: HostTensor(shape: [2], f32: [1, -2]))],
                                          metadata: [(key: "k", value: "v")], file: "out.safetensors")
        let header = #"{"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        // 79 bytes of JSON, padded with spaces to 80.
        let padded = header + " "
        let expected = le64(80) + Array(padded.utf8) + le32(0x3F80_0000) + le32(0xC000_0000)
        #expect(Array(bytes) == expected)
    }

    @Test func safetensorsRoundTripsDTypesAndRanks() throws {
        let dir = try makeTempDir("safetensors")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/model.safetensors"
        let tensors: [(name: String, tensor: HostTensor)] = [
            (name: "scalar", tensor: HostTensor(shape: [], f32: [3.25])),
            (name: "vector", tensor: HostTensor(shape: [3], f32: [0, -0.0, .greatestFiniteMagnitude])),
            (name: "cube", tensor: HostTensor(shape: [2, 2, 2], f32: (0..<8).map { Float($0) / 7 })),
            (name: "empty", tensor: HostTensor(shape: [0, 4], f32: [])),
            (name: "ids", tensor: HostTensor(shape: [2, 3], i32: [0, -1, .max, .min, 5, 6])),
            (name: "名前 with \"quotes\"", tensor: HostTensor(shape: [1], f32: [1])),
        ]
        try writeSafetensors(tensors, metadata: [(key: "source", value: "tfc test")], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.names == tensors.map(\.name))
        #expect(file.metadata.map(\.value) == ["tfc test"])
        for (name, tensor) in tensors {
            #expect(try file.tensor(named: name) == tensor)
        }
        // The data buffer starts 8-byte aligned.
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect((size - 4 * 19) % 8 == 0)
    }

    @Test func safetensorsWriteIsAtomic() throws {
        let dir = try makeTempDir("safetensors")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/w.safetensors"
        try writeSafetensors([(name: "a", tensor: HostTensor(shape: [1], f32: [1]))], to: path)
        try writeSafetensors([(name: "b", tensor: HostTensor(shape: [1], f32: [2]))], to: path)
        #expect(try SafetensorsFile(path: path).names == ["b"])
        // A failed write leaves the old file and no temporary file behind.
        let dup = diagnostic { () throws(Diagnostic) in
            try writeSafetensors([(name: "c", tensor: HostTensor(shape: [1], f32: [1])),
                                  (name: "c", tensor: HostTensor(shape: [1], f32: [2]))], to: path)
        }
        #expect(dup?.message == "duplicate tensor 'c'")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["w.safetensors"])
        let missingDir = diagnostic { () throws(Diagnostic) in
            try writeSafetensors([(name: "a", tensor: HostTensor(shape: [1], f32: [1]))], to: dir + "/no/such/dir/w.safetensors")
        }
        #expect(missingDir?.message.hasPrefix("cannot write") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["w.safetensors"])
    }

    @Test func safetensorsFileNotFound() {
        let d = diagnostic { () throws(Diagnostic) in try SafetensorsFile(path: "/nonexistent/x.safetensors") }
        #expect(d?.file == "/nonexistent/x.safetensors")
        #expect(d?.loc == nil)
        #expect(d?.message == "no such file")
    }

    @Test func safetensorsShorterThanEightBytes() {
        #expect(openError(Data([1, 0, 0])) == "file too short (3 bytes): a safetensors file starts with an 8-byte header length")
    }

    @Test func safetensorsHeaderLengthPastEndOfFile() {
        #expect(openError(Data(le64(4096) + [UInt8](repeating: 0x20, count: 92)))
            == "truncated: header says 4096 bytes but only 92 follow the 8-byte length")
    }

    @Test func safetensorsAbsurdHeaderLength() {
        #expect(openError(Data(le64(UInt64.max) + Array("{}".utf8)))
            == "not a safetensors file: its first 8 bytes give a header longer than the limit of 100000000 bytes")
    }

    @Test func safetensorsCorruptJSONHeader() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]} "b":{}}"#
        #expect(openError(image(header, [0, 0, 0, 0])) == "safetensors header: expected ',' or '}' at byte 54")
        #expect(openError(image("[]")) == "safetensors header: expected a JSON object")
        #expect(openError(image("")) == "safetensors header: expected a value, found end of input at byte 0")
        #expect(openError(Data(le64(3) + [0x22, 0xFF, 0x22])) == "safetensors header: invalid UTF-8 at byte 1")
    }

    @Test func safetensorsMissingDataOffsets() {
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[1]}}"#, [0, 0, 0, 0]))
            == "safetensors header: tensor 'a': missing 'data_offsets'")
        #expect(openError(image(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]))
            == "safetensors header: tensor 'a': missing 'dtype'")
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, [0, 0, 0, 0]))
            == "safetensors header: tensor 'a': 'data_offsets' must be two non-negative integers [begin, end]")
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]))
            == "safetensors header: tensor 'a': 'shape' must be an array of non-negative integers")
        #expect(openError(image(#"{"a":[]}"#))
            == "safetensors header: tensor 'a': expected an object with dtype, shape and data_offsets")
        #expect(openError(image(#"{"__metadata__":{"n":1}}"#))
            == "safetensors header: __metadata__ value of 'n' is not a string")
    }

    @Test func safetensorsUnknownDType() {
        #expect(openError(image(#"{"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]))
            == "safetensors header: tensor 'a': unknown dtype 'F17'")
    }

    @Test func safetensorsSizeMismatch() {
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, Array(repeating: 0, count: 24)))
            == "safetensors header: tensor 'a': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20")
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, Array(repeating: 0, count: 8)))
            == "safetensors header: tensor 'a': data_offsets [8, 4] end before they begin")
        #expect(openError(image(#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#))
            == "safetensors header: tensor 'a': shape [4294967296, 4294967296] is too large")
    }

    @Test func safetensorsOffsetsPastEndOfFile() {
        #expect(openError(image(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, Array(repeating: 0, count: 8)))
            == "safetensors header: tensor 'a': data_offsets [4, 12] run past the end of the data (8 bytes)")
    }

    @Test func safetensorsUnconvertibleValues() throws {
        let file = try SafetensorsFile(bytes: image(#"{"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"#
            + #""big":{"dtype":"I64","shape":[2],"data_offsets":[1,17]}}"#, [7] + le64(1) + le64(1 << 40)), path: "w.safetensors")
        #expect(diagnostic { () throws(Diagnostic) in try file.tensor(named: "u") }?.message
            == "tensor 'u': dtype U8 is not supported (tfc reads F32, F16, BF16, F64, I32 and I64)")
        #expect(diagnostic { () throws(Diagnostic) in try file.tensor(named: "big") }?.message
            == "tensor 'big': I64 value 1099511627776 at index 1 does not fit in 32 bits")
        #expect(diagnostic { () throws(Diagnostic) in try file.tensor(named: "nope") }?.message == "no tensor 'nope'")
    }
}
