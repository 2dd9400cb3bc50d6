// `tfc import`: a checkpoint folder to a verified .tir file.
import Foundation
import TIR
import TIRFormats
import TIRImport

/// Imports the checkpoint in `directory` and writes it as `path`, after checking that the
/// result verifies and its weights load.
public func importModel(directory: String, to path: String, progress: Progress = .silent) throws {
    let outputs = OutputSet()
    for file in ["config.json", "model.safetensors", "model.safetensors.index.json"] {
        outputs.reads(URL(fileURLWithPath: directory).appendingPathComponent(file).path, as: "checkpoint file")
    }
    try outputs.declare(path, option: "-o")
    let module: Module
    progress.begin("reading the checkpoint")
    do {
        module = try importCheckpoint(directory: directory, tirPath: path)
    } catch {
        // Show the offending line of config.json when the error has one, and only when the
        // file is JSON: a file that is not (a link to some other file) is never echoed.
        let source = error.loc == nil ? nil : (try? String(contentsOfFile: error.file, encoding: .utf8))
            .flatMap { text in (try? JSONValue.parse(text)) == nil ? nil : text }
        throw DriverError(error.rendered(source: source))
    }
    let problems = verifyModule(module, file: path)
    guard problems.isEmpty else {
        throw DriverError("internal error: the imported model does not verify:\n" + problems.map(\.description).joined(separator: "\n"))
    }
    progress.begin("checking the weights")
    do {
        _ = try loadWeights(for: module, tirPath: path)
    } catch {
        throw DriverError(error.description)
    }
    progress.begin("writing \(path)")
    outputs.provide(path, Data(printModule(module).utf8))
    try outputs.commit()
}
