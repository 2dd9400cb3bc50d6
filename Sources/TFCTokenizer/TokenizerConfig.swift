// tokenizer_config.json beside vocab.json + merges.txt: the options transformers passes to
// GPT2Tokenizer when a checkpoint has no tokenizer.json.
import TIRFormats

struct TokenizerConfig {
    var addPrefixSpace: Bool
    var addedTokens: [TokenizerDefinition.Added]
    /// With `add_bos_token` (OPT's), the bos token, put before every text.
    var prefixTokens: [(content: String, place: Place, declaredID: Int32?)] = []

    /// The keys naming special tokens (transformers' SPECIAL_TOKENS_ATTRIBUTES).
    private static let roles = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
    /// GPT2Tokenizer's default for a role the config does not name.
    private static let defaultRoles: [String: String] = [
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
    ]
    private static let gpt2Classes: Set<String> = ["GPT2Tokenizer", "GPT2TokenizerFast"]

    /// Reads the options that change the ids: the class, `add_prefix_space`, `add_bos_token` (the
    /// bos token before every text, as OPT's tokenizer has it), `add_eos_token` (refused when true), `added_tokens_decoder` and the special tokens.
    /// Other keys (model_max_length, chat_template, ...) do not change the ids and are ignored.
    init(file: String, vocabulary: [(token: String, id: Int32)]) throws(TokenizerError) {
        let top = Place(file: file)
        let config = try JSONFile.object(try JSONFile.parse(try readFile(file), file: file), at: top)
        if let tokenizerClass = try JSONFile.string(config, "tokenizer_class", at: top), !Self.gpt2Classes.contains(tokenizerClass) {
            throw top.appending("tokenizer_class")
                .error("unsupported tokenizer_class \(quoted(tokenizerClass)) (supported: GPT2Tokenizer, GPT2TokenizerFast)")
        }
        if try JSONFile.bool(config, "add_eos_token", default: false, at: top) {
            throw top.appending("add_eos_token").error("unsupported add_eos_token true (a token after every text)")
        }
        if try JSONFile.bool(config, "add_bos_token", default: false, at: top) {
            let bos = try config["bos_token"].map { value throws(TokenizerError) in
                try Self.tokenContent(value, at: top.appending("bos_token"))
            } ?? Self.defaultRoles["bos_token"]
            guard let bos = bos ?? nil else {
                throw top.appending("add_bos_token").error("add_bos_token is true but no bos_token is named")
            }
            prefixTokens = [(bos, top.appending("bos_token"), nil)]
        }
        addPrefixSpace = try JSONFile.bool(config, "add_prefix_space", default: false, at: top)
        addedTokens = try Self.decoderTokens(config["added_tokens_decoder"], at: top.appending("added_tokens_decoder"))

        // Special tokens named by role and not listed above: special, matched as they are.
        var known = Set(vocabulary.map { Array($0.token.utf8) })
        var listed = Set(addedTokens.map { Array($0.content.utf8) })
        var unknown: [String] = []
        for content in try Self.roleTokens(config, at: top) where listed.insert(Array(content.utf8)).inserted {
            addedTokens.append(TokenizerDefinition.Added(content: content, special: true, place: top))
            if known.insert(Array(content.utf8)).inserted { unknown.append(content) }
        }
        // Tokens in neither vocab.json nor added_tokens_decoder get new ids in an order only
        // transformers' internals decide; one alone can only get the next id.
        if unknown.count > 1 {
            throw top.error("the special tokens \(unknown.map(quoted).joined(separator: ", ")) are neither in the vocabulary"
                            + " nor in added_tokens_decoder, so their ids are not defined")
        }
    }

    /// `added_tokens_decoder`: id (as a string) -> token, in order of id.
    private static func decoderTokens(_ value: JSONValue?, at place: Place) throws(TokenizerError) -> [TokenizerDefinition.Added] {
        guard let value, value != .null else { return [] }
        let object = try JSONFile.object(value, at: place)
        var tokens: [TokenizerDefinition.Added] = []
        for (key, item) in object.pairs {
            let itemPlace = place.appending("[\(quoted(key))]")
            guard let id = Int32(key), id >= 0 else { throw itemPlace.error("expected an id as the key") }
            var token = try JSONFile.object(item, at: itemPlace)
            token.pairs.removeAll { $0.key == "__type" }
            try JSONFile.checkKeys(token, known: ["content", "single_word", "lstrip", "rstrip", "normalized", "special"], at: itemPlace)
            tokens.append(try TokenizerJSON.addedToken(token, declaredID: id, at: itemPlace))
        }
        return tokens.sorted { $0.declaredID! < $1.declaredID! }
    }

    /// The contents of the tokens the config names by role, with GPT2Tokenizer's defaults.
    private static func roleTokens(_ config: JSONObject, at place: Place) throws(TokenizerError) -> [String] {
        var contents: [String] = []
        for role in roles {
            guard let value = config[role] else {
                if let content = defaultRoles[role] { contents.append(content) }
                continue
            }
            if let content = try tokenContent(value, at: place.appending(role)) { contents.append(content) }
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let value = config[key], value != .null else { continue }
            let items: [JSONValue]
            if let array = value.arrayValue {
                items = array
            } else if let object = value.objectValue {
                items = object.pairs.map(\.value)
            } else {
                throw place.appending(key).error("expected an array or an object")
            }
            for (index, item) in items.enumerated() {
                if let content = try tokenContent(item, at: place.appending("\(key)[\(index)]")) { contents.append(content) }
            }
        }
        return contents
    }

    /// A token named as a string or as an AddedToken object; null names none.
    private static func tokenContent(_ value: JSONValue, at place: Place) throws(TokenizerError) -> String? {
        switch value {
        case .null: return nil
        case .string(let content): return content
        case .object(let object):
            guard let content = object["content"]?.stringValue else { throw place.error("missing key \"content\"") }
            return content
        default: throw place.error("expected a token (a string or an object with \"content\")")
        }
    }
}
