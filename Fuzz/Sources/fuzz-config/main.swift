// Fuzzes the Hugging Face importer through its config.json (the config parser itself is
// internal to TIRImport): `importCheckpoint(directory:tirPath:)` on a folder holding the input
// as config.json next to a fixed valid model.safetensors from Tests/ImportTests/Fixtures: the
// fixture whose width the input's first `"n_embd"` / `"hidden_size"` names, else gpt2-lm (or
// vit-cls when the input mentions "vit"), so that every fixture's config.json in the seed
// corpus imports. Any config may be rejected with a diagnostic. One that is accepted must give
// a module that verifies, prints to text that parses back to it, and whose weights load: the
// importer promises to check everything before it returns.
import Foundation
import FuzzSupport
import TIR
import TIRImport

/// (fixture, its width, whether it is a ViT): one checkpoint folder each.
let fixtures: [(name: String, width: Int, vit: Bool)] = [
    ("gpt2-lm", 48, false), ("gpt2-lm-fp16", 32, false), ("gpt2-base-odd", 30, false),
    ("vit-cls", 36, true), ("vit-cls-bf16", 16, true), ("vit-base-odd", 20, true),
]

let folders: [String] = fixtures.map { fixture in
    let folder = scratchFolder + "/" + fixture.name
    let source = repositoryRoot + "/Tests/ImportTests/Fixtures/\(fixture.name)/model.safetensors"
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: folder + "/model.safetensors")
    } catch {
        fatalError("cannot set up \(folder) from \(source): \(error) (set TFC_ROOT to the repository)")
    }
    return folder
}

/// Which fixture's weights go with `config`: see the file comment.
func fixtureIndex(_ config: UnsafeRawBufferPointer) -> Int {
    let bytes = Array(config)
    func find(_ needle: String, from start: Int = 0) -> Int? {
        let n = Array(needle.utf8)
        guard bytes.count >= n.count, start <= bytes.count - n.count else { return nil }
        return (start...(bytes.count - n.count)).first { i in n.indices.allSatisfy { bytes[i + $0] == n[$0] } }
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
        if let width = Int(digits), let index = fixtures.firstIndex(where: { $0.width == width && $0.vit == vit }) {
            return index
        }
    }
    return vit ? 3 : 0
}

runFuzzer { data in
    let folder = folders[fixtureIndex(data)]
    writeInput(data, to: folder + "/config.json")
    let tirPath = folder + "/model.tir"
    let module: Module
    do throws(Diagnostic) {
        module = try importCheckpoint(directory: folder, tirPath: tirPath)
    } catch {
        _ = error.rendered(source: String(decoding: data, as: UTF8.self))
        return
    }
    let problems = verifyModule(module, file: tirPath)
    guard problems.isEmpty else {
        fail("the imported module does not verify: \(problems.map(\.description))\n\(printModule(module))")
    }
    let text = printModule(module)
    do throws(DiagnosticList) {
        guard try parseModule(text, file: tirPath) == module else { fail("parse(print(m)) != m\n\(text)") }
    } catch {
        fail("the imported module's text does not parse: \(error.description)\n\(text)")
    }
    do throws(Diagnostic) {
        _ = try loadWeights(for: module, tirPath: tirPath)
    } catch {
        fail("the imported module's weights do not load: \(error.description)\n\(text)")
    }
}
