// Reading and writing safetensors files (https://github.com/huggingface/safetensors), fully validated.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
// then the data buffer; offsets are relative to the start of the data buffer.

import Foundation
import TIR

/// The element types the safetensors format names. All are recognized (so that a header can
/// be fully validated); `SafetensorsFile.tensor` converts the ones tfc needs.
public enum SafetensorsDType: String, Sendable, Hashable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"
    case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32"
    case i64 = "I64", u64 = "U64", f64 = "F64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .i64, .u64, .f64: return 8
        }
    }

    public var isFloat: Bool {
        switch self {
        case .f8e5m2, .f8e4m3, .f16, .bf16, .f32, .f64: return true
        default: return false
        }
    }
}

/// One tensor of a safetensors header, validated against the file.
public struct SafetensorsEntry: Sendable, Hashable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data buffer (which starts right after the header).
    public var dataOffsets: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// An opened safetensors file: its validated header; tensor data is converted on demand
/// from the memory-mapped file, so the raw data is never copied as a whole.
public struct SafetensorsFile: Sendable {
    /// Headers larger than this are rejected before anything is allocated for them (the
    /// reference implementation uses the same limit).
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Tensors in header order.
    public let entries: [SafetensorsEntry]
    /// The `__metadata__` map, in header order.
    public let metadata: [(key: String, value: String)]

    private let bytes: Data
    private let dataStart: Int
    private let index: [String: Int]

    /// Opens and validates `path`. Errors are Diagnostics with `file` = `path` and no location.
    public init(path: String) throws(Diagnostic) {
        try self.init(bytes: BinaryFile.read(path), path: path)
    }

    /// Validates an in-memory safetensors image; `path` is used in diagnostics.
    public init(bytes: Data, path: String) throws(Diagnostic) {
        func fail(_ message: String) -> Diagnostic { Diagnostic(file: path, loc: nil, message) }

        let size = bytes.count
        guard size >= 8 else {
            throw fail("file too short (\(size) bytes): a safetensors file starts with an 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(SafetensorsFile.maxHeaderBytes) else {
            // The number itself is the file's content: not echoed (the file may not be meant to be shown).
            throw fail("not a safetensors file: its first 8 bytes give a header longer than the limit of"
                       + " \(SafetensorsFile.maxHeaderBytes) bytes")
        }
        let n = Int(headerLength)
        guard n <= size - 8 else {
            throw fail("truncated: header says \(n) bytes but only \(size - 8) follow the 8-byte length")
        }
        let headerBytes = bytes.withUnsafeBytes { Array($0[8..<(8 + n)]) }
        let json: JSONValue
        do throws(JSONError) {
            json = try JSONValue.parse(headerBytes)
        } catch {
            throw fail("safetensors header: \(error)")
        }
        guard case .object(let top) = json else { throw fail("safetensors header: expected a JSON object") }

        let dataSize = size - 8 - n
        var entries: [SafetensorsEntry] = []
        var metadata: [(key: String, value: String)] = []
        for (name, value) in top.pairs {
            if name == "__metadata__" {
                guard case .object(let map) = value else {
                    throw fail("safetensors header: __metadata__ must be an object of strings")
                }
                for (key, item) in map.pairs {
                    guard let text = item.stringValue else {
                        throw fail("safetensors header: __metadata__ value of '\(key)' is not a string")
                    }
                    metadata.append((key: key, value: text))
                }
                continue
            }
            entries.append(try SafetensorsFile.entry(name, value, dataSize: dataSize, fail: fail))
        }

        self.path = path
        self.entries = entries
        self.metadata = metadata
        self.bytes = bytes
        self.dataStart = 8 + n
        self.index = Dictionary(entries.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Validates one header entry: fields present and well typed, byte size consistent with
    /// dtype and shape (with overflow checks), range inside the data buffer.
    private static func entry(_ name: String, _ value: JSONValue, dataSize: Int,
                              fail: (String) -> Diagnostic) throws(Diagnostic) -> SafetensorsEntry {
        func bad(_ message: String) -> Diagnostic { fail("safetensors header: tensor '\(name)': \(message)") }

        guard case .object(let info) = value else {
            throw bad("expected an object with dtype, shape and data_offsets")
        }
        guard let dtypeValue = info["dtype"] else { throw bad("missing 'dtype'") }
        guard let shapeValue = info["shape"] else { throw bad("missing 'shape'") }
        guard let offsetsValue = info["data_offsets"] else { throw bad("missing 'data_offsets'") }

        guard let dtypeName = dtypeValue.stringValue else { throw bad("'dtype' must be a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else { throw bad("unknown dtype '\(dtypeName)'") }

        guard let dimValues = shapeValue.arrayValue else { throw bad("'shape' must be an array of integers") }
        var shape: [Int] = []
        var count = 1
        var overflow = false
        for dim in dimValues {
            guard let d = dim.uint64Value else { throw bad("'shape' must be an array of non-negative integers") }
            guard d <= UInt64(Int.max) else { throw bad("shape dimension \(d) is too large") }
            shape.append(Int(d))
            let (product, o) = count.multipliedReportingOverflow(by: Int(d))
            count = product
            overflow = overflow || o
        }
        let (byteCount, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, !o else { throw bad("shape \(shape) is too large") }

        guard let offsetValues = offsetsValue.arrayValue, offsetValues.count == 2,
              let begin = offsetValues[0].uint64Value, let end = offsetValues[1].uint64Value else {
            throw bad("'data_offsets' must be two non-negative integers [begin, end]")
        }
        guard begin <= end else { throw bad("data_offsets [\(begin), \(end)] end before they begin") }
        guard end - begin == UInt64(byteCount) else {
            throw bad("shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes"
                      + " but data_offsets [\(begin), \(end)] hold \(end - begin)")
        }
        guard end <= UInt64(dataSize) else {
            throw bad("data_offsets [\(begin), \(end)] run past the end of the data (\(dataSize) bytes)")
        }
        return SafetensorsEntry(name: name, dtype: dtype, shape: shape, dataOffsets: Int(begin)..<Int(end))
    }

    public var names: [String] { entries.map(\.name) }

    public func entry(named name: String) -> SafetensorsEntry? {
        index[name].map { entries[$0] }
    }

    /// The tensor `name`, converted: F32, F16, BF16 and F64 to f32 (F64 rounded to nearest),
    /// or to bf16 when `floats` is `.bf16` (BF16 kept bit for bit, the others rounded to
    /// nearest, ties to even, once); I32 and I64 to i32 (an I64 value out of the Int32 range
    /// is an error).
    public func tensor(named name: String, floats: DType = .f32) throws(Diagnostic) -> HostTensor {
        guard let entry = entry(named: name) else { throw Diagnostic(file: path, loc: nil, "no tensor '\(name)'") }
        return try tensor(entry, floats: floats)
    }

    public func tensor(_ entry: SafetensorsEntry, floats: DType = .f32) throws(Diagnostic) -> HostTensor {
        // Only entries validated against this file may index its bytes.
        guard self.entry(named: entry.name) == entry else {
            throw Diagnostic(file: path, loc: nil, "tensor '\(entry.name)' does not belong to this file")
        }
        let count = entry.elementCount
        let base = dataStart + entry.dataOffsets.lowerBound
        if floats == .bf16 && entry.dtype.isFloat {
            return try bf16Tensor(entry, count: count, at: base)
        }
        switch entry.dtype {
        case .f32:
            return HostTensor(shape: entry.shape, f32: load(count, UInt32.self, at: base) { Float(bitPattern: $0) })
        case .f16:
            return HostTensor(shape: entry.shape, f32: load(count, UInt16.self, at: base, floatFromHalfBits))
        case .bf16:
            // bfloat16 is the top half of a float32.
            return HostTensor(shape: entry.shape, f32: load(count, UInt16.self, at: base) {
                Float(bitPattern: UInt32($0) << 16)
            })
        case .f64:
            return HostTensor(shape: entry.shape, f32: load(count, UInt64.self, at: base) {
                Float(Double(bitPattern: $0))
            })
        case .i32:
            return HostTensor(shape: entry.shape, i32: load(count, UInt32.self, at: base) { Int32(bitPattern: $0) })
        case .i64:
            let wide = load(count, UInt64.self, at: base) { Int64(bitPattern: $0) }
            if let i = wide.firstIndex(where: { Int32(exactly: $0) == nil }) {
                throw Diagnostic(file: path, loc: nil,
                                 "tensor '\(entry.name)': I64 value \(wide[i]) at index \(i) does not fit in 32 bits")
            }
            return HostTensor(shape: entry.shape, i32: wide.map { Int32(truncatingIfNeeded: $0) })
        default:
            throw Diagnostic(file: path, loc: nil, "tensor '\(entry.name)': dtype \(entry.dtype.rawValue) is not supported"
                             + " (tfc reads F32, F16, BF16, F64, I32 and I64)")
        }
    }

    /// A float tensor as bfloat16: BF16 as stored, F32 and F16 (exact in Float) and F64 rounded
    /// to nearest-even straight from their values, so each is rounded once.
    private func bf16Tensor(_ entry: SafetensorsEntry, count: Int, at base: Int) throws(Diagnostic) -> HostTensor {
        let bits: [UInt16]
        switch entry.dtype {
        case .bf16: bits = load(count, UInt16.self, at: base) { $0 }
        case .f32: bits = load(count, UInt32.self, at: base) { bf16Bits(Float(bitPattern: $0)) }
        case .f16: bits = load(count, UInt16.self, at: base) { bf16Bits(floatFromHalfBits($0)) }
        case .f64: bits = load(count, UInt64.self, at: base) { bf16Bits(Double(bitPattern: $0)) }
        default:
            throw Diagnostic(file: path, loc: nil, "tensor '\(entry.name)': dtype \(entry.dtype.rawValue) cannot be read as bf16"
                             + " (tfc reads F32, F16, BF16 and F64 as bf16)")
        }
        return HostTensor(shape: entry.shape, bf16: bits)
    }

    /// Reads `count` little-endian words starting at byte `offset` of the file and converts each.
    private func load<Word: FixedWidthInteger, T>(_ count: Int, _ word: Word.Type, at offset: Int,
                                                   _ convert: (Word) -> T) -> [T] {
        bytes.withUnsafeBytes { raw in
            let stride = MemoryLayout<Word>.size
            return (0..<count).map { i in
                convert(Word(littleEndian: raw.loadUnaligned(fromByteOffset: offset + i * stride, as: Word.self)))
            }
        }
    }
}

/// IEEE 754 binary16 to binary32, exact (every half value is a float value). Done by hand
/// because Swift's Float16 is unavailable on some platforms (macOS on x86_64).
func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int(h >> 10) & 0x1F
    let mantissa = UInt32(h & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa * 2^-24.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    case 0x1F:
        // Infinity or NaN (payload kept).
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    default:
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }
}

// MARK: - Writing

/// Writes `tensors` (f32 as F32, bf16 as BF16, i32 as I32) in the given order, with `metadata` as the
/// `__metadata__` map when it is not empty. The file is written to a temporary file next
/// to `path` and renamed over it, so a failure leaves no half-written file.
public func writeSafetensors(_ tensors: [(name: String, tensor: HostTensor)],
                             metadata: [(key: String, value: String)] = [],
                             to path: String) throws(Diagnostic) {
    try BinaryFile.writeAtomically(encodeSafetensors(tensors, metadata: metadata, file: path), to: path)
}

/// The bytes of a safetensors file (for writers that place the file themselves). The header is compact JSON padded with spaces to a
/// multiple of 8 bytes, as the reference implementation writes it, so that the data buffer
/// starts aligned; tensors are stored back to back in the given order.
public func encodeSafetensors(_ tensors: [(name: String, tensor: HostTensor)],
                       metadata: [(key: String, value: String)], file: String) throws(Diagnostic) -> Data {
    var header = JSONObject()
    if !metadata.isEmpty {
        header.pairs.append((key: "__metadata__",
                             value: .object(JSONObject(metadata.map { (key: $0.key, value: .string($0.value)) }))))
    }
    var seen = Set<String>()
    var offset = 0
    for (name, tensor) in tensors {
        guard name != "__metadata__" else {
            throw Diagnostic(file: file, loc: nil, "'__metadata__' cannot be a tensor name")
        }
        guard seen.insert(name).inserted else { throw Diagnostic(file: file, loc: nil, "duplicate tensor '\(name)'") }
        guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
            throw Diagnostic(file: file, loc: nil, "tensor '\(name)' has a negative dimension in \(tensor.shape)")
        }
        let size = tensor.count * tensor.dtype.byteSize
        let fileType: SafetensorsDType = switch tensor.dtype {
        case .f32: .f32
        case .bf16: .bf16
        case .i32: .i32
        }
        let entry: JSONValue = [
            "dtype": .string(fileType.rawValue),
            "shape": .array(tensor.shape.map(JSONValue.int)),
            "data_offsets": [.int(offset), .int(offset + size)],
        ]
        header.pairs.append((key: name, value: entry))
        offset += size
    }
    var headerBytes = Array(JSONValue.object(header).serialized().utf8)
    headerBytes += Array(repeating: UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8)

    var out = Data(capacity: 8 + headerBytes.count + offset)
    BinaryFile.appendLittleEndian([UInt64(headerBytes.count)], to: &out)
    out.append(contentsOf: headerBytes)
    for (_, tensor) in tensors {
        BinaryFile.appendWords(of: tensor, to: &out)
    }
    return out
}

// MARK: - File helpers shared with Npy.swift

enum BinaryFile {
    /// The whole file, memory-mapped where the platform allows.
    static func read(_ path: String) throws(Diagnostic) -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Diagnostic(file: path, loc: nil, "no such file")
        }
        guard !isDirectory.boolValue else { throw Diagnostic(file: path, loc: nil, "is a directory, not a file") }
        // A device, FIFO or socket would be read forever or refused with a misleading reason.
        let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        guard type == .typeRegular else {
            throw Diagnostic(file: path, loc: nil, "is not a regular file (a device, FIFO or socket): weights must be a file on disk")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw Diagnostic(file: path, loc: nil, "cannot read: \(error.localizedDescription)")
        }
    }

    /// Writes to a uniquely named temporary file in the destination's folder, then renames it
    /// over `path` (atomic on POSIX file systems). On failure the temporary file is removed.
    static func writeAtomically(_ data: Data, to path: String) throws(Diagnostic) {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try data.write(to: temp)
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw Diagnostic(file: path, loc: nil, "cannot write: \(error.localizedDescription)")
        }
        if rename(temp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw Diagnostic(file: path, loc: nil, "cannot write: \(reason)")
        }
    }

    static func appendLittleEndian<Word: FixedWidthInteger>(_ words: [Word], to out: inout Data) {
        let little = words.map(\.littleEndian)
        little.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// A tensor's elements as little-endian words of its element size (f32, bf16 or i32).
    static func appendWords(of tensor: HostTensor, to out: inout Data) {
        switch tensor.storage {
        case .f32(let values): appendLittleEndian(values.map(\.bitPattern), to: &out)
        case .bf16(let bits): appendLittleEndian(bits, to: &out)
        case .i32(let values): appendLittleEndian(values, to: &out)
        }
    }
}
