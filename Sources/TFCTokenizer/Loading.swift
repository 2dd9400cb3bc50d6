// Reading a tokenizer from a checkpoint folder: tokenizer.json (Hugging Face tokenizers'
// format), or GPT-2's original vocab.json + merges.txt. Anything these files can say that would
// change the ids and that this library does not implement is refused by name: a tokenizer that
// loads gives Hugging Face's ids.
import Foundation
import TIRFormats

extension BPETokenizer {
    /// Loads the tokenizer of a checkpoint folder: its tokenizer.json when there is one (as
    /// transformers' AutoTokenizer prefers it), else vocab.json + merges.txt, with the
    /// tokenizer_config.json beside them when there is one (see
    /// `init(vocabFile:mergesFile:tokenizerConfigFile:)`).
    public init(directory: String) throws(TokenizerError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw TokenizerError(file: directory, "no such folder")
        }
        guard isDirectory.boolValue else {
            throw TokenizerError(file: directory, "not a folder; a checkpoint folder holds tokenizer.json, or vocab.json and merges.txt")
        }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: joinPath(directory, name)) }
        if exists("tokenizer.json") {
            try self.init(tokenizerJSONFile: joinPath(directory, "tokenizer.json"))
            return
        }
        guard exists("vocab.json") || exists("merges.txt") else {
            throw TokenizerError(file: directory, "no tokenizer.json, and no vocab.json and merges.txt")
        }
        if exists("added_tokens.json") {
            throw TokenizerError(file: joinPath(directory, "added_tokens.json"),
                                 "unsupported: added_tokens.json is not read; save the tokenizer as tokenizer.json")
        }
        let config = joinPath(directory, "tokenizer_config.json")
        try self.init(vocabFile: joinPath(directory, "vocab.json"), mergesFile: joinPath(directory, "merges.txt"),
                      tokenizerConfigFile: exists("tokenizer_config.json") ? config : nil)
    }

    /// Loads a tokenizer.json of Hugging Face tokenizers: model BPE (merges written as "a b" or
    /// as ["a", "b"]), pre-tokenizer and decoder ByteLevel, no normalizer, and a post-processor
    /// that adds nothing.
    public init(tokenizerJSONFile path: String) throws(TokenizerError) {
        try self.init(tokenizerJSON: try readFile(path), file: path)
    }

    /// Loads GPT-2's vocab.json (token -> id) and merges.txt (one merge per line, "a b", in rank
    /// order, after an optional "#version" line), with the added tokens and option of GPT2Tokenizer
    /// loaded from such files: `specialTokens` (by default `<|endoftext|>`, GPT-2's only one),
    /// each given its id in vocab.json or, when it has none, the next id after the vocabulary.
    public init(vocabFile: String, mergesFile: String, specialTokens: [String] = ["<|endoftext|>"],
                addPrefixSpace: Bool = false) throws(TokenizerError) {
        var definition = try Self.definition(vocabFile: vocabFile, mergesFile: mergesFile)
        definition.addedTokens = specialTokens.map {
            TokenizerDefinition.Added(content: $0, special: true, place: Place(file: vocabFile))
        }
        definition.addPrefixSpace = addPrefixSpace
        try self.init(definition)
    }

    /// vocab.json + merges.txt with the options transformers reads from a tokenizer_config.json
    /// (nil: none): `add_prefix_space`, the added tokens of `added_tokens_decoder`, and the
    /// special tokens it names (`bos_token`, `eos_token`, `unk_token`, ...; GPT2Tokenizer's
    /// default for the first three is `<|endoftext|>`). A `tokenizer_class` other than
    /// GPT-2's, or `add_eos_token`, are refused; `add_bos_token` (OPT's) puts the bos token before every text.
    public init(vocabFile: String, mergesFile: String, tokenizerConfigFile: String?) throws(TokenizerError) {
        var definition = try Self.definition(vocabFile: vocabFile, mergesFile: mergesFile)
        if let tokenizerConfigFile {
            let config = try TokenizerConfig(file: tokenizerConfigFile, vocabulary: definition.vocabulary)
            definition.addPrefixSpace = config.addPrefixSpace
            definition.addedTokens = config.addedTokens
            definition.prefixTokens = config.prefixTokens
        } else {
            definition.addedTokens = [TokenizerDefinition.Added(content: "<|endoftext|>", special: true, place: Place(file: vocabFile))]
        }
        try self.init(definition)
    }

    /// tokenizer.json's content; `file` names it in errors.
    init(tokenizerJSON bytes: [UInt8], file: String) throws(TokenizerError) {
        try self.init(try TokenizerJSON.definition(bytes, file: file))
    }

    private static func definition(vocabFile: String, mergesFile: String) throws(TokenizerError) -> TokenizerDefinition {
        let vocabPlace = Place(file: vocabFile)
        let vocabObject = try JSONFile.object(try JSONFile.parse(try readFile(vocabFile), file: vocabFile), at: vocabPlace)
        let vocabulary = try JSONFile.vocabulary(vocabObject, at: vocabPlace)
        let merges = try MergesText.parse(try readFile(mergesFile), file: mergesFile)
        return TokenizerDefinition(vocabulary: vocabulary, vocabularyPlace: vocabPlace, merges: merges)
    }
}

func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// The bytes of a file, or an error that says why not.
func readFile(_ path: String) throws(TokenizerError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw TokenizerError(file: path, "no such file")
    }
    guard !isDirectory.boolValue else { throw TokenizerError(file: path, "is a folder, not a file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError(file: path, "cannot read the file") }
    return Array(data)
}

/// merges.txt: read as Hugging Face reads it. Lines end with "\n" or "\r\n"; lines starting
/// with "#version" are skipped; every other line, empty ones included, must be two tokens
/// separated by one space.
enum MergesText {
    static func parse(_ bytes: [UInt8], file: String) throws(TokenizerError) -> [TokenizerDefinition.Merge] {
        var merges: [TokenizerDefinition.Merge] = []
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the newline that ends the file
        for (index, rawLine) in lines.enumerated() {
            let place = Place(file: file, line: index + 1)
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            guard let text = UTF8Repair.validated(Array(line)) else { throw place.error("invalid UTF-8") }
            if text.hasPrefix("#version") { continue }
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw place.error("expected two tokens separated by one space, found \(quoted(text))")
            }
            merges.append(TokenizerDefinition.Merge(left: String(parts[0]), right: String(parts[1]), place: place))
        }
        return merges
    }
}

/// Typed reading of parsed JSON, with errors at a `Place`.
enum JSONFile {
    static func parse(_ bytes: [UInt8], file: String) throws(TokenizerError) -> JSONValue {
        do throws(JSONError) {
            return try JSONValue.parse(bytes)
        } catch {
            let line = 1 + bytes.prefix(min(error.offset, bytes.count)).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            throw TokenizerError(file: file, line: line, "invalid JSON: \(error.message)")
        }
    }

    static func object(_ value: JSONValue, at place: Place) throws(TokenizerError) -> JSONObject {
        guard let object = value.objectValue else { throw place.error("expected a JSON object") }
        return object
    }

    /// Refuses keys that are not in `known`: a key this library does not know may change the ids.
    static func checkKeys(_ object: JSONObject, known: Set<String>, at place: Place) throws(TokenizerError) {
        for key in object.keys where !known.contains(key) {
            throw place.error("unsupported key \(quoted(key))")
        }
    }

    /// A boolean; absent or null gives `defaultValue`.
    static func bool(_ object: JSONObject, _ key: String, default defaultValue: Bool, at place: Place) throws(TokenizerError) -> Bool {
        guard let value = object[key], value != .null else { return defaultValue }
        guard let bool = value.boolValue else { throw place.appending(".\(key)").error("expected true or false") }
        return bool
    }

    /// A string; absent or null gives nil.
    static func string(_ object: JSONObject, _ key: String, at place: Place) throws(TokenizerError) -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard let string = value.stringValue else { throw place.appending(".\(key)").error("expected a string") }
        return string
    }

    /// An id: an integer in 0...Int32.max.
    static func id(_ value: JSONValue, at place: Place) throws(TokenizerError) -> Int32 {
        guard let id = value.intValue, id >= 0, id <= Int(Int32.max) else {
            throw place.error("expected an id (an integer from 0 to \(Int32.max)), found \(value.serialized())")
        }
        return Int32(id)
    }

    /// A vocabulary object: token text -> id.
    static func vocabulary(_ object: JSONObject, at place: Place) throws(TokenizerError) -> [(token: String, id: Int32)] {
        var vocabulary: [(token: String, id: Int32)] = []
        vocabulary.reserveCapacity(object.pairs.count)
        for (token, value) in object.pairs {
            vocabulary.append((token, try id(value, at: place.appending("[\(quoted(token))]"))))
        }
        return vocabulary
    }
}
