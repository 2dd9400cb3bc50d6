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
import TIRFormats
import TIRImport

/// One checkpoint folder per fixture (the choice: FuzzSupport/ImportFixtureChoice.swift).
let folders: [String: String] = Dictionary(uniqueKeysWithValues: importFixtures.map { fixture in
    let folder = scratchFolder + "/" + fixture.name
    let source = repositoryRoot + "/Tests/ImportTests/Fixtures/\(fixture.name)/model.safetensors"
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: folder + "/model.safetensors")
    } catch {
        fatalError("cannot set up \(folder) from \(source): \(error) (set TFC_ROOT to the repository)")
    }
    return (fixture.name, folder)
})

runFuzzer { data in
    guard let folder = folders[importFixture(for: Array(data))] else { fail("no folder for the chosen fixture") }
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
