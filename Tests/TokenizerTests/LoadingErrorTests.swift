// Files the tokenizer must refuse: one clear error each, naming the file (and line, for
// merges.txt and JSON syntax), never a crash or a tokenizer that would give other ids.
import Foundation
import Testing
import TIRFormats
@testable import TFCTokenizer

/// Runs `load`, which must fail with an error about `file` whose message contains `message`.
@discardableResult
private func expectError(file: String, line: Int? = nil, _ message: String,
                         sourceLocation: SourceLocation = #_sourceLocation,
                         _ load: () throws -> BPETokenizer) -> TokenizerError? {
    do {
        _ = try load()
        Issue.record("loaded, expected an error containing \"\(message)\"", sourceLocation: sourceLocation)
        return nil
    } catch let error as TokenizerError {
        #expect(error.file == file, sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix(file), sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// An edit of the fixture's tokenizer.json that must be refused.
struct RefusedEdit: CustomTestStringConvertible, Sendable {
    var name: String
    var path: [String]
    var value: String  // JSON text
    var message: String
    var testDescription: String { name }
}

@Suite struct LoadingErrorTests {
    // MARK: Missing files and folders

    @Test func missingFiles() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        expectError(file: dir + "/nowhere", "no such folder") { try BPETokenizer(directory: dir + "/nowhere") }
        expectError(file: dir, "no tokenizer.json, and no vocab.json and merges.txt") { try BPETokenizer(directory: dir) }
        expectError(file: dir + "/tokenizer.json", "no such file") { try BPETokenizer(tokenizerJSONFile: dir + "/tokenizer.json") }

        try copyFixtures(["merges.txt"], to: dir)
        expectError(file: dir + "/vocab.json", "no such file") { try BPETokenizer(directory: dir) }
        try FileManager.default.removeItem(atPath: dir + "/merges.txt")
        try copyFixtures(["vocab.json"], to: dir)
        expectError(file: dir + "/merges.txt", "no such file") { try BPETokenizer(directory: dir) }

        expectError(file: dir + "/vocab.json", "not a folder") { try BPETokenizer(directory: dir + "/vocab.json") }
        try FileManager.default.createDirectory(atPath: dir + "/merges.txt", withIntermediateDirectories: false)
        expectError(file: dir + "/merges.txt", "is a folder, not a file") { try BPETokenizer(directory: dir) }
    }

    // MARK: vocab.json

    @Test func malformedJSON() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["merges.txt"], to: dir)
        try write("{\n  \"a\": 1,\n}\n", to: dir + "/vocab.json")
        expectError(file: dir + "/vocab.json", line: 3, "invalid JSON") { try BPETokenizer(directory: dir) }
        try write("[\"a\", \"b\"]", to: dir + "/vocab.json")
        expectError(file: dir + "/vocab.json", "expected a JSON object") { try BPETokenizer(directory: dir) }

        let truncated = try Fixtures.bytes("tokenizer.json").dropLast(10)
        try write(Array(truncated), to: dir + "/tokenizer.json")
        expectError(file: dir + "/tokenizer.json", line: 1, "invalid JSON") { try BPETokenizer(directory: dir) }
    }

    @Test(arguments: [
        ("{\"a\": 0, \"b\": 0}", "id 0 is given to both \"a\" and \"b\""),
        ("{\"a\": 1.5}", "[\"a\"]: expected an id (an integer from 0 to 2147483647), found 1.5"),
        ("{\"a\": -1}", "[\"a\"]: expected an id"),
        ("{\"a\": 4294967296}", "[\"a\"]: expected an id"),
        ("{\"a\": \"1\"}", "[\"a\"]: expected an id"),
    ])
    func badVocabulary(_ vocab: String, _ message: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try write(vocab, to: dir + "/vocab.json")
        try write("#version: 0.2\n", to: dir + "/merges.txt")
        expectError(file: dir + "/vocab.json", message) { try BPETokenizer(directory: dir) }
    }

    // MARK: merges.txt

    /// A bad line is reported at its line (counting the "#version" line).
    @Test(arguments: [
        ("a b c", "expected two tokens separated by one space, found \"a b c\""),
        ("ab", "expected two tokens separated by one space"),
        ("", "expected two tokens separated by one space, found \"\""),
        ("a  b", "expected two tokens separated by one space"),
        ("zzzz Ġt", "the merge's left token \"zzzz\" is not in the vocabulary"),
        ("Ġt zzzz", "the merge's right token \"zzzz\" is not in the vocabulary"),
        ("Ā Ā", "the merged token \"ĀĀ\" is not in the vocabulary"),
    ])
    func badMergeLine(_ line: String, _ message: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json"], to: dir)
        var lines = String(decoding: try Fixtures.bytes("merges.txt"), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        lines.insert(Substring(line), at: 4)
        try write(lines.joined(separator: "\n"), to: dir + "/merges.txt")
        expectError(file: dir + "/merges.txt", line: 5, message) { try BPETokenizer(directory: dir) }
    }

    @Test func mergesInvalidUTF8() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json"], to: dir)
        try write([UInt8]("#version: 0.2\nĠ t\n".utf8) + [0xC3, 0x20, 0x61, 0x0A], to: dir + "/merges.txt")
        expectError(file: dir + "/merges.txt", line: 3, "invalid UTF-8") { try BPETokenizer(directory: dir) }
    }

    /// Windows line ends and a file without a final newline read like the original.
    @Test func mergesLineEnds() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json"], to: dir)
        let text = String(decoding: try Fixtures.bytes("merges.txt"), as: UTF8.self)
        var lines = text.split(separator: "\n").map(String.init)
        try write(lines.joined(separator: "\r\n"), to: dir + "/merges.txt")
        let tokenizer = try BPETokenizer(directory: dir)
        #expect(tokenizer.model.merges == (try Fixtures.tokenizer()).model.merges)
        // Without the "#version" line the ranks are the same.
        lines.removeFirst()
        try write(lines.joined(separator: "\n") + "\n", to: dir + "/merges.txt")
        #expect(try BPETokenizer(directory: dir).model.merges == tokenizer.model.merges)
    }

    // MARK: tokenizer.json

    @Test(arguments: [
        RefusedEdit(name: "model type", path: ["model", "type"], value: "\"WordPiece\"",
                    message: "model.type: unsupported model type \"WordPiece\" (supported: \"BPE\")"),
        RefusedEdit(name: "normalizer", path: ["normalizer"], value: "{\"type\": \"NFKC\"}",
                    message: "normalizer: unsupported normalizer \"NFKC\" (supported: null, {\"type\": \"NFC\"})"),
        RefusedEdit(name: "pre-tokenizer", path: ["pre_tokenizer"], value: "{\"type\": \"Metaspace\", \"replacement\": \"▁\"}",
                    message: "pre_tokenizer: unsupported pre_tokenizer \"Metaspace\" (supported: \"ByteLevel\")"),
        RefusedEdit(name: "pre-tokenizer sequence", path: ["pre_tokenizer"],
                    value: "{\"type\": \"Sequence\", \"pretokenizers\": []}",
                    message: "unsupported pre_tokenizer \"Sequence\""),
        RefusedEdit(name: "no pre-tokenizer", path: ["pre_tokenizer"], value: "null",
                    message: "pre_tokenizer: unsupported: no pre_tokenizer (supported: ByteLevel)"),
        RefusedEdit(name: "byte-level option", path: ["pre_tokenizer", "prefix_scheme"], value: "\"first\"",
                    message: "pre_tokenizer: unsupported key \"prefix_scheme\""),
        RefusedEdit(name: "decoder", path: ["decoder"], value: "{\"type\": \"WordPiece\"}",
                    message: "decoder: unsupported decoder \"WordPiece\""),
        RefusedEdit(name: "no decoder", path: ["decoder"], value: "null", message: "no decoder"),
        RefusedEdit(name: "post-processor", path: ["post_processor"],
                    value: "{\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]}",
                    message: "post_processor: unsupported post_processor \"RobertaProcessing\""),
        RefusedEdit(name: "template adding tokens after the text", path: ["post_processor", "single"],
                    value: "[{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"<|endoftext|>\", \"type_id\": 0}}]",
                    message: "post_processor.single: unsupported: the template does not end with the text"),
        RefusedEdit(name: "template special token with another id", path: ["post_processor"],
                    value: "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<|endoftext|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {\"<|endoftext|>\": {\"id\": \"<|endoftext|>\", \"ids\": [7], \"tokens\": [\"<|endoftext|>\"]}}}",
                    message: "the template gives \"<|endoftext|>\" id 7, but the tokenizer gives it id 1499"),
        RefusedEdit(name: "dropout", path: ["model", "dropout"], value: "0.1",
                    message: "model.dropout: unsupported dropout 0.1 (supported: null or 0)"),
        RefusedEdit(name: "byte fallback", path: ["model", "byte_fallback"], value: "true",
                    message: "model.byte_fallback: unsupported byte_fallback true"),
        RefusedEdit(name: "subword prefix", path: ["model", "continuing_subword_prefix"], value: "\"##\"",
                    message: "model.continuing_subword_prefix: unsupported continuing_subword_prefix \"##\""),
        RefusedEdit(name: "unknown model key", path: ["model", "merge_priority"], value: "1",
                    message: "model: unsupported key \"merge_priority\""),
        RefusedEdit(name: "unknown top-level key", path: ["chat_template"], value: "\"x\"", message: "unsupported key \"chat_template\""),
        RefusedEdit(name: "version", path: ["version"], value: "\"2.0\"", message: "version: unsupported version \"2.0\""),
        RefusedEdit(name: "truncation", path: ["truncation"], value: "{\"max_length\": 8}",
                    message: "truncation: unsupported truncation {\"max_length\":8} (supported: null)"),
        RefusedEdit(name: "unknown token", path: ["model", "unk_token"], value: "\"<unk>\"",
                    message: "model.unk_token: the unknown token \"<unk>\" is not in the vocabulary"),
        RefusedEdit(name: "vocab not an object", path: ["model", "vocab"], value: "[]", message: "model.vocab: expected a JSON object"),
        RefusedEdit(name: "merge naming an unknown token", path: ["model", "merges", "3"], value: "[\"Ġt\", \"qqqq\"]",
                    message: "model.merges[3]: the merge's right token \"qqqq\" is not in the vocabulary"),
        RefusedEdit(name: "merge of three", path: ["model", "merges", "3"], value: "[\"a\", \"b\", \"c\"]",
                    message: "model.merges[3]: expected a pair of token strings"),
        RefusedEdit(name: "added token id", path: ["added_tokens", "0", "id"], value: "7",
                    message: "added_tokens[0]: the added token \"<|endoftext|>\" has id 7, but it gets id 1499"),
        RefusedEdit(name: "added token listed twice", path: ["added_tokens"],
                    value: "[{\"id\": 1499, \"content\": \"<|endoftext|>\"}, {\"id\": 1499, \"content\": \"<|endoftext|>\"}]",
                    message: "added_tokens[1]: the added token \"<|endoftext|>\" is listed twice"),
        RefusedEdit(name: "added token flag", path: ["added_tokens", "0", "lstrip"], value: "1",
                    message: "added_tokens[0].lstrip: expected true or false"),
    ])
    func refusedTokenizerJSON(_ edit: RefusedEdit) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        let path: [JSONValue] = edit.path.map { Int($0).map(JSONValue.int) ?? .string($0) }
        let document = try applyPatch([setOperation(path, try JSONValue.parse(edit.value))],
                                      to: try JSONValue.parse(try Fixtures.bytes("tokenizer.json")))
        try write(document.serialized(), to: dir + "/tokenizer.json")
        expectError(file: dir + "/tokenizer.json", edit.message) { try BPETokenizer(directory: dir) }
    }

    /// The refusals above start from a file that loads: each edit alone is what is refused.
    @Test func unchangedFixtureLoads() throws {
        let document = try JSONValue.parse(try Fixtures.bytes("tokenizer.json"))
        let tokenizer = try BPETokenizer(tokenizerJSON: Array(document.serialized().utf8), file: "tokenizer.json")
        #expect(tokenizer.count == 1500)
    }

    // MARK: tokenizer_config.json

    @Test(arguments: [
        ("{\"tokenizer_class\": \"RobertaTokenizer\"}", "tokenizer_class: unsupported tokenizer_class \"RobertaTokenizer\""),
        ("{\"add_eos_token\": true}", "add_eos_token: unsupported add_eos_token true"),
        ("{\"add_bos_token\": true, \"bos_token\": null}", "add_bos_token: add_bos_token is true but no bos_token is named"),
        ("{\"pad_token\": \"<pad>\", \"mask_token\": \"<mask>\"}",
         "the special tokens \"<pad>\", \"<mask>\" are neither in the vocabulary nor in added_tokens_decoder"),
        ("{\"added_tokens_decoder\": {\"1600\": {\"content\": \"<pad>\", \"special\": true}}}",
         "added_tokens_decoder[\"1600\"]: the added token \"<pad>\" has id 1600, but it gets id 1500"),
        ("{\"added_tokens_decoder\": {\"x\": {\"content\": \"<pad>\"}}}", "added_tokens_decoder[\"x\"]: expected an id as the key"),
        ("{\"add_prefix_space\": \"yes\"}", "add_prefix_space: expected true or false"),
    ])
    func refusedConfig(_ config: String, _ message: String) throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json", "merges.txt"], to: dir)
        try write(config, to: dir + "/tokenizer_config.json")
        expectError(file: dir + "/tokenizer_config.json", message) { try BPETokenizer(directory: dir) }
    }

    @Test func refusesAddedTokensFile() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try copyFixtures(["vocab.json", "merges.txt"], to: dir)
        try write("{\"<pad>\": 1500}", to: dir + "/added_tokens.json")
        expectError(file: dir + "/added_tokens.json", "unsupported: added_tokens.json is not read") { try BPETokenizer(directory: dir) }
    }

    // MARK: Odd but valid

    /// A vocabulary without byte tokens loads; bytes without tokens are dropped, as Hugging
    /// Face drops them when there is no unknown token.
    @Test func emptyVocabulary() throws {
        let dir = try makeTempDir()
        defer { cleanup(dir) }
        try write("{}", to: dir + "/vocab.json")
        try write("", to: dir + "/merges.txt")
        let tokenizer = try BPETokenizer(directory: dir)
        #expect(tokenizer.count == 1)  // <|endoftext|>, given the next id after the vocabulary
        #expect(tokenizer.endOfTextID == 0)
        #expect(tokenizer.encode("hello <|endoftext|> 東京") == [0])
        #expect(try tokenizer.decodeText([0]) == "<|endoftext|>")
    }
}
