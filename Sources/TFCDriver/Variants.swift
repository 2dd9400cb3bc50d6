// Rewrite pipelines from the driver: model variants (pre-ln, pre-rms, pre-crms), `tfc opt`
// output (a .tir plus the rewritten weights), and rendering of remarks.
import Foundation
import TIR
import TIRFormats
import TIRImport
import TIRTransforms

/// The model variants (`--variant`): pre-ln (as written), pre-rms, pre-crms. The pass library's
/// type, under the driver's name, so that the command line needs no import of the passes.
public typealias ModelVariant = Variant

/// The arithmetic of the matrix products (`--precision`): fp32 as written, or bf16, which runs
/// the `to-bf16` pass after the variant's passes (bf16 weights, inputs rounded to bf16).
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32
    case bf16

    /// The passes this precision appends to a variant's.
    public var passes: [Pass] { self == .bf16 ? [toBF16] : [] }
}

/// The passes of `variant` at `precision`: the variant's (exact in float64), then `to-bf16` for
/// bf16, last, so that only its final rounding is approximate. Every command builds its
/// pipeline here.
public func pipeline(_ variant: Variant, precision: Precision) -> [Pass] {
    variant.passes + precision.passes
}

/// Every pass `--passes` accepts, with its one-line summary, in pipeline order.
public var availablePasses: [(name: String, summary: String)] {
    allPasses.map { ($0.name, $0.summary) }
}

/// A model after a pipeline: the rewritten module, its weights rounded once to float32, the
/// float64 program, and the passes' remarks.
public struct RewrittenModel: Sendable {
    public let model: LoadedModel
    public let program: Program
    public let remarks: [Diagnostic]
}

/// Runs `passes` over a loaded model. The verifier runs after every pass: a pass that produced
/// invalid IR is a compiler bug, reported as such. `afterEach` sees every intermediate module.
public func rewrite(_ model: LoadedModel, passes: [Pass],
                    afterEach: (Pass, Module) -> Void = { _, _ in }) throws -> RewrittenModel {
    let ctx: PassContext
    do {
        ctx = try runPipeline(passes, on: Program(module: model.module, weights: model.weights), file: model.path) { pass, ctx in
            let problems = verifyModule(ctx.module, file: model.path)
            if !problems.isEmpty {
                throw DriverError("internal error: pass \(pass.name) produced invalid IR:\n"
                                  + problems.map(\.description).joined(separator: "\n"))
            }
            afterEach(pass, ctx.module)
        }
    } catch let error as DriverError {
        throw error
    } catch {
        throw DriverError("error: \(error)")
    }
    let loaded = LoadedModel(path: model.path, source: model.source, module: ctx.module, weights: ctx.program.weights)
    return RewrittenModel(model: loaded, program: ctx.program, remarks: ctx.remarks)
}

/// The model in the given variant (pre-ln: unchanged) and precision.
public func rewrite(_ model: LoadedModel, variant: Variant, precision: Precision = .fp32) throws -> RewrittenModel {
    try rewrite(model, passes: pipeline(variant, precision: precision))
}

/// `--passes a,b,c` to passes, or a user-facing error.
public func passes(named pipeline: String) throws -> [Pass] {
    do {
        return try parsePipeline(pipeline)
    } catch {
        throw DriverError("error: \(error)")
    }
}

/// Remarks rendered against the model's source, one after another.
public func renderRemarks(_ remarks: [Diagnostic], source: String) -> String {
    remarks.map { $0.rendered(source: source) }.joined(separator: "\n")
}

/// Loads `path` and rewrites it into `variant` at `precision`; with `remarks`, writes the
/// passes' remarks (rendered against the source) to the console's error stream. pre-ln in fp32
/// without remarks runs no pipeline at all.
public func loadModel(_ path: String, variant: Variant, precision: Precision = .fp32, remarks: Bool,
                      console: Console = .standard) throws -> LoadedModel {
    console.progress.begin("reading the model and its weights")
    let original = try loadModel(path)
    guard variant != .preLN || precision != .fp32 || remarks else { return original }
    console.progress.begin("running the \(variant.rawValue)\(precision == .bf16 ? " and to-bf16" : "") passes")
    let rewritten = try rewrite(original, variant: variant, precision: precision)
    if remarks && !rewritten.remarks.isEmpty { console.error(renderRemarks(rewritten.remarks, source: original.source)) }
    return rewritten.model
}

/// Writes a rewritten model as `path` (.tir) and its parameters as a safetensors file beside it
/// (`out.tir` -> `out.safetensors`); the .tir reads every parameter from that file.
@discardableResult
public func writeRewritten(_ rewritten: RewrittenModel, to path: String) throws -> [String] {
    let base = (path as NSString).deletingPathExtension
    let weightsPath = base + ".safetensors"
    guard weightsPath != path else {
        throw DriverError("error: \(path): the output must be a .tir file (its weights go to \(weightsPath))")
    }
    let outputs = OutputSet()
    outputs.reads(model: rewritten.model)
    try outputs.declare(path, option: "-o")
    try outputs.declare(weightsPath, option: "-o (its weights)")
    var module = rewritten.model.module
    module.weights = .file((weightsPath as NSString).lastPathComponent)
    // The tokenizer's folder, named from the new .tir's folder (it was relative to the original's).
    if let tokenizer = module.tokenizer, !tokenizer.hasPrefix("/") {
        let folder = URL(fileURLWithPath: rewritten.model.path).deletingLastPathComponent().appendingPathComponent(tokenizer)
        module.tokenizer = weightsReference(folder.path, fromTIR: path)
    }
    for i in module.params.indices { module.params[i].initializer = .default }
    let weights = rewritten.model.weights
    let tensors = module.params.compactMap { p in weights[p.name].map { (name: p.name, tensor: $0) } }
    // The .tir is declared first, but the weights are renamed into place first: a .tir is never
    // left naming weights that are not there yet.
    outputs.provide(weightsPath, try encodeSafetensors(tensors, metadata: [(key: "producer", value: "tfc")],
                                                       file: weightsPath))
    outputs.provide(path, Data(printModule(module).utf8))
    return try outputs.commit()
}
