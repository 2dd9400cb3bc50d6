// Weights kept out of the LLVM module: the generated code reads each one through a symbol, and
// the bytes go, once the module is lowered (ConstantPool.place), to host memory (the JIT's), to a
// weights file written beside an object (`tfc compile --weights-file`), or to a scratch file whose
// bytes become a section of the object (ObjectWeights). No path hands LLVM a copy of the
// weights, so compile memory stays near the size of the weights themselves.
//
// A weights file: a 64-byte header, then every weight at a 64-byte aligned offset, in the order
// the code asked for them. The header (little-endian):
//
//     0  "TFCWGHTS"   8 bytes of magic
//     8  u32 version (1), u32 header size (64)
//     16 u64 the file's size in bytes
//     24 u64 its id: a hash of every weight's offset, size and bytes
//     32 zeros to 64
//
// The object built with it holds the size and the id, and its `<prefix>_set_weights` refuses any
// other file (ERR_WEIGHTS); the entry points refuse to run before it was called.
import LLVMBridge

/// The layout of a weights file (see the file comment).
public enum WeightsFile {
    public static let magic: [UInt8] = Array("TFCWGHTS".utf8)
    public static let version: UInt32 = 1
    public static let headerBytes = 64
    /// Every weight's offset is a multiple of this, and so must the file's address in memory be.
    public static let alignment = 64

    /// The magic as the little-endian u64 the code compares.
    static var magicWord: UInt64 { magic.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
    /// The version and header size as one little-endian u64.
    static var versionWord: UInt64 { UInt64(version) | UInt64(headerBytes) << 32 }
}

/// What an object that reads a weights file checks of it.
public struct WeightsFileInfo: Sendable, Hashable {
    /// The file's size in bytes.
    public var bytes: Int
    /// Its id (header offset 24).
    public var id: UInt64
}

/// The weights of one module that are not embedded, placed as they are made.
public final class WeightStore: @unchecked Sendable {
    public enum Destination {
        /// Host memory, a 64-byte aligned block per weight, freed with the store (the JIT's).
        case memory
        /// A weights file, through `write(bytes, offset)`: each weight once, then the header.
        case file(write: (UnsafeRawBufferPointer, Int) throws -> Void)
        /// The same layout, for a section appended to the object (ObjectWeights): the code
        /// keeps reading each weight through its symbol, which the section then defines.
        case objectSection(write: (UnsafeRawBufferPointer, Int) throws -> Void)
    }

    struct Entry {
        let symbol: String
        let global: Value
        /// Host memory (.memory) or the offset in the file (.file, .objectSection).
        let address: UnsafeMutableRawPointer?
        let offset: Int
        let size: Int
    }

    let destination: Destination
    private(set) var entries: [Entry] = []
    /// The file's size so far (its header included).
    private var end = WeightsFile.headerBytes
    /// The end of the last weight's bytes (`end` is it rounded up to the alignment).
    private var contentEnd = WeightsFile.headerBytes
    private var hash = WeightHash()

    public init(_ destination: Destination) {
        self.destination = destination
    }

    deinit {
        for entry in entries { entry.address?.deallocate() }
    }

    /// Whether the weights go to a weights file (the code then reads them through a base pointer).
    var isFile: Bool {
        if case .file = destination { return true }
        return false
    }

    /// Whether the weights end up in the object (a section appended to it).
    var isObjectSection: Bool {
        if case .objectSection = destination { return true }
        return false
    }

    /// The file's size once `finish` wrote its header.
    private(set) var finishedBytes = 0

    /// Where each symbol's bytes are in the file, for ObjectWeights.append.
    var placements: [String: (offset: Int, size: Int)] {
        Dictionary(entries.map { ($0.symbol, (offset: $0.offset, size: $0.size)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Places `bytes`, which the code reads through the external symbol `global` (`symbol`).
    func add(_ bytes: [UInt8], symbol: String, global: Value) throws {
        switch destination {
        case .memory:
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, WeightsFile.alignment),
                                                     alignment: WeightsFile.alignment)
            bytes.withUnsafeBytes { if let src = $0.baseAddress { p.copyMemory(from: src, byteCount: $0.count) } }
            entries.append(Entry(symbol: symbol, global: global, address: p, offset: 0, size: bytes.count))
        case .file(let write), .objectSection(let write):
            let offset = end
            entries.append(Entry(symbol: symbol, global: global, address: nil, offset: offset, size: bytes.count))
            hash.mix(UInt64(offset))
            hash.mix(UInt64(bytes.count))
            bytes.withUnsafeBytes { hash.mix($0) }
            try bytes.withUnsafeBytes { try write($0, offset) }
            contentEnd = offset + bytes.count
            end = (offset + bytes.count + WeightsFile.alignment - 1) / WeightsFile.alignment * WeightsFile.alignment
        }
    }

    /// The symbols and addresses of host-memory weights, for `JIT.define`.
    var symbols: [(name: String, address: UnsafeRawPointer)] {
        entries.compactMap { e in e.address.map { (e.symbol, UnsafeRawPointer($0)) } }
    }

    /// Writes a file's header once every weight is in (its size padded to the alignment) and
    /// returns what the object checks of it.
    func finish() throws -> WeightsFileInfo {
        let write: (UnsafeRawBufferPointer, Int) throws -> Void
        switch destination {
        case .file(let w), .objectSection(let w): write = w
        case .memory: preconditionFailure("only a weights file is finished")
        }
        let info = WeightsFileInfo(bytes: end, id: hash.value)
        var header = [UInt8](repeating: 0, count: WeightsFile.headerBytes)
        func put(_ word: UInt64, at offset: Int) {
            for i in 0..<8 { header[offset + i] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(i))) }
        }
        put(WeightsFile.magicWord, at: 0)
        put(WeightsFile.versionWord, at: 8)
        put(UInt64(info.bytes), at: 16)
        put(info.id, at: 24)
        try header.withUnsafeBytes { try write($0, 0) }
        // The padding after the last weight, so that the file has exactly its size.
        if end > contentEnd {
            try [UInt8](repeating: 0, count: end - contentEnd).withUnsafeBytes { try write($0, contentEnd) }
        }
        finishedBytes = info.bytes
        return info
    }

    /// Makes the code read every weight at `base + offset`, where base is the file's address that
    /// `<prefix>_set_weights` stored in `pointer` (see IRModule.redirect).
    func redirect(in ir: IRModule, through pointer: Value) throws {
        try ir.redirect(entries.map { ($0.global, $0.offset) }, through: pointer, alignment: WeightsFile.alignment)
    }
}

/// A 64-bit hash of a stream of bytes, eight at a time (not cryptographic: it tells one compile's
/// weights file from another's).
struct WeightHash {
    private(set) var value: UInt64 = 0x9E37_79B9_7F4A_7C15

    mutating func mix(_ word: UInt64) {
        value = (value ^ word) &* 0xBF58_476D_1CE4_E5B9
        value ^= value >> 31
    }

    mutating func mix(_ bytes: UnsafeRawBufferPointer) {
        let words = bytes.count / 8
        for i in 0..<words { mix(bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        var tail: UInt64 = 0
        for (i, byte) in bytes[(8 * words)...].enumerated() { tail |= UInt64(byte) << (8 * UInt64(i)) }
        mix(tail ^ UInt64(bytes.count) << 56)
    }
}
