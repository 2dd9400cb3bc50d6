// `tfc import`: a checkpoint folder to a verified .tir file.
import Foundation
import TFCTokenizer
import TIR
import TIRFormats
import TIRImport

/// Imports the checkpoint in `directory` and writes it as `path`, after checking that the
/// result verifies and its weights load. A checkpoint with tokenizer files (tokenizer.json, or
/// vocab.json + merges.txt) that tfc reads is named by the .tir (`tokenizer "..."`, in place, as
/// its weights are); one it cannot read is left out, and the returned note says why.
@discardableResult
public func importModel(directory: String, to path: String, progress: Progress = .silent) throws -> String? {
    let outputs = OutputSet()
    for file in ["config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "vocab.json", "merges.txt"] {
        outputs.reads(URL(fileURLWithPath: directory).appendingPathComponent(file).path, as: "checkpoint file")
    }
    // The shards of a sharded checkpoint are read too.
    for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".safetensors") {
        outputs.reads(URL(fileURLWithPath: directory).appendingPathComponent(file).path, as: "checkpoint file")
    }
    try outputs.declare(path, option: "-o")
    var module: Module
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
    var note: String?
    let files = ["tokenizer.json", "vocab.json"].map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
    if files.contains(where: { FileManager.default.fileExists(atPath: $0) }) {
        progress.begin("reading the tokenizer")
        do {
            let tokenizer = try BPETokenizer(directory: directory)
            let vocabulary = module.inputs.first.flatMap { module.vocabulary(of: $0.name) } ?? 0
            if tokenizer.count > vocabulary {
                note = "note: the checkpoint's tokenizer has \(tokenizer.count) tokens, more than the model's \(vocabulary): not named by the .tir"
            } else {
                module.tokenizer = weightsReference(directory, fromTIR: path)
            }
        } catch {
            note = "note: the checkpoint's tokenizer is not named by the .tir: \(error)"
        }
    }
    progress.begin("writing \(path)")
    outputs.provide(path, Data(printModule(module).utf8))
    try outputs.commit()
    return note
}
