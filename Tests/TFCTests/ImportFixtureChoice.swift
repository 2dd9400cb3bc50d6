// Which checkpoint of Tests/ImportTests/Fixtures goes with a fuzzed config.json. One file for
// fuzz-config (Fuzz/Sources/FuzzSupport/ImportFixtureChoice.swift is a link to it) and its
// regression tests (FuzzRegressionTests), so that a saved input replays against the weights
// the fuzzer gave it.

/// The fixtures: folder name, width, family (the `model_type` a config names).
public let importFixtures: [(name: String, width: Int, family: String)] = [
    ("gpt2-lm", 48, "gpt2"), ("gpt2-lm-fp16", 32, "gpt2"), ("gpt2-base-odd", 30, "gpt2"),
    ("vit-cls", 36, "vit"), ("vit-cls-bf16", 16, "vit"), ("vit-base-odd", 20, "vit"),
    ("opt-lm", 36, "opt"), ("opt-base-odd", 30, "opt"), ("neox-lm", 48, "gpt_neox"), ("neox-seq-odd", 50, "gpt_neox"),
]

/// The fixture whose width the config's first `"n_embd"` / `"hidden_size"` names, among those of
/// the family it mentions (`"vit"`, `"opt"`, `"gpt_neox"`, else GPT-2), else that family's first.
public func importFixture(for bytes: [UInt8]) -> String {
    func find(_ needle: String) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return nil }
        return (0...(bytes.count - n.count)).first { i in n.indices.allSatisfy { bytes[i + $0] == n[$0] } }
    }
    let family = ["vit", "opt", "gpt_neox"].first { find("\"\($0)\"") != nil } ?? "gpt2"
    for key in ["\"n_embd\"", "\"hidden_size\""] {
        guard var i = find(key) else { continue }
        i += key.utf8.count
        while i < bytes.count, [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "\n")].contains(bytes[i]) { i += 1 }
        var digits = ""
        while i < bytes.count, digits.count < 6, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
            digits.append(Character(UnicodeScalar(bytes[i])))
            i += 1
        }
        if let width = Int(digits), let match = importFixtures.first(where: { $0.width == width && $0.family == family }) {
            return match.name
        }
    }
    return importFixtures.first { $0.family == family }!.name
}
