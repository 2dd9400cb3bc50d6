// Reading and writing NumPy .npy files: format versions 1.0, 2.0 and 3.0; little-endian
// f4, f8, i4, i8; C order; any rank (including 0-d).
//
// Layout (numpy.lib.format): "\x93NUMPY", major, minor, header length (u16 LE in 1.0, u32 LE
// in 2.0/3.0), then a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and ended by '\n', then the raw elements.

import Foundation
import TIR

/// Reads a .npy file: `<f4` and `<f8` (rounded to nearest) as f32, `<i4` and `<i8` as i32
/// (an i8 value out of the Int32 range is an error). Errors have `file` = `path`.
public func readNpy(path: String) throws(Diagnostic) -> HostTensor {
    try decodeNpy(BinaryFile.read(path), file: path)
}

/// Writes a format 1.0 .npy file (`<f4` or `<i4`), atomically.
public func writeNpy(_ tensor: HostTensor, to path: String) throws(Diagnostic) {
    try BinaryFile.writeAtomically(encodeNpy(tensor, file: path), to: path)
}

private let npyMagic: [UInt8] = [0x93] + Array("NUMPY".utf8)

/// The element types tfc reads; the header's `descr` names them.
private enum NpyDType: String {
    case f4 = "<f4", f8 = "<f8", i4 = "<i4", i8 = "<i8"

    var itemSize: Int {
        switch self {
        case .f4, .i4: return 4
        case .f8, .i8: return 8
        }
    }
}

func decodeNpy(_ data: Data, file: String) throws(Diagnostic) -> HostTensor {
    func fail(_ message: String) -> Diagnostic { Diagnostic(file: file, loc: nil, message) }

    let size = data.count
    let prefix = data.withUnsafeBytes { Array($0.prefix(12)) }
    guard prefix.count >= 6, Array(prefix[0..<6]) == npyMagic else {
        throw fail("not a .npy file (it does not start with \\x93NUMPY)")
    }
    guard prefix.count >= 8 else { throw fail("truncated: the file ends inside the format version") }
    let (major, minor) = (prefix[6], prefix[7])
    let lengthSize: Int
    switch major {
    case 1: lengthSize = 2
    case 2, 3: lengthSize = 4
    default: throw fail("unsupported .npy format version \(major).\(minor) (tfc reads 1.0, 2.0 and 3.0)")
    }
    guard prefix.count >= 8 + lengthSize else { throw fail("truncated: the file ends inside the header length") }
    let headerLength = prefix[8..<(8 + lengthSize)].reversed().reduce(0) { $0 << 8 | Int($1) }
    let headerStart = 8 + lengthSize
    guard headerLength <= size - headerStart else {
        throw fail("truncated: header says \(headerLength) bytes but only \(size - headerStart) follow")
    }
    let headerBytes = data.withUnsafeBytes { Array($0[headerStart..<(headerStart + headerLength)]) }

    var parser = NpyHeaderParser(bytes: headerBytes)
    let dict: [(key: String, value: NpyHeaderParser.Value)]
    do throws(NpyHeaderParser.Failure) {
        dict = try parser.parseDict()
    } catch {
        throw fail("malformed header: \(error.message) at byte \(error.offset) of the header")
    }
    var descr: String?
    var fortranOrder: Bool?
    var shapeValue: [Int]?
    for (key, value) in dict {
        switch (key, value) {
        case ("descr", .string(let s)): descr = s
        case ("descr", _): throw fail("structured dtypes are not supported (descr must be a string such as '<f4')")
        case ("fortran_order", .bool(let b)): fortranOrder = b
        case ("fortran_order", _): throw fail("malformed header: 'fortran_order' must be True or False")
        case ("shape", .tuple(let dims)): shapeValue = dims
        case ("shape", _): throw fail("malformed header: 'shape' must be a tuple of integers")
        default: throw fail("malformed header: unexpected key '\(key)'")
        }
    }
    guard let descr else { throw fail("malformed header: no 'descr'") }
    guard let fortranOrder else { throw fail("malformed header: no 'fortran_order'") }
    guard let shape = shapeValue else { throw fail("malformed header: no 'shape'") }
    guard !fortranOrder else {
        throw fail("Fortran-order (column-major) arrays are not supported; save a C-order array (np.ascontiguousarray)")
    }
    guard let dtype = NpyDType(rawValue: descr) else {
        if descr.hasPrefix(">") { throw fail("big-endian dtype '\(descr)' is not supported; use '<\(descr.dropFirst())'") }
        throw fail("unsupported dtype '\(descr)' (tfc reads <f4, <f8, <i4 and <i8)")
    }

    var count = 1
    for d in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow else { throw fail("shape \(shape) is too large") }
        count = product
    }
    let dataStart = headerStart + headerLength
    let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
    guard !overflow, needed == size - dataStart else {
        throw fail("shape \(shape) of \(descr) needs \(count) × \(dtype.itemSize) bytes of data"
                   + " but the file has \(size - dataStart)")
    }

    func load<Word: FixedWidthInteger, T>(_ word: Word.Type, _ convert: (Word) -> T) -> [T] {
        data.withUnsafeBytes { raw in
            (0..<count).map { i in
                convert(Word(littleEndian: raw.loadUnaligned(fromByteOffset: dataStart + i * dtype.itemSize, as: Word.self)))
            }
        }
    }
    switch dtype {
    case .f4: return HostTensor(shape: shape, f32: load(UInt32.self) { Float(bitPattern: $0) })
    case .f8: return HostTensor(shape: shape, f32: load(UInt64.self) { Float(Double(bitPattern: $0)) })
    case .i4: return HostTensor(shape: shape, i32: load(UInt32.self) { Int32(bitPattern: $0) })
    case .i8:
        let wide = load(UInt64.self) { Int64(bitPattern: $0) }
        if let i = wide.firstIndex(where: { Int32(exactly: $0) == nil }) {
            throw fail("<i8 value \(wide[i]) at index \(i) does not fit in 32 bits")
        }
        return HostTensor(shape: shape, i32: wide.map { Int32(truncatingIfNeeded: $0) })
    }
}

/// The bytes of a format 1.0 .npy file, laid out as numpy writes it: the header is padded
/// with spaces and a final '\n' so that the data starts at a multiple of 64 bytes.
public func encodeNpy(_ tensor: HostTensor, file: String) throws(Diagnostic) -> Data {
    guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
        throw Diagnostic(file: file, loc: nil, "negative dimension in shape \(tensor.shape)")
    }
    let dims = tensor.shape.map(String.init)
    let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
    // .npy has no bfloat16; a bf16 tensor is written as the f32 values it stands for.
    let tensor = tensor.dtype == .bf16 ? HostTensor(shape: tensor.shape, f32: tensor.floats) : tensor
    let descr = tensor.dtype == .i32 ? "<i4" : "<f4"
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
    let unpadded = npyMagic.count + 2 + 2 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    guard header.utf8.count <= Int(UInt16.max) else {
        throw Diagnostic(file: file, loc: nil, "shape \(tensor.shape) has too many dimensions for a .npy 1.0 header")
    }

    var out = Data(npyMagic + [1, 0])
    BinaryFile.appendLittleEndian([UInt16(header.utf8.count)], to: &out)
    out.append(contentsOf: Array(header.utf8))
    BinaryFile.appendWords(of: tensor, to: &out)
    return out
}

/// Parses the subset of Python literal syntax that .npy headers use: a dict with string keys
/// whose values are strings, True/False, or tuples of non-negative integers.
private struct NpyHeaderParser {
    enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        case other
    }

    struct Failure: Error {
        var offset: Int
        var message: String
    }

    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private func failure(_ message: String) -> Failure { Failure(offset: pos, message: message) }

    private mutating func skipSpace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    private mutating func expect(_ c: Character) throws(Failure) {
        skipSpace()
        guard let ascii = c.asciiValue, peek == ascii else { throw failure("expected '\(c)'") }
        pos += 1
    }

    private mutating func accept(_ c: Character) -> Bool {
        skipSpace()
        guard let ascii = c.asciiValue, peek == ascii else { return false }
        pos += 1
        return true
    }

    /// `{ key: value, ... }` with an optional trailing comma, then only whitespace.
    mutating func parseDict() throws(Failure) -> [(key: String, value: Value)] {
        try expect("{")
        var pairs: [(key: String, value: Value)] = []
        while !accept("}") {
            skipSpace()
            let keyStart = pos
            let key = try parseString()
            guard !pairs.contains(where: { $0.key == key }) else {
                throw Failure(offset: keyStart, message: "duplicate key '\(key)'")
            }
            try expect(":")
            pairs.append((key: key, value: try parseValue()))
            if !accept(",") {
                try expect("}")
                break
            }
        }
        skipSpace()
        guard pos == bytes.count else { throw failure("unexpected text after the dict") }
        return pairs
    }

    private mutating func parseValue() throws(Failure) -> Value {
        skipSpace()
        switch peek {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "("): return .tuple(try parseTuple())
        default:
            let start = pos
            while let b = peek, b.isASCIIWordCharacter { pos += 1 }
            switch String(decoding: bytes[start..<pos], as: UTF8.self) {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "": throw failure("expected a value")
            default: return .other
            }
        }
    }

    /// A quoted string without escapes (dtype names and keys never need them).
    private mutating func parseString() throws(Failure) -> String {
        guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw failure("expected a quoted string")
        }
        pos += 1
        let start = pos
        while let b = peek, b != quote {
            guard b != UInt8(ascii: "\\"), b != 0x0A else { throw failure("unsupported character in string") }
            pos += 1
        }
        guard peek == quote else { throw failure("unterminated string") }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        pos += 1
        return text
    }

    /// `()`, `(3,)`, `(2, 3)` or `(2, 3,)`.
    private mutating func parseTuple() throws(Failure) -> [Int] {
        try expect("(")
        var items: [Int] = []
        while !accept(")") {
            skipSpace()
            let start = pos
            while let b = peek, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { pos += 1 }
            guard pos > start else { throw failure("expected a non-negative integer") }
            guard let value = Int(String(decoding: bytes[start..<pos], as: UTF8.self)) else {
                throw Failure(offset: start, message: "dimension too large")
            }
            items.append(value)
            if !accept(",") {
                try expect(")")
                break
            }
        }
        return items
    }
}

private extension UInt8 {
    var isASCIIWordCharacter: Bool {
        (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z")) || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z"))
            || (self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")) || self == UInt8(ascii: "_")
    }
}
