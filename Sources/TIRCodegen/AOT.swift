// Ahead-of-time compilation: a relocatable object (weights embedded, or in a weights file beside
// it), its C header, and on
// request the optimized LLVM IR and assembly, for the host or another target.
import LLVMBridge
import TIR

public struct AOTArtifacts: Sendable {
    public var entry: EntryPoint
    public var target: TargetSpec
    /// The object's bytes (empty when the request wrote it to `objectFile`).
    public var object: [UInt8]
    public var header: String
    /// Optimized LLVM IR (only when asked for).
    public var llvmIR: String?
    /// The LLVM IR as lowered, before optimization (only when asked for).
    public var unoptimizedIR: String?
    /// What was fused into GEMM epilogues, and where every value lives (FusionPlan, MemoryPlan).
    public var plans: LoweringPlans
    /// Assembly (only when asked for).
    public var assembly: String?
}

public struct AOTRequest: Sendable {
    /// The CPUs to compile for, in the order of preference: the object runs the code of the first
    /// one the running CPU can (EntryPoint.variants). All share one triple.
    public var targets: [TargetSpec]
    /// The first (or only) of them.
    public var target: TargetSpec {
        get { targets[0] }
        set { targets[0] = newValue }
    }
    public var prefix: String?
    /// The header's file name, named in its first comment (its include guard comes from the prefix).
    public var headerName: String
    /// The `.tir` file the model was read from, for the locations of errors about C names.
    public var sourceFile: String?
    public var wantIR = false
    public var wantUnoptimizedIR = false
    public var wantAssembly = false
    /// See CodegenOptions.minParallelWork.
    public var minParallelWork = defaultMinParallelWork
    /// Where a weights file goes (`write(bytes, offset)`), for an object that reads its weights
    /// from one (`<prefix>_set_weights`) rather than embedding them: any model size, and no copy
    /// of the weights in LLVM. nil: embedded (at most `maxEmbeddedWeightBytes`).
    public var weightsFile: (@Sendable (UnsafeRawBufferPointer, Int) throws -> Void)?
    /// Write the object to this file rather than return its bytes (no copy of embedded weights
    /// in memory): an existing file is truncated.
    public var objectFile: String?
    /// The most weight bytes an object embeds (CodegenOptions.maxEmbeddedBytes).
    public var maxEmbeddedBytes = maxEmbeddedWeightBytes
    /// Told the name of each step of code generation as it starts (for progress on a terminal).
    public var stage: @Sendable (String) -> Void = { _ in }

    public init(target: TargetSpec, alsoFor moreTargets: [TargetSpec] = [], prefix: String? = nil, headerName: String,
                wantIR: Bool = false, wantAssembly: Bool = false, wantUnoptimizedIR: Bool = false,
                minParallelWork: Int = defaultMinParallelWork, sourceFile: String? = nil,
                weightsFile: (@Sendable (UnsafeRawBufferPointer, Int) throws -> Void)? = nil,
                stage: @escaping @Sendable (String) -> Void = { _ in }) {
        self.weightsFile = weightsFile
        self.targets = [target] + moreTargets
        self.sourceFile = sourceFile
        self.stage = stage
        self.wantUnoptimizedIR = wantUnoptimizedIR
        self.minParallelWork = minParallelWork
        self.prefix = prefix
        self.headerName = headerName
        self.wantIR = wantIR
        self.wantAssembly = wantAssembly
    }
}

/// Named targets for `--target`: a triple, or a short name; `cpu`: nil for the host's CPU or the
/// target's default. Both are checked against what LLVM knows (TargetSpec.validate), cheaply and
/// before any model is needed, so a driver can call this first: an unknown target or CPU is a
/// CodegenError naming the valid ones, never an abort inside LLVM.
public func targetSpec(named name: String?, cpu: String?) throws -> TargetSpec {
    let spec: TargetSpec
    if let name, name != "host", name != "native" {
        let triple: String
        switch name {
        case "x86_64", "x86-64": triple = "x86_64-pc-linux-gnu"
        case "aarch64", "arm64": triple = "aarch64-unknown-linux-gnu"
        default: triple = name
        }
        let defaultCPU = triple.hasPrefix("aarch64") || triple.hasPrefix("arm64") ? "generic" : "x86-64-v2"
        spec = TargetSpec.named(cpu ?? defaultCPU, triple: triple)
    } else {
        var host = TargetSpec.host
        if let cpu, cpu != "native" {
            host = TargetSpec.named(cpu, triple: host.triple)  // the host's features would be wrong
        }
        spec = host
    }
    try validateTarget(spec)
    return spec
}

/// Throws a CodegenError when LLVM does not know `spec`'s triple or CPU (the message lists the
/// valid names); `cpu` "native" is the host's CPU and is valid only for the host's target.
public func validateTarget(_ spec: TargetSpec) throws {
    do {
        try spec.validate()
    } catch let error as LLVMError {
        var message = error.description
        if spec.cpu == "native" { message = "--cpu native is only for the host target; " + message }
        throw CodegenError(message)
    }
}

public func compileAOT(_ model: Module, weights: Weights, _ request: AOTRequest) throws -> AOTArtifacts {
    let targets = request.targets
    if let other = targets.first(where: { $0.triple != targets[0].triple }) {
        throw CodegenError("one object holds code for one architecture: \(other.triple) is not \(targets[0].triple)")
    }
    if targets.count > 1, !targets[0].isX86 {
        throw CodegenError("code for several CPUs in one object is for x86-64 (the object picks by CPUID)")
    }
    if let twice = targets.map(\.cpu).first(where: { cpu in targets.filter { $0.cpu == cpu }.count > 1 }) {
        throw CodegenError("CPU \(twice) is listed twice")
    }
    let perTarget = try targets.map { try LoweringPlans(model, target: $0, prefix: request.prefix) }
    var plans = perTarget[0]
    plans.entry.variants = zip(targets, perTarget).map { CodeVariant($0, extend: $1.extend) }
    plans.entry.workspaceBytes = perTarget.map(\.entry.workspaceBytes).max() ?? 0
    // Before any code: names that would make a header that does not compile, or one whose
    // parameters or macros collide, are refused with the value's location.
    try CNames.check(model, entry: plans.entry, file: request.sourceFile)
    // Embedded weights go to a scratch file while the code is lowered, then into a section
    // appended to the object LLVM wrote (ObjectWeights): LLVM never holds them. In memory, for
    // another object format, or when the LLVM IR or assembly is asked for too (each a whole
    // module, which a compiler can turn into the same object), they are LLVM constants.
    var scratch: ScratchFile?
    let wantText = request.wantIR || request.wantUnoptimizedIR || request.wantAssembly
    if request.weightsFile == nil, !wantText, let objectFile = request.objectFile,
       ObjectWeights.supports(triple: targets[0].triple) {
        scratch = try ScratchFile(beside: objectFile)
    }
    let store = request.weightsFile.map { WeightStore(.file(write: $0)) }
        ?? scratch.map { file in WeightStore(.objectSection(write: { try file.write($0, at: $1) })) }
    var options = CodegenOptions(prefix: request.prefix, weightStore: store, minParallelWork: request.minParallelWork,
                                 extendEntries: true)  // for every model that can have them
    options.maxEmbeddedBytes = request.maxEmbeddedBytes
    // With several CPUs the module's own target is the architecture's baseline: each function
    // names its CPU, and what runs before the choice (the entry points) must run on any.
    let machineTarget = targets.count == 1 ? targets[0] : TargetSpec(triple: targets[0].triple, cpu: "x86-64", features: "")
    let (weightsFile, code) = try generateCode(model.name, target: machineTarget, to: .object(assembly: request.wantAssembly, file: request.objectFile),
                                     keepUnoptimizedIR: request.wantUnoptimizedIR, keepOptimizedIR: request.wantIR,
                                     stage: request.stage) { ir in
        try lowerModel(model, weights: weights, plans: perTarget, entry: plans.entry, into: ir, targets: targets,
                       options: options)
    }
    if let scratch, let store, let objectFile = request.objectFile {
        request.stage("adding the weights to the object")
        do {
            try ObjectWeights.append(toObject: objectFile, weightBytes: store.finishedBytes, symbols: store.placements) {
                try scratch.read(into: $0, at: $1)
            }
        } catch let failure as ObjectWeights.Failure {
            throw CodegenError(failure.description)
        }
    }
    plans.entry.weightsFile = weightsFile
    return AOTArtifacts(entry: plans.entry, target: request.target, object: code.object ?? [],
                        header: cHeader(for: plans.entry, model: model, fileName: request.headerName, targets: targets,
                                        extendRefusal: perTarget[0].extendRefusal),
                        llvmIR: code.optimizedIR, unoptimizedIR: code.unoptimizedIR,
                        plans: plans, assembly: code.assembly)
}
