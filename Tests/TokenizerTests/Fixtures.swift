// The fixtures scripts/make_tokenizer_fixtures.py wrote: a small GPT-2 style tokenizer and the
// ids Hugging Face gives for it (cases.json), read once per process.
import Foundation
import Testing
import TIRFormats
@testable import TFCTokenizer

/// A text and the ids Hugging Face encodes it to.
struct EncodeCase {
    var text: String
    var ids: [Int32]
    /// What Hugging Face decodes the ids to, when that is not `text` (variants only).
    var decoded: String?
}

/// Ids and the text Hugging Face decodes them to.
struct DecodeCase {
    var ids: [Int32]
    var text: String
    var skipSpecialTokens: Bool
}

/// An edit of tokenizer.json and the ids of the edited tokenizer.
struct Variant {
    var name: String
    var patch: [JSONValue]
    var cases: [EncodeCase]
}

/// A tokenizer_config.json to put beside vocab.json + merges.txt, and transformers' ids.
struct ConfigVariant {
    var name: String
    var config: JSONValue
    var cases: [EncodeCase]
}

enum Fixtures {
    static var folder: String {
        get throws { try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).path }
    }

    static func path(_ name: String) throws -> String { try folder + "/" + name }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try #require(FileManager.default.contents(atPath: try path(name)), "cannot read \(name)"))
    }

    /// The tokenizer, loaded from tokenizer.json.
    static func tokenizer() throws -> BPETokenizer { try BPETokenizer(tokenizerJSONFile: try path("tokenizer.json")) }

    /// The tokenizer, loaded from vocab.json + merges.txt.
    static func tokenizerFromVocabAndMerges() throws -> BPETokenizer {
        try BPETokenizer(vocabFile: try path("vocab.json"), mergesFile: try path("merges.txt"))
    }

    static func cases() throws -> JSONObject {
        try #require(try JSONValue.parse(try bytes("cases.json")).objectValue)
    }

    static func encodeCases() throws -> [EncodeCase] {
        try #require(try cases()["encode"]?.arrayValue).map(encodeCase)
    }

    static func decodeCases() throws -> [DecodeCase] {
        try #require(try cases()["decode"]?.arrayValue).map { value in
            let object = try #require(value.objectValue)
            return DecodeCase(ids: try ids(object["ids"]), text: try #require(object["text"]?.stringValue),
                              skipSpecialTokens: object["skip_special_tokens"]?.boolValue ?? false)
        }
    }

    static func variants() throws -> [Variant] {
        try #require(try cases()["variants"]?.arrayValue).map { value in
            let object = try #require(value.objectValue)
            return Variant(name: try #require(object["name"]?.stringValue), patch: try #require(object["patch"]?.arrayValue),
                           cases: try #require(object["cases"]?.arrayValue).map(encodeCase))
        }
    }

    static func configVariants() throws -> [ConfigVariant] {
        try #require(try cases()["config_variants"]?.arrayValue).map { value in
            let object = try #require(value.objectValue)
            return ConfigVariant(name: try #require(object["name"]?.stringValue), config: try #require(object["config"]),
                                 cases: try #require(object["cases"]?.arrayValue).map(encodeCase))
        }
    }

    private static func encodeCase(_ value: JSONValue) throws -> EncodeCase {
        let object = try #require(value.objectValue)
        return EncodeCase(text: try #require(object["text"]?.stringValue), ids: try ids(object["ids"]),
                          decoded: object["decoded"]?.stringValue)
    }

    private static func ids(_ value: JSONValue?) throws -> [Int32] {
        try #require(value?.arrayValue).map { Int32(try #require($0.intValue)) }
    }
}

// MARK: Editing tokenizer.json

/// Applies the script's edit operations ({"op": "set" | "remove" | "append", "path": [...],
/// "value": ...}) to a JSON document.
func applyPatch(_ patch: [JSONValue], to document: JSONValue) throws -> JSONValue {
    var document = document
    for operation in patch {
        let object = try #require(operation.objectValue)
        let path = try #require(object["path"]?.arrayValue)
        let op = try #require(object["op"]?.stringValue)
        document = try edit(document, path: path[...], op: op, value: object["value"])
    }
    return document
}

private func edit(_ node: JSONValue, path: ArraySlice<JSONValue>, op: String, value: JSONValue?) throws -> JSONValue {
    let key = try #require(path.first)
    let last = path.count == 1
    switch node {
    case .object(var object):
        let name = try #require(key.stringValue)
        let index = object.pairs.firstIndex { $0.key == name }
        if last {
            switch op {
            case "set":
                if let index { object.pairs[index].value = try #require(value) } else { object.pairs.append((key: name, value: try #require(value))) }
            case "remove":
                object.pairs.remove(at: try #require(index, "no key \(name) to remove"))
            case "append":
                let i = try #require(index)
                object.pairs[i].value = .array(try #require(object.pairs[i].value.arrayValue) + [try #require(value)])
            default:
                Issue.record("unknown operation \(op)")
            }
        } else {
            let i = try #require(index, "no key \(name)")
            object.pairs[i].value = try edit(object.pairs[i].value, path: path.dropFirst(), op: op, value: value)
        }
        return .object(object)
    case .array(var items):
        let i = try #require(key.intValue)
        #expect(!last || op == "set", "only set is supported on array elements")
        items[i] = last ? try #require(value) : try edit(items[i], path: path.dropFirst(), op: op, value: value)
        return .array(items)
    default:
        Issue.record("cannot follow the path into \(node.serialized())")
        return node
    }
}

/// The tokenizer of the fixture's tokenizer.json after `patch`.
func patchedTokenizer(_ patch: [JSONValue]) throws -> BPETokenizer {
    let document = try applyPatch(patch, to: try JSONValue.parse(try Fixtures.bytes("tokenizer.json")))
    return try BPETokenizer(tokenizerJSON: Array(document.serialized().utf8), file: "tokenizer.json")
}

/// A JSON edit operation, built in a test.
func setOperation(_ path: [JSONValue], _ value: JSONValue) -> JSONValue {
    ["op": "set", "path": .array(path), "value": value]
}

// MARK: Files

func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tfc-tokenizer-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func cleanup(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// A copy of fixture files in a fresh folder.
func copyFixtures(_ names: [String], to dir: String) throws {
    for name in names {
        try FileManager.default.copyItem(atPath: try Fixtures.path(name), toPath: dir + "/" + name)
    }
}

/// A short, readable form of a text for failure messages.
func show(_ text: String) -> String {
    let escaped = JSONValue.string(text).serialized()
    return escaped.count > 80 ? String(escaped.prefix(77)) + "...\"" : escaped
}
