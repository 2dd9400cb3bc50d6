/// Why a tokenizer could not be loaded, or ids could not be decoded.
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file at fault, as given by the caller; nil for errors that are not about a file
    /// (an unknown id passed to `decode`).
    public var file: String?
    /// The 1-based line in `file`, when the problem has one.
    public var line: Int?
    public var message: String

    public init(file: String?, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, `file: message`, or the message alone.
    public var description: String {
        guard let file else { return message }
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
