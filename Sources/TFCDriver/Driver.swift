// The stages of tfc as library calls: load (read, parse, verify, resolve weights), run (JIT or
// interpreter), compile (object + header + IR/assembly). Commands.swift strings them into the
// commands of the command line, which is a thin layer on top.
import Foundation
import TIR
import LLVMBridge
import TIRCodegen
import TIRFormats
import TIRInterpreter

/// A user-facing failure, already rendered (`file:line:col: error: ...` with source and caret).
public struct DriverError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A parsed, verified model and its resolved parameters.
public struct LoadedModel: Sendable {
    public let path: String
    public let source: String
    public let module: Module
    public let weights: Weights

    public init(path: String, source: String, module: Module, weights: Weights) {
        self.path = path
        self.source = source
        self.module = module
        self.weights = weights
    }
}

/// The largest `.tir` file read (checking a valid model takes about 25 bytes of memory per byte
/// of text, most of it the module; a file of errors, little more than its text held twice).
public let maxSourceBytes = 256 << 20

/// Reads `path` as UTF-8 text, or fails with a diagnostic naming the file.
func readText(_ path: String) throws -> String {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DriverError(Diagnostic(file: path, loc: nil, "no such file").description)
    }
    guard !isDirectory.boolValue else { throw DriverError(Diagnostic(file: path, loc: nil, "is a directory").description) }
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > maxSourceBytes {
        throw DriverError(Diagnostic(file: path, loc: nil, "the file has \(size) bytes; tfc reads models of at most \(maxSourceBytes) bytes").description)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DriverError(Diagnostic(file: path, loc: nil, "cannot read the file").description)
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw DriverError(Diagnostic(file: path, loc: nil, "the file is not valid UTF-8 text").description)
    }
    return text
}

/// Renders any diagnostic-carrying error against the model's source.
func rendered(_ error: any Error, source: String?) -> DriverError {
    switch error {
    case let d as Diagnostic: return DriverError(d.rendered(source: source))
    case let list as DiagnosticList: return DriverError(list.rendered(source: source))
    case let d as DriverError: return d
    default: return DriverError("error: \(error)")
    }
}

/// Parse and verify only: no weights are read.
public func parseAndVerify(_ path: String) throws -> (module: Module, source: String) {
    let source = try readText(path)
    do {
        return (try parseAndVerifyModule(source, file: path), source)
    } catch {
        throw rendered(error, source: source)
    }
}

/// Parse, verify and resolve every parameter (from the weights file or the seeded initializer).
public func loadModel(_ path: String) throws -> LoadedModel {
    let (module, source) = try parseAndVerify(path)
    do {
        let weights = try loadWeights(for: module, tirPath: path)
        return LoadedModel(path: path, source: source, module: module, weights: weights)
    } catch {
        throw rendered(error, source: source)
    }
}

/// How a model is executed by `run`-like commands.
public enum Engine: String, Sendable, CaseIterable {
    /// Native code compiled in-process by the JIT.
    case jit
    /// The Double-precision reference interpreter.
    case interpreter
}

/// Runs a loaded model on `inputs` (by input name). Outputs by name, as float32.
public func runModel(_ model: LoadedModel, inputs: [String: HostTensor], seqLen: Int?,
                     engine: Engine) throws -> [String: HostTensor] {
    let seq = try seqLen ?? impliedSeqLen(model.module, inputs)
    if let decl = model.module.seq, !(1...max(1, decl.max)).contains(seq) {
        throw DriverError("error: the sequence length is \(seq); the model takes 1 to \(decl.max) (seq \(decl.symbol) <= \(decl.max))")
    }
    switch engine {
    case .jit:
        do {
            return try JITModel(model.module, weights: model.weights).run(inputs: inputs, seqLen: seq)
        } catch let error as RunError {
            throw DriverError("error: \(error)" + (explainStatus(error.status, model.module, inputs).map { ": " + $0 } ?? ""))
        } catch {
            throw DriverError("error: \(error)")
        }
    case .interpreter:
        do {
            let outs = try Interpreter(module: model.module, weights: model.weights).run(inputs: inputs, seqLen: seq)
            var result: [String: HostTensor] = [:]
            for output in model.module.outputs {
                guard let values = outs[output.name], let type = model.module.type(of: .value(output.name)) else { continue }
                result[output.name] = HostTensor(shape: type.shape(seqLen: seq), f32: values.map { Float($0) })
            }
            return result
        } catch {
            throw DriverError("error: \(error)")
        }
    }
}

/// What the driver can tell about a status the compiled code returned, from the inputs it
/// passed: for ERR_TOKEN_ID, the first id outside its embedding table, its position and the bound.
func explainStatus(_ status: Status?, _ module: Module, _ inputs: [String: HostTensor]) -> String? {
    guard status == .badTokenId else { return nil }
    for inst in module.body where inst.op == .embedding && inst.operands.count >= 2 {
        guard case .value(let idsName) = inst.operands[0], let ids = inputs[idsName],
              case .i32(let values) = ids.storage,
              let vocab = module.type(of: inst.operands[1])?.dims.first?.fixedValue else { continue }
        if let position = values.firstIndex(where: { $0 < 0 || Int($0) >= vocab }) {
            return "%\(idsName)[\(position)] is \(values[position]), outside [0, \(vocab)) (the rows of \(inst.operands[1]))"
        }
    }
    return nil
}

/// The sequence length the inputs imply (`Module.impliedSeqLen`), or a located failure naming
/// the sequence inputs when none of them is given.
func impliedSeqLen(_ module: Module, _ inputs: [String: HostTensor]) throws -> Int {
    if let n = module.impliedSeqLen(inputs) { return n }
    let missing = module.inputs.filter { $0.type.dims.first == .seq }.map { "%" + $0.name }.joined(separator: ", ")
    throw DriverError("error: cannot infer the sequence length: no value for \(missing)")
}

/// What `compile` writes: the object, the header, LLVM IR (optimized, or as lowered), assembly,
/// and the code generator's plans as text (what was fused, where every value lives).
public struct EmitKinds: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let object = EmitKinds(rawValue: 1)
    public static let header = EmitKinds(rawValue: 2)
    public static let llvmIR = EmitKinds(rawValue: 4)
    public static let assembly = EmitKinds(rawValue: 8)
    public static let unoptimizedIR = EmitKinds(rawValue: 16)
    public static let fusionPlan = EmitKinds(rawValue: 32)
    public static let memoryPlan = EmitKinds(rawValue: 64)

    /// The names `--emit` takes, in the order help and errors list them.
    public static let names: [(name: String, kind: EmitKinds)] = [
        ("obj", .object), ("header", .header), ("llvm-ir", .llvmIR), ("llvm-ir-unopt", .unoptimizedIR),
        ("asm", .assembly), ("fusion", .fusionPlan), ("memory-plan", .memoryPlan),
    ]

    /// A comma-separated list of names (`obj,header`); an empty list emits nothing.
    public init(list: String) throws {
        self = []
        for piece in list.split(separator: ",") {
            guard let kind = Self.names.first(where: { $0.name == piece })?.kind else {
                let expected = Self.names.map(\.name)
                throw DriverError("unknown --emit kind '\(piece)' (expected \(expected.dropLast().joined(separator: ", ")) or \(expected.last ?? ""))")
            }
            insert(kind)
        }
    }
}

/// Parallel loops estimated below this many flops run on the calling thread, unless asked
/// otherwise (`compile --min-parallel-flops`).
public let defaultMinParallelFlops = defaultMinParallelWork

/// Fails, with LLVM's valid names, for a target or CPU this LLVM cannot generate code for.
func checkTarget(_ target: String?, cpu: String?) throws {
    do {
        _ = try targetSpecs(named: target, cpus: cpu)
    } catch {
        throw DriverError("error: \(error)")
    }
}

/// The targets of `--target` and `--cpu`, where `--cpu` may list several CPUs, comma-separated,
/// in the order of preference (an object with code for each, CodeVariant).
func targetSpecs(named target: String?, cpus: String?) throws -> [TargetSpec] {
    guard let cpus, cpus.contains(",") else { return [try targetSpec(named: target, cpu: cpus)] }
    let names = cpus.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    if names.contains("") { throw CodegenError("--cpu \(cpus): a CPU name is empty") }
    return try names.map { try targetSpec(named: target, cpu: $0) }
}

/// Compiles a loaded model ahead of time and writes the requested files next to `objectPath`
/// (`model.o` -> `model.h`, `model.ll`, `model.unopt.ll`, `model.s`, `model.fusion.txt`,
/// `model.memory-plan.txt`), all together through one `OutputSet`: none may replace the model or
/// its weights, no two may share a path.
/// `target`: host (nil), x86_64, aarch64 or an LLVM triple; `cpu`: nil for the host's or the
/// target's generic CPU. An unknown target or CPU fails with LLVM's message before any lowering.
@discardableResult
public func compileModel(_ model: LoadedModel, objectPath: String, headerPath: String? = nil, emit: EmitKinds,
                         weightsFile: String? = nil, target: String? = nil, cpu: String? = nil, prefix: String? = nil,
                         minParallelWork: Int = defaultMinParallelFlops, progress: Progress = .silent) throws -> [String] {
    let base = (objectPath as NSString).deletingPathExtension
    let header = headerPath ?? base + ".h"
    // Every output is checked against the inputs and the other outputs before any work.
    let outputs = OutputSet()
    outputs.reads(model: model)
    if objectPath.isEmpty || emit.contains(.object) { try outputs.declare(objectPath, option: "-o") }
    if emit.contains(.header) { try outputs.declare(header, option: headerPath == nil ? "the header (beside -o)" : "--header") }
    if let weightsFile { try outputs.declare(weightsFile, option: "--weights-file") }
    let extra: [(EmitKinds, String, String)] = [
        (.llvmIR, ".ll", "llvm-ir"), (.unoptimizedIR, ".unopt.ll", "llvm-ir-unopt"), (.assembly, ".s", "asm"),
        (.fusionPlan, ".fusion.txt", "fusion"), (.memoryPlan, ".memory-plan.txt", "memory-plan"),
    ]
    for (kind, suffix, name) in extra where emit.contains(kind) {
        try outputs.declare(base + suffix, option: "--emit \(name)")
    }
    let artifacts: AOTArtifacts
    do {
        // The weights file is written as the weights are packed, never held whole in memory.
        // So is the object, by LLVM into its temporary.
        let objectFile = emit.contains(.object) ? try outputs.stream(objectPath) : nil
        var writer: (@Sendable (UnsafeRawBufferPointer, Int) throws -> Void)?
        if let weightsFile {
            let file = try outputs.stream(weightsFile)
            writer = { bytes, offset in try file.write(bytes, at: offset) }
        }
        // compileAOT makes its TargetMachine first: a bad triple or CPU fails there, at no cost.
        let targets = try targetSpecs(named: target, cpus: cpu)
        var request = AOTRequest(target: targets[0], alsoFor: Array(targets.dropFirst()), prefix: prefix,
                                 headerName: (header as NSString).lastPathComponent,
                                 wantIR: emit.contains(.llvmIR), wantAssembly: emit.contains(.assembly),
                                 wantUnoptimizedIR: emit.contains(.unoptimizedIR),
                                 minParallelWork: minParallelWork, sourceFile: model.path, weightsFile: writer,
                                 stage: { progress.begin($0) })
        request.objectFile = objectFile?.temporaryPath
        artifacts = try compileAOT(model.module, weights: model.weights, request)
    } catch let error as DriverError {
        throw error
    } catch let located as DiagnosticList {
        throw rendered(located, source: model.source)  // C names of the model's values
    } catch {
        throw DriverError("error: \(error)")
    }
    if emit.contains(.header) { outputs.provide(header, Data(artifacts.header.utf8)) }
    if let ir = artifacts.llvmIR { outputs.provide(base + ".ll", Data(ir.utf8)) }
    if let ir = artifacts.unoptimizedIR { outputs.provide(base + ".unopt.ll", Data(ir.utf8)) }
    if let asm = artifacts.assembly { outputs.provide(base + ".s", Data(asm.utf8)) }
    if emit.contains(.fusionPlan) {
        outputs.provide(base + ".fusion.txt", Data(artifacts.plans.fusion.description.utf8))
    }
    if emit.contains(.memoryPlan) {
        outputs.provide(base + ".memory-plan.txt", Data(artifacts.plans.memory.description.utf8))
    }
    progress.begin("writing the files")
    return try outputs.commit()
}
