// Tests of the .npy reader and writer: spec-built golden bytes, files numpy wrote, round trips, malformed files.

import Foundation
import Testing
import TIR
@testable import TIRFormats


/// A version 1.0 .npy image built by hand from the spec (no padding: readers must not need it).
private func npy(_ header: String, _ data: [UInt8] = [], version: UInt8 = 1) -> Data {
    let n = header.utf8.count
    let length: [UInt8] = version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : le32(UInt32(n))
    return Data([0x93] + Array("NUMPY".utf8) + [version, 0] + length + Array(header.utf8) + data)
}

private func decodeError(_ bytes: Data) -> String? {
    diagnostic { () throws(Diagnostic) in try decodeNpy(bytes, file: "x.npy") }?.message
}

/// Files written by numpy 2.4 (see Docs/weights.md for the script).
private func golden(_ name: String) throws -> String {
    try #require(Bundle.module.url(forResource: "Golden", withExtension: nil)).appendingPathComponent("npy/" + name).path
}

@Suite("NumPy .npy") struct NpyTests {
    @Test func npyReadsHandBuiltFiles() throws {
        let f4 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }\n",
                     le32(Float(0.5).bitPattern) + le32(Float(-3).bitPattern))
        #expect(try decodeNpy(f4, file: "x.npy") == HostTensor(shape: [2, 1], f32: [0.5, -3]))
        // Double quotes, no spaces, no trailing comma, keys in another order, version 2.0.
        let f8 = npy("{\"shape\":(3,),\"fortran_order\":False,\"descr\":\"<f8\"}", le64(Double(0.1).bitPattern)
                     + le64(Double(-1e300).bitPattern) + le64(Double(2).bitPattern), version: 2)
        #expect(try decodeNpy(f8, file: "x.npy") == HostTensor(shape: [3], f32: [Float(0.1), -.infinity, 2]))
        let i8 = npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", le64(UInt64(bitPattern: -5)))
        #expect(try decodeNpy(i8, file: "x.npy") == HostTensor(shape: [], i32: [-5]))
        let i4 = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 0, 2), }")
        #expect(try decodeNpy(i4, file: "x.npy") == HostTensor(shape: [1, 0, 2], i32: []))
    }

    @Test func npyWriterProducesSpecBytes() throws {
        let bytes = try encodeNpy(HostTensor(shape: [2], i32: [1, -1]), file: "x.npy")
        // 10-byte preamble + 57-byte dict + spaces + '\n' = 128 bytes, then the data.
        let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
        let header = dict + String(repeating: " ", count: 60) + "\n"
        let expected = [0x93] + Array("NUMPY".utf8) + [1, 0, 118, 0] + Array(header.utf8) + le32(1) + le32(0xFFFF_FFFF)
        #expect(Array(bytes) == expected)
        #expect(bytes.count == 136)
    }

    @Test func npyReadsFilesWrittenByNumpy() throws {
        #expect(try readNpy(path: golden("f4_2x3.npy")) == HostTensor(shape: [2, 3], f32: [-1, -0.5, 0, 0.5, 1, 1.5]))
        #expect(try readNpy(path: golden("f8_4.npy")) == HostTensor(shape: [4], f32: [0.1, -2.5, 1e-3, 3]))
        #expect(try readNpy(path: golden("i8_2x2.npy")) == HostTensor(shape: [2, 2], i32: [1, -2, 3, .max]))
        #expect(try readNpy(path: golden("i4_scalar.npy")) == HostTensor(shape: [], i32: [7]))
        #expect(try readNpy(path: golden("f4_0x3.npy")) == HostTensor(shape: [0, 3], f32: []))
        #expect(try readNpy(path: golden("f4_v2_3.npy")) == HostTensor(shape: [3], f32: [1.5, -0.25, 4]))
        let fortranPath = try golden("f4_fortran.npy")
        let fortran = diagnostic { () throws(Diagnostic) in try readNpy(path: fortranPath) }
        #expect(fortran?.message.hasPrefix("Fortran-order (column-major) arrays are not supported") == true)
    }

    @Test func npyRoundTripsDTypesAndRanks() throws {
        let dir = try makeTempDir("npy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors = [
            HostTensor(shape: [], f32: [-0.75]),
            HostTensor(shape: [5], f32: [1, 2, .infinity, -0.0, .leastNonzeroMagnitude]),
            HostTensor(shape: [2, 3, 4], f32: (0..<24).map { Float($0) * 0.1 }),
            HostTensor(shape: [3, 0], f32: []),
            HostTensor(shape: [], i32: [42]),
            HostTensor(shape: [2, 2], i32: [.min, -1, 0, .max]),
        ]
        for (i, tensor) in tensors.enumerated() {
            let path = dir + "/t\(i).npy"
            try writeNpy(tensor, to: path)
            #expect(try readNpy(path: path) == tensor)
            // numpy's layout: data starts at a multiple of 64.
            let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect((size - 4 * tensor.count) % 64 == 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == tensors.count)
    }

    @Test func npyFileNotFound() {
        #expect(diagnostic { () throws(Diagnostic) in try readNpy(path: "/nonexistent.npy") }?.message == "no such file")
    }

    @Test func npyBadMagic() {
        #expect(decodeError(Data("PK\u{03}\u{04}zipzipzip".utf8)) == "not a .npy file (it does not start with \\x93NUMPY)")
        #expect(decodeError(Data()) == "not a .npy file (it does not start with \\x93NUMPY)")
    }

    @Test func npyTruncated() {
        #expect(decodeError(Data([0x93] + Array("NUMPY".utf8) + [1])) == "truncated: the file ends inside the format version")
        #expect(decodeError(Data([0x93] + Array("NUMPY".utf8) + [1, 0, 0x40])) == "truncated: the file ends inside the header length")
        #expect(decodeError(Data([0x93] + Array("NUMPY".utf8) + [1, 0, 0x40, 0] + Array("{'descr'".utf8)))
            == "truncated: header says 64 bytes but only 8 follow")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Array(repeating: 0, count: 20)))
            == "shape [2, 3] of <f4 needs 6 × 4 bytes of data but the file has 20")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3037000499, 3037000499), }"))
            == "shape [3037000499, 3037000499] of <f4 needs 9223372030926249001 × 4 bytes of data but the file has 0")
    }

    @Test func npyBadHeaderDict() {
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False 'shape': (2,)}"))
            == "malformed header: expected '}' at byte 40 of the header")
        #expect(decodeError(npy("{'descr': '<f4', 'shape': (2,)}")) == "malformed header: no 'fortran_order'")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}"))
            == "malformed header: unexpected key 'extra'")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"))
            == "malformed header: expected a non-negative integer at byte 51 of the header")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}"))
            == "malformed header: 'fortran_order' must be True or False")
        #expect(decodeError(npy("{'descr': '<f4', 'descr': '<f4'}")) == "malformed header: duplicate key 'descr' at byte 17 of the header")
        #expect(decodeError(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} trailing"))
            == "malformed header: unexpected text after the dict at byte 56 of the header")
        #expect(decodeError(npy("{}", version: 9)) == "unsupported .npy format version 9.0 (tfc reads 1.0, 2.0 and 3.0)")
    }

    @Test func npyUnsupportedDTypes() {
        #expect(decodeError(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,)}", [0, 0, 0, 0]))
            == "big-endian dtype '>f4' is not supported; use '<f4'")
        #expect(decodeError(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,)}", [0]))
            == "unsupported dtype '|u1' (tfc reads <f4, <f8, <i4 and <i8)")
        #expect(decodeError(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", le64(0) + le64(1 << 31)))
            == "<i8 value 2147483648 at index 1 does not fit in 32 bits")
    }
}
