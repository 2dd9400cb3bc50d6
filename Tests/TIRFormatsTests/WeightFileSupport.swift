// Helpers shared by the weight-file tests (safetensors, .npy, the weight loader).
import Foundation
import TIR
@testable import TIRFormats

/// The diagnostic `body` throws, or nil if it succeeds.
func diagnostic<T>(_ body: () throws(Diagnostic) -> T) -> Diagnostic? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A fresh temporary folder named after `label`.
func makeTempDir(_ label: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// Little-endian bytes, for building files by hand from their specs.
func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
