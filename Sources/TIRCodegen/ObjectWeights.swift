// Embedded weights without LLVM holding them: the code is compiled with each weight as an
// undefined hidden symbol, LLVM writes the object, and the weights are then appended to it as a
// section of their own that defines those symbols. LLVM never sees the bytes (its constant and
// the assembler's copy of it were two of the three copies of the weights a compile held), and
// the object is the same one file, linked the same way.
//
// ELF64 little-endian relocatable objects only (x86-64 and AArch64 Linux); other object formats
// keep the weights as LLVM constants. The object LLVM wrote is kept byte for byte; after it come
// the weights, a new section-name table and a new section header table (the old ones stay as
// unreferenced bytes, which ELF allows), and the header points at the new ones. The symbols
// keep their index, so no relocation changes.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum ObjectWeights {
    /// The section that holds the weights.
    static let sectionName = ".rodata.tfc.weights"

    /// Whether objects for `triple` are ELF, the format `append` edits.
    static func supports(triple: String) -> Bool {
        let other = ["apple", "darwin", "macos", "ios", "windows", "win32", "msvc", "mingw", "cygwin", "wasm", "aix"]
        return !other.contains { triple.contains($0) } && (triple.hasPrefix("x86_64") || triple.hasPrefix("aarch64"))
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Appends `weightBytes` bytes read from `read(buffer, offset)` to the object at `path` as a
    /// 64-byte aligned, allocated, read-only section, and defines each undefined symbol of
    /// `symbols` at its offset in it (hidden: nothing outside the program sees them).
    static func append(toObject path: String, weightBytes: Int, symbols: [String: (offset: Int, size: Int)],
                       read: (UnsafeMutableRawBufferPointer, Int) throws -> Void) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read the object \(path) to add its weights")
        }
        var object = [UInt8](data)
        func fail(_ what: String) -> Failure { Failure(description: "the object \(path) is not the ELF file expected: \(what)") }
        func u16(_ at: Int) -> Int { Int(object[at]) | Int(object[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int { u32(at) | u32(at + 4) << 32 }
        func put(_ value: Int, at: Int, bytes: Int, in buffer: inout [UInt8]) {
            for i in 0..<bytes { buffer[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }

        // The header: ELF64, little-endian, relocatable.
        guard object.count >= 64, object[0..<4] == [0x7F, 0x45, 0x4C, 0x46] else { throw fail("no ELF magic") }
        guard object[4] == 2, object[5] == 1, u16(16) == 1 else { throw fail("not a 64-bit little-endian relocatable") }
        let sectionTable = u64(0x28), entrySize = u16(0x3A), sectionCount = u16(0x3C), namesIndex = u16(0x3E)
        guard entrySize == 64, sectionCount > 0, sectionCount < 0xFF00, namesIndex < sectionCount,
              sectionTable + sectionCount * 64 <= object.count else { throw fail("its section table") }
        func section(_ i: Int) -> Int { sectionTable + i * 64 }
        let namesAt = section(namesIndex)
        let namesOffset = u64(namesAt + 0x18), namesSize = u64(namesAt + 0x20)
        guard namesOffset + namesSize <= object.count else { throw fail("its section names") }

        // The symbols: define ours in the new section (its index is the old count).
        guard let symtab = (0..<sectionCount).first(where: { u32(section($0) + 4) == 2 }) else { throw fail("no symbol table") }
        let symbolsOffset = u64(section(symtab) + 0x18), symbolsSize = u64(section(symtab) + 0x20)
        let stringsIndex = u32(section(symtab) + 0x28)
        guard stringsIndex < sectionCount, symbolsOffset + symbolsSize <= object.count else { throw fail("its symbol table") }
        let stringsOffset = u64(section(stringsIndex) + 0x18), stringsSize = u64(section(stringsIndex) + 0x20)
        guard stringsOffset + stringsSize <= object.count else { throw fail("its symbol names") }
        func name(at offset: Int) -> String? {
            guard offset < stringsSize else { return nil }
            let start = stringsOffset + offset
            guard let end = object[start..<(stringsOffset + stringsSize)].firstIndex(of: 0) else { return nil }
            return String(decoding: object[start..<end], as: UTF8.self)
        }
        var defined = 0
        for s in stride(from: symbolsOffset, to: symbolsOffset + symbolsSize, by: 24) {
            guard u16(s + 6) == 0, let symbol = name(at: u32(s)), let place = symbols[symbol] else { continue }
            object[s + 4] = 1 << 4 | 1  // STB_GLOBAL, STT_OBJECT
            object[s + 5] = 2  // STV_HIDDEN
            put(sectionCount, at: s + 6, bytes: 2, in: &object)
            put(place.offset, at: s + 8, bytes: 8, in: &object)
            put(place.size, at: s + 16, bytes: 8, in: &object)
            defined += 1
        }
        guard defined > 0 || symbols.isEmpty else { throw fail("none of the weight symbols is in its symbol table") }

        // After the object: the weights, the section names with the new one, the section table.
        let weightsOffset = (object.count + 63) / 64 * 64
        var names = Array(object[namesOffset..<(namesOffset + namesSize)])
        let newName = names.count
        names += Array(sectionName.utf8) + [0]
        let namesNewOffset = weightsOffset + weightBytes
        let tableOffset = (namesNewOffset + names.count + 7) / 8 * 8
        var table = Array(object[sectionTable..<(sectionTable + sectionCount * 64)])
        put(namesNewOffset, at: namesIndex * 64 + 0x18, bytes: 8, in: &table)
        put(names.count, at: namesIndex * 64 + 0x20, bytes: 8, in: &table)
        var entry = [UInt8](repeating: 0, count: 64)
        put(newName, at: 0, bytes: 4, in: &entry)
        put(1, at: 4, bytes: 4, in: &entry)  // SHT_PROGBITS
        put(2, at: 8, bytes: 8, in: &entry)  // SHF_ALLOC
        put(weightsOffset, at: 0x18, bytes: 8, in: &entry)
        put(weightBytes, at: 0x20, bytes: 8, in: &entry)
        put(64, at: 0x30, bytes: 8, in: &entry)  // alignment
        table += entry
        put(tableOffset, at: 0x28, bytes: 8, in: &object)
        put(sectionCount + 1, at: 0x3C, bytes: 2, in: &object)

        // Written in place: the edited object, then the rest, in chunks.
        guard let handle = FileHandle(forWritingAtPath: path) else { throw Failure(description: "cannot write \(path)") }
        defer { try? handle.close() }
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: object + [UInt8](repeating: 0, count: weightsOffset - object.count))
        let chunk = 16 << 20
        var buffer = [UInt8](repeating: 0, count: min(chunk, max(weightBytes, 1)))
        var done = 0
        while done < weightBytes {
            let n = min(chunk, weightBytes - done)
            try buffer.withUnsafeMutableBytes { try read(UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), done) }
            try handle.write(contentsOf: buffer[0..<n])
            done += n
        }
        try handle.write(contentsOf: names + [UInt8](repeating: 0, count: tableOffset - namesNewOffset - names.count))
        try handle.write(contentsOf: table)
        try handle.truncate(atOffset: UInt64(tableOffset + table.count))
    }
}

/// A file for bytes too many to hold in memory, beside `path`, removed from its folder as soon as
/// it is made: nothing is left behind whatever happens to the process.
final class ScratchFile: @unchecked Sendable {
    private let fd: Int32

    init(beside path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        var template = Array(((folder.isEmpty ? "." : folder) + "/.tfc-weights-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw CodegenError("cannot make a scratch file beside \(path): \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        self.fd = fd
    }

    deinit { close(fd) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        try whole(bytes.count, "write") { done in pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        try whole(buffer.count, "read") { done in pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }
    }

    /// Repeats `transfer(bytes done so far)` until `count` bytes are moved (retrying EINTR).
    private func whole(_ count: Int, _ what: String, _ transfer: (Int) -> Int) throws {
        var done = 0
        while done < count {
            let n = transfer(done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CodegenError("cannot \(what) the scratch file: \(String(cString: strerror(errno)))") }
            done += n
        }
    }
}
