// Imports Hugging Face checkpoints (config.json + model.safetensors) as TIR modules.
import Foundation
import TIR
import TIRFormats

/// Reads the checkpoint folder `directory` and returns a module whose parameters reference the
/// checkpoint's safetensors file in place, by a path relative to the folder of `tirPath`.
///
/// Supported: `model_type` "gpt2" (GPT2LMHeadModel, GPT2Model), "opt" (OPTForCausalLM,
/// OPTModel), "gpt_neox" (GPTNeoXForCausalLM, GPTNeoXModel: GPT-NeoX, Pythia) and "vit"
/// (ViTModel, ViTForImageClassification). Everything is checked before the module is returned: the
/// config's keys and options (errors in config.json, at the key), and every tensor the model
/// reads (present, a float dtype, the shape the config implies; errors in model.safetensors).
public func importCheckpoint(directory: String, tirPath: String) throws(Diagnostic) -> Module {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
        throw Diagnostic(file: directory, loc: nil, "no such checkpoint folder")
    }
    guard isDirectory.boolValue else {
        throw Diagnostic(file: directory, loc: nil,
                         "not a folder; a checkpoint folder holds config.json and model.safetensors")
    }

    let configPath = joinPath(directory, "config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
        throw Diagnostic(file: configPath, loc: nil,
                         "no such file; a checkpoint folder holds config.json and model.safetensors")
    }
    guard let configData = FileManager.default.contents(atPath: configPath) else {
        throw Diagnostic(file: configPath, loc: nil, "cannot read the file")
    }
    let config = try Config(path: configPath, bytes: Array(configData))
    let modelType = try config.string("model_type")
    let importer: (Config, SafetensorsCheckpoint) throws(Diagnostic) -> ImportedModel
    switch modelType {
    case "gpt2": importer = importGPT2
    case "vit": importer = importViT
    case "opt": importer = importOPT
    case "gpt_neox": importer = importGPTNeoX
    default: throw config.error("unsupported model_type '\(modelType)' (supported: gpt2, gpt_neox, opt, vit)",
                                at: "model_type")
    }

    let checkpoint = try openWeights(in: directory)
    let imported = try importer(config, checkpoint)
    return Module(name: moduleName(tirPath), seq: imported.seq,
                  weights: .file(weightsReference(checkpoint.path, fromTIR: tirPath)),
                  inputs: [imported.input], params: imported.params, body: imported.body,
                  outputs: imported.outputs.map { OutputRef(name: $0) })
}

/// What a model importer produces: the module's header, parameters, body and outputs (the
/// main one first).
struct ImportedModel {
    var seq: SeqDecl?
    var input: Input
    var params: [Param]
    var body: [Instruction]
    var outputs: [String]
}

/// Opens `model.safetensors`, or the shards `model.safetensors.index.json` names (validating
/// every header against its file's size), saying what to do when the folder holds weights in
/// another form. A pickle (`pytorch_model.bin`) is never opened: unpickling runs code.
private func openWeights(in directory: String) throws(Diagnostic) -> SafetensorsCheckpoint {
    let fm = FileManager.default
    let path = joinPath(directory, "model.safetensors"), index = joinPath(directory, "model.safetensors.index.json")
    if fm.fileExists(atPath: path) { return try SafetensorsCheckpoint(path: path) }
    if fm.fileExists(atPath: index) { return try SafetensorsCheckpoint(path: index) }
    if fm.fileExists(atPath: joinPath(directory, "pytorch_model.bin"))
        || fm.fileExists(atPath: joinPath(directory, "pytorch_model.bin.index.json")) {
        throw Diagnostic(file: path, loc: nil, "no such file: the checkpoint has only PyTorch pickles (pytorch_model.bin),"
                         + " which tfc does not open (unpickling runs code); convert it with transformers:"
                         + " AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)")
    }
    throw Diagnostic(file: path, loc: nil, "no such file (nor model.safetensors.index.json)")
}

private func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// The model's name: the `.tir` file's name without its extension, as a C-friendly identifier
/// (`gpt2-small.tir` -> `gpt2_small`), since it names the compiled entry point.
func moduleName(_ tirPath: String) -> String {
    let stem = URL(fileURLWithPath: tirPath).deletingPathExtension().lastPathComponent
    let name = String(stem.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    return name.isEmpty ? "model" : name
}

/// How the `.tir` at `tirPath` names `weightsPath`: relative to the `.tir`'s folder, computed
/// between the real paths of both folders (symbolic links resolved, so that `..` means what
/// the file system will make of it), or absolute when the `.tir`'s folder does not exist yet.
public func weightsReference(_ weightsPath: String, fromTIR tirPath: String) -> String {
    let weights = URL(fileURLWithPath: weightsPath).standardizedFileURL.resolvingSymlinksInPath()
    let tirFolder = URL(fileURLWithPath: tirPath).standardizedFileURL.deletingLastPathComponent()
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: tirFolder.path, isDirectory: &isDirectory), isDirectory.boolValue
    else { return weights.path }
    let from = tirFolder.resolvingSymlinksInPath().pathComponents
    let to = weights.pathComponents
    var common = 0
    while common < from.count, common < to.count - 1, from[common] == to[common] { common += 1 }
    let ups = Array(repeating: "..", count: from.count - common)
    return (ups + to[common...]).joined(separator: "/")
}
