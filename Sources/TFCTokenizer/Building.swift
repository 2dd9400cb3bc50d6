// From what the files say to a tokenizer: every id, merge and added token checked, so that a
// bad file is an error at load time rather than a wrong id later.
import Foundation
import TIRFormats

/// Where something was read, for error messages: the file, the line when the format has lines,
/// and a path inside the file ("model.merges[12]") when it is JSON.
struct Place: Sendable {
    var file: String
    var line: Int?
    var path: String?

    init(file: String, line: Int? = nil, path: String? = nil) {
        self.file = file
        self.line = line
        self.path = path
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError(file: file, line: line, path.map { "\($0): \(message)" } ?? message)
    }

    /// This place with `component` (".key", "[3]", or a top-level key) added to its path.
    func appending(_ component: String) -> Place {
        guard let path else {
            return Place(file: file, line: line, path: component.hasPrefix(".") ? String(component.dropFirst()) : component)
        }
        return Place(file: file, line: line, path: path + component)
    }
}

/// A token quoted for a message, escaped as JSON so that spaces and controls show.
func quoted(_ text: String) -> String { JSONValue.string(text).serialized() }

/// Everything the files say, before it is checked.
struct TokenizerDefinition {
    struct Merge {
        var left: String
        var right: String
        var place: Place
    }

    struct Added {
        var content: String
        var special: Bool
        var singleWord = false
        var lstrip = false
        var rstrip = false
        var normalized = false
        /// The id the file gives it, which must be the one Hugging Face would give it.
        var declaredID: Int32?
        var place: Place
    }

    /// Token text and id, in file order.
    var vocabulary: [(token: String, id: Int32)]
    var vocabularyPlace: Place
    /// In rank order.
    var merges: [Merge]
    var addedTokens: [Added] = []
    var unknownToken: String?
    var unknownTokenPlace: Place?
    var fuseUnknown = false
    var ignoreMerges = false
    var addPrefixSpace = false
    var useRegex = true
    /// tokenizer.json's `normalizer`: none, or Unicode NFC (GPT-NeoX's).
    var normalizesNFC = false
    /// The tokens put before every text (OPT's `</s>`: `add_bos_token`, or a template's
    /// leading special tokens), by content, with where the file names them.
    var prefixTokens: [(content: String, place: Place, declaredID: Int32?)] = []
}

extension BPETokenizer {
    /// Checks a definition and builds the tokenizer it describes.
    init(_ definition: TokenizerDefinition) throws(TokenizerError) {
        var idByVocabularyText: [[UInt8]: Int32] = [:]
        var textByID: [Int32: String] = [:]
        idByVocabularyText.reserveCapacity(definition.vocabulary.count)
        for (token, id) in definition.vocabulary {
            if let other = textByID[id] {
                throw definition.vocabularyPlace.error("id \(id) is given to both \(quoted(other)) and \(quoted(token))")
            }
            textByID[id] = token
            idByVocabularyText[Array(token.utf8)] = id
        }

        let byteIDs = ByteLevel.scalarForByte.map { idByVocabularyText[Array(String($0).utf8)] ?? -1 }
        let merges = try Self.mergeTable(definition.merges, idByText: idByVocabularyText)

        var unknownID: Int32?
        if let unknownToken = definition.unknownToken {
            guard let id = idByVocabularyText[Array(unknownToken.utf8)] else {
                throw (definition.unknownTokenPlace ?? definition.vocabularyPlace)
                    .error("the unknown token \(quoted(unknownToken)) is not in the vocabulary")
            }
            unknownID = id
        }

        var wholeWordIDs: [[UInt8]: Int32]?
        if definition.ignoreMerges {
            var table: [[UInt8]: Int32] = [:]
            for (token, id) in definition.vocabulary {
                if let bytes = ByteLevel.bytes(forTokenText: token) { table[bytes] = id }
            }
            wholeWordIDs = table
        }

        // With a normalizer, a "normalized" added token is matched, and decodes, as its
        // normalized text (as in Hugging Face's added vocabulary).
        var entries = definition.addedTokens
        if definition.normalizesNFC {
            for i in entries.indices where entries[i].normalized { entries[i].content = nfc(entries[i].content) }
        }
        let addedTokens = try Self.assignIDs(entries, idByVocabularyText: idByVocabularyText,
                                             textByID: textByID, vocabularyCount: definition.vocabulary.count)

        var bytesByID: [Int32: [UInt8]] = [:]
        bytesByID.reserveCapacity(textByID.count + addedTokens.count)
        for (id, token) in textByID { bytesByID[id] = ByteLevel.bytes(forTokenText: token) ?? Array(token.utf8) }
        var idByText = idByVocabularyText
        for token in addedTokens {
            textByID[token.id] = token.content
            bytesByID[token.id] = ByteLevel.bytes(forTokenText: token.content) ?? Array(token.content.utf8)
            idByText[Array(token.content.utf8)] = token.id
        }

        self.model = BytePairModel(byteIDs: byteIDs, merges: merges, unknownID: unknownID,
                                   fuseUnknown: definition.fuseUnknown, wholeWordIDs: wholeWordIDs)
        self.splitter = AddedTokenSplitter(addedTokens)
        self.bytesByID = bytesByID
        self.textByID = textByID
        self.idByText = idByText
        self.specialIDs = Set(addedTokens.filter(\.special).map(\.id))
        self.addedTokens = addedTokens
        self.addPrefixSpace = definition.addPrefixSpace
        self.splitsWords = definition.useRegex
        self.normalizesNFC = definition.normalizesNFC
        var prefixIDs: [Int32] = []
        for (content, place, declaredID) in definition.prefixTokens {
            guard let id = idByText[Array(content.utf8)] else {
                throw place.error("the token \(quoted(content)) put before every text is not a token of the tokenizer")
            }
            if let declaredID, declaredID != id {
                throw place.error("the template gives \(quoted(content)) id \(declaredID), but the tokenizer gives it id \(id)")
            }
            prefixIDs.append(id)
        }
        self.prefixIDs = prefixIDs
    }

    /// Merges as ids: both sides and their concatenation must be tokens. A pair listed twice
    /// keeps its later rank, as in Hugging Face's table.
    private static func mergeTable(_ merges: [TokenizerDefinition.Merge],
                                   idByText: [[UInt8]: Int32]) throws(TokenizerError) -> [UInt64: UInt64] {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            guard let left = idByText[Array(merge.left.utf8)] else {
                throw merge.place.error("the merge's left token \(quoted(merge.left)) is not in the vocabulary")
            }
            guard let right = idByText[Array(merge.right.utf8)] else {
                throw merge.place.error("the merge's right token \(quoted(merge.right)) is not in the vocabulary")
            }
            guard let merged = idByText[Array((merge.left + merge.right).utf8)] else {
                throw merge.place.error("the merged token \(quoted(merge.left + merge.right)) is not in the vocabulary")
            }
            let pair = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
            table[pair] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        }
        return table
    }

    /// Gives each added token the id Hugging Face gives it: the vocabulary's id for its text,
    /// else the next id after the vocabulary, in order. A file that says otherwise is refused
    /// (Hugging Face would warn and use its own).
    private static func assignIDs(_ entries: [TokenizerDefinition.Added], idByVocabularyText: [[UInt8]: Int32],
                                  textByID: [Int32: String], vocabularyCount: Int) throws(TokenizerError) -> [AddedToken] {
        var tokens: [AddedToken] = []
        var seen = Set<[UInt8]>()
        var nextID = vocabularyCount
        for entry in entries where !entry.content.isEmpty {
            let key = Array(entry.content.utf8)
            guard seen.insert(key).inserted else {
                throw entry.place.error("the added token \(quoted(entry.content)) is listed twice")
            }
            let id: Int32
            if let vocabularyID = idByVocabularyText[key] {
                id = vocabularyID
            } else {
                guard nextID <= Int(Int32.max) else { throw entry.place.error("too many ids") }
                id = Int32(nextID)
                nextID += 1
                if let other = textByID[id] {
                    throw entry.place.error("the added token \(quoted(entry.content)) would get id \(id), which is"
                                            + " the vocabulary's id for \(quoted(other))")
                }
            }
            if let declared = entry.declaredID, declared != id {
                throw entry.place.error("the added token \(quoted(entry.content)) has id \(declared), but it gets id \(id)"
                                        + " (its id in the vocabulary, else the next id after the vocabulary)")
            }
            tokens.append(AddedToken(id: id, content: entry.content, special: entry.special, singleWord: entry.singleWord,
                                     lstrip: entry.lstrip, rstrip: entry.rstrip, normalized: entry.normalized))
        }
        return tokens
    }
}

/// Unicode Normalization Form C (canonical decomposition, then canonical composition).
func nfc(_ text: String) -> String { text.precomposedStringWithCanonicalMapping }
