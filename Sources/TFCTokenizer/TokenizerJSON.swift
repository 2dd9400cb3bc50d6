// tokenizer.json, Hugging Face tokenizers' single-file format, as far as byte-level BPE uses it.
import TIRFormats

enum TokenizerJSON {
    static func definition(_ bytes: [UInt8], file: String) throws(TokenizerError) -> TokenizerDefinition {
        let top = Place(file: file)
        let root = try JSONFile.object(try JSONFile.parse(bytes, file: file), at: top)
        try JSONFile.checkKeys(root, known: ["version", "truncation", "padding", "added_tokens", "normalizer",
                                             "pre_tokenizer", "post_processor", "decoder", "model"], at: top)
        if let version = root["version"], version != .null, version != .string("1.0") {
            throw top.appending("version").error("unsupported version \(version.serialized()) (supported: \"1.0\")")
        }
        for key in ["truncation", "padding"] {
            if let value = root[key], value != .null {
                throw top.appending(key).error("unsupported \(key) \(describe(value)) (supported: null)")
            }
        }
        // GPT-NeoX's tokenizer puts text in Unicode NFC; no other normalizer is implemented.
        var normalizesNFC = false
        if let value = root["normalizer"], value != .null {
            guard let object = value.objectValue, object.keys == ["type"], object["type"] == .string("NFC") else {
                throw top.appending("normalizer").error("unsupported normalizer \(describe(value)) (supported: null,"
                                                        + " {\"type\": \"NFC\"})")
            }
            normalizesNFC = true
        }

        let model = try JSONFile.object(root["model"] ?? .null, at: top.appending("model"))
        var definition = try modelDefinition(model, at: top.appending("model"))
        let preTokenizer = try byteLevel(root["pre_tokenizer"], role: "pre_tokenizer", at: top.appending("pre_tokenizer"))
        guard preTokenizer["add_prefix_space"]?.boolValue != nil else {
            throw top.appending("pre_tokenizer").error("missing key \"add_prefix_space\"")
        }
        definition.addPrefixSpace = try JSONFile.bool(preTokenizer, "add_prefix_space", default: true, at: top.appending("pre_tokenizer"))
        definition.useRegex = try JSONFile.bool(preTokenizer, "use_regex", default: true, at: top.appending("pre_tokenizer"))
        _ = try byteLevel(root["decoder"], role: "decoder", at: top.appending("decoder"))
        definition.prefixTokens = try prefixTokens(root["post_processor"], at: top.appending("post_processor"))
        definition.addedTokens = try addedTokens(root["added_tokens"], at: top.appending("added_tokens"))
        definition.normalizesNFC = normalizesNFC
        return definition
    }

    /// A value named in a message: an object by its "type", anything else as JSON.
    private static func describe(_ value: JSONValue) -> String {
        if let type = value.objectValue?["type"]?.stringValue { return quoted(type) }
        return value.serialized()
    }

    /// The BPE model: vocab, merges and options. Options that change the ids in ways this
    /// library does not implement (dropout, subword prefixes and suffixes, byte fallback) must
    /// be off.
    private static func modelDefinition(_ model: JSONObject, at place: Place) throws(TokenizerError) -> TokenizerDefinition {
        try JSONFile.checkKeys(model, known: ["type", "dropout", "unk_token", "continuing_subword_prefix",
                                              "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
                                              "vocab", "merges"], at: place)
        guard let type = try JSONFile.string(model, "type", at: place), type == "BPE" else {
            let found = model["type"].map { $0.serialized() } ?? "none"
            throw place.appending(".type").error("unsupported model type \(found) (supported: \"BPE\")")
        }
        if let dropout = model["dropout"], dropout != .null, dropout.doubleValue != 0 {
            throw place.appending(".dropout").error("unsupported dropout \(dropout.serialized()) (supported: null or 0)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try JSONFile.string(model, key, at: place), !affix.isEmpty {
                throw place.appending(".\(key)").error("unsupported \(key) \(quoted(affix)) (supported: null or \"\")")
            }
        }
        if try JSONFile.bool(model, "byte_fallback", default: false, at: place) {
            throw place.appending(".byte_fallback").error("unsupported byte_fallback true (supported: false)")
        }
        guard let vocabValue = model["vocab"] else { throw place.error("missing key \"vocab\"") }
        let vocabPlace = place.appending(".vocab")
        let vocabulary = try JSONFile.vocabulary(try JSONFile.object(vocabValue, at: vocabPlace), at: vocabPlace)
        guard let mergesValue = model["merges"] else { throw place.error("missing key \"merges\"") }
        var definition = TokenizerDefinition(vocabulary: vocabulary, vocabularyPlace: vocabPlace,
                                             merges: try merges(mergesValue, at: place.appending(".merges")))
        definition.unknownToken = try JSONFile.string(model, "unk_token", at: place)
        definition.unknownTokenPlace = place.appending(".unk_token")
        definition.fuseUnknown = try JSONFile.bool(model, "fuse_unk", default: false, at: place)
        definition.ignoreMerges = try JSONFile.bool(model, "ignore_merges", default: false, at: place)
        return definition
    }

    /// Merges as ["a", "b"] pairs, or all as "a b" strings (older files: read like merges.txt,
    /// "#version" entries skipped).
    private static func merges(_ value: JSONValue, at place: Place) throws(TokenizerError) -> [TokenizerDefinition.Merge] {
        guard let items = value.arrayValue else { throw place.error("expected an array") }
        let allStrings = items.allSatisfy { $0.stringValue != nil }
        var merges: [TokenizerDefinition.Merge] = []
        merges.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let itemPlace = place.appending("[\(index)]")
            if allStrings {
                let text = item.stringValue!
                if text.hasPrefix("#version") { continue }
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw itemPlace.error("expected two tokens separated by one space, found \(quoted(text))")
                }
                merges.append(TokenizerDefinition.Merge(left: String(parts[0]), right: String(parts[1]), place: itemPlace))
            } else {
                guard let pair = item.arrayValue, pair.count == 2, let left = pair[0].stringValue, let right = pair[1].stringValue else {
                    throw itemPlace.error("expected a pair of token strings (or every merge as an \"a b\" string), found \(item.serialized())")
                }
                merges.append(TokenizerDefinition.Merge(left: left, right: right, place: itemPlace))
            }
        }
        return merges
    }

    /// A ByteLevel pre-tokenizer or decoder (their options share one object shape).
    private static func byteLevel(_ value: JSONValue?, role: String, at place: Place) throws(TokenizerError) -> JSONObject {
        guard let value, value != .null else { throw place.error("unsupported: no \(role) (supported: ByteLevel)") }
        let object = try JSONFile.object(value, at: place)
        guard object["type"] == .string("ByteLevel") else {
            throw place.error("unsupported \(role) \(describe(value)) (supported: \"ByteLevel\")")
        }
        try JSONFile.checkKeys(object, known: ["type", "add_prefix_space", "trim_offsets", "use_regex"], at: place)
        for key in ["add_prefix_space", "trim_offsets", "use_regex"] {
            _ = try JSONFile.bool(object, key, default: false, at: place)
        }
        return object
    }

    /// The post-processor: none, ByteLevel (which adds nothing to ids), or a template of special
    /// tokens then the text (OPT's `</s>` first); returns the tokens it puts before the text.
    private static func prefixTokens(_ value: JSONValue?,
                                     at place: Place) throws(TokenizerError) -> [(content: String, place: Place, declaredID: Int32?)] {
        guard let value, value != .null else { return [] }
        let object = try JSONFile.object(value, at: place)
        switch object["type"]?.stringValue {
        case "ByteLevel":
            return []
        case "TemplateProcessing":
            let single = object["single"]?.arrayValue ?? [], singlePlace = place.appending(".single")
            guard let last = single.last?.objectValue, last.keys == ["Sequence"],
                  last["Sequence"]?.objectValue?["id"] == .string("A") else {
                throw singlePlace.error("unsupported: the template does not end with the text (supported: special tokens,"
                                        + " then [{\"Sequence\": {\"id\": \"A\", ...}}])")
            }
            var tokens: [(content: String, place: Place, declaredID: Int32?)] = []
            for (index, item) in single.dropLast().enumerated() {
                let itemPlace = singlePlace.appending("[\(index)]")
                guard let piece = item.objectValue, piece.keys == ["SpecialToken"],
                      let name = piece["SpecialToken"]?.objectValue?["id"]?.stringValue else {
                    throw itemPlace.error("unsupported: the template puts the text twice (supported: special tokens, then the text)")
                }
                let entryPlace = place.appending(".special_tokens[\(quoted(name))]")
                guard let entry = object["special_tokens"]?.objectValue?[name]?.objectValue,
                      let contents = entry["tokens"]?.arrayValue, let ids = entry["ids"]?.arrayValue,
                      contents.count == ids.count, !contents.isEmpty else {
                    throw entryPlace.error("expected the template's special token with matching \"ids\" and \"tokens\"")
                }
                for (content, id) in zip(contents, ids) {
                    guard let text = content.stringValue else { throw entryPlace.error("expected token strings") }
                    tokens.append((text, entryPlace, try JSONFile.id(id, at: entryPlace)))
                }
            }
            return tokens
        default:
            throw place.error("unsupported post_processor \(describe(value)) (supported: null, \"ByteLevel\", \"TemplateProcessing\")")
        }
    }

    private static func addedTokens(_ value: JSONValue?, at place: Place) throws(TokenizerError) -> [TokenizerDefinition.Added] {
        guard let value, value != .null else { return [] }
        guard let items = value.arrayValue else { throw place.error("expected an array") }
        var tokens: [TokenizerDefinition.Added] = []
        for (index, item) in items.enumerated() {
            let itemPlace = place.appending("[\(index)]")
            let object = try JSONFile.object(item, at: itemPlace)
            try JSONFile.checkKeys(object, known: ["id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"],
                                   at: itemPlace)
            tokens.append(try addedToken(object, declaredID: try JSONFile.id(object["id"] ?? .null, at: itemPlace.appending(".id")),
                                         at: itemPlace))
        }
        return tokens
    }

    /// One added token's content and flags; a missing flag is false, except `normalized`,
    /// which defaults to the opposite of `special` (as in Hugging Face's AddedToken).
    static func addedToken(_ object: JSONObject, declaredID: Int32?, at place: Place) throws(TokenizerError) -> TokenizerDefinition.Added {
        guard let content = try JSONFile.string(object, "content", at: place) else {
            throw place.error("missing key \"content\"")
        }
        let special = try JSONFile.bool(object, "special", default: false, at: place)
        return TokenizerDefinition.Added(
            content: content, special: special,
            singleWord: try JSONFile.bool(object, "single_word", default: false, at: place),
            lstrip: try JSONFile.bool(object, "lstrip", default: false, at: place),
            rstrip: try JSONFile.bool(object, "rstrip", default: false, at: place),
            normalized: try JSONFile.bool(object, "normalized", default: !special, at: place),
            declaredID: declaredID, place: place)
    }
}
