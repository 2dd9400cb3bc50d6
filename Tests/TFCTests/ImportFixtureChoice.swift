// Which checkpoint of Tests/ImportTests/Fixtures goes with a fuzzed config.json. One file for
// fuzz-config (Fuzz/Sources/FuzzSupport/ImportFixtureChoice.swift is a link to it) and its
// regression tests (FuzzRegressionTests), so that a saved input replays against the weights
// the fuzzer gave it.

/// The fixtures: folder name, width, whether it is a ViT.
public let importFixtures: [(name: String, width: Int, vit: Bool)] = [
    ("gpt2-lm", 48, false), ("gpt2-lm-fp16", 32, false), ("gpt2-base-odd", 30, false),
    ("vit-cls", 36, true), ("vit-cls-bf16", 16, true), ("vit-base-odd", 20, true),
]

/// The fixture whose width the config's first `"n_embd"` / `"hidden_size"` names (among the
/// ViTs when it mentions `"vit"`), else gpt2-lm (vit-cls for a ViT).
public func importFixture(for bytes: [UInt8]) -> String {
    func find(_ needle: String) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count else { return nil }
        return (0...(bytes.count - n.count)).first { i in n.indices.allSatisfy { bytes[i + $0] == n[$0] } }
    }
    let vit = find("\"vit\"") != nil
    for key in ["\"n_embd\"", "\"hidden_size\""] {
        guard var i = find(key) else { continue }
        i += key.utf8.count
        while i < bytes.count, [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "\n")].contains(bytes[i]) { i += 1 }
        var digits = ""
        while i < bytes.count, digits.count < 6, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
            digits.append(Character(UnicodeScalar(bytes[i])))
            i += 1
        }
        if let width = Int(digits), let match = importFixtures.first(where: { $0.width == width && $0.vit == vit }) {
            return match.name
        }
    }
    return vit ? "vit-cls" : "gpt2-lm"
}
