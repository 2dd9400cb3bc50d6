// GPT-2's reversible map between the 256 byte values and 256 printable characters.
//
// Byte-level BPE runs on bytes, but its vocabulary files are text: every token is written as the
// characters that stand for its bytes. Printable Latin-1 bytes stand for themselves; the other 68
// (controls, space, DEL, NBSP, soft hyphen) take U+0100, U+0101, ... in byte order, so that no
// token in vocab.json or merges.txt contains whitespace or a control character (a space is "Ġ",
// U+0120).

enum ByteLevel {
    /// The character that stands for each byte value.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 0x100
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each character stands for, indexed by scalar value (all are below U+0144);
    /// -1 for characters that stand for no byte.
    private static let byteForScalarValue: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The byte `scalar` stands for, or nil when it is not one of the 256 characters.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < byteForScalarValue.count else { return nil }
        let byte = byteForScalarValue[value]
        return byte < 0 ? nil : UInt8(byte)
    }

    /// The bytes a token's text stands for, or nil when some character stands for no byte (the
    /// text of an added token such as "<|im start|>" with a real space in it).
    static func bytes(forTokenText text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The token text for raw bytes: each byte replaced by the character that stands for it.
    static func tokenText(forBytes bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(scalarForByte[Int(byte)]) }
        return String(text)
    }

    /// `!`...`~`, `¡`...`¬` and `®`...`ÿ`.
    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }
}
