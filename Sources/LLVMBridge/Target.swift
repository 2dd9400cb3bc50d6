// Target initialization and TargetMachine: which CPU code is generated for, and emission of
// objects and assembly.
import CLLVM

public struct LLVMError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Turns an LLVMErrorRef (nil = success) into a Swift error. LLVMGetErrorMessage consumes it.
func check(_ err: LLVMErrorRef?, _ what: String) throws {
    guard let err else { return }
    let msg = LLVMGetErrorMessage(err)
    defer { LLVMDisposeErrorMessage(msg) }
    throw LLVMError("\(what): \(msg.map { String(cString: $0) } ?? "unknown error")")
}

/// Copies a `char *` that LLVM allocated, then frees it with LLVMDisposeMessage.
func take(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    defer { LLVMDisposeMessage(p) }
    return String(cString: p)
}

enum LLVMTargets {
    /// Runs once per process, thread-safely (swift_once): the host target plus the cross
    /// targets tfc can emit objects for.
    static let initialized: Bool = {
        let native = LLVMInitializeNativeTarget() == 0 && LLVMInitializeNativeAsmPrinter() == 0
        LLVMInitializeX86TargetInfo()
        LLVMInitializeX86Target()
        LLVMInitializeX86TargetMC()
        LLVMInitializeX86AsmPrinter()
        LLVMInitializeX86AsmParser()  // inline assembly (the CPU check's cpuid) is parsed when emitted
        LLVMInitializeAArch64TargetInfo()
        LLVMInitializeAArch64Target()
        LLVMInitializeAArch64TargetMC()
        LLVMInitializeAArch64AsmPrinter()
        LLVMInitializeAArch64AsmParser()
        return native
    }()
}

/// What code is generated for: a triple, a CPU name (tuning) and a feature string (ISA).
public struct TargetSpec: Sendable, Hashable, CustomStringConvertible {
    public var triple: String
    public var cpu: String
    public var features: String

    public init(triple: String, cpu: String, features: String) {
        self.triple = triple
        self.cpu = cpu
        self.features = features
    }

    /// This machine: without both the CPU name and its features LLVM targets plain SSE2.
    public static var host: TargetSpec {
        _ = LLVMTargets.initialized
        return TargetSpec(triple: take(LLVMGetDefaultTargetTriple()), cpu: take(LLVMGetHostCPUName()),
                          features: take(LLVMGetHostCPUFeatures()))
    }

    /// `cpu` on `triple`, with the features tfc chooses code by spelled out for a known x86 CPU
    /// (LLVM infers them from the name too, but tfc's own choices, such as the vector width
    /// or the bf16 kernels, read the feature string).
    public static func named(_ cpu: String, triple: String) -> TargetSpec {
        var spec = TargetSpec(triple: triple, cpu: cpu, features: "")
        if spec.isX86, let features = KnownCPUs.x86Features(of: cpu) {
            spec.features = features.map { "+" + $0 }.joined(separator: ",")
        }
        return spec
    }

    public var isX86: Bool { triple.hasPrefix("x86_64") || triple.hasPrefix("i686") }
    public var isAArch64: Bool { triple.hasPrefix("aarch64") || triple.hasPrefix("arm64") }

    /// The widest SIMD vector the target has, in float lanes (for the vector width attribute).
    public var vectorBits: Int {
        if isX86 {
            let on = Set(features.split(separator: ",").filter { $0.hasPrefix("+") }.map { $0.dropFirst() })
            if on.contains("avx512f") { return 512 }
            if on.contains("avx2") || on.contains("avx") { return 256 }
            return 128
        }
        return 128
    }

    /// Whether the feature string turns `feature` on (LLVM's name: "avx512bf16", "amx-bf16").
    /// A CPU named without features (`--cpu znver4`) implies its own, which this does not see.
    public func has(_ feature: String) -> Bool {
        features.split(separator: ",").contains { $0.hasPrefix("+") && $0.dropFirst() == feature }
    }

    /// The same target with `features` turned off (and, for the JIT, runnable wherever this is).
    public func without(_ features: [String]) -> TargetSpec {
        var copy = self
        copy.features = self.features.split(separator: ",").map { flag in
            features.contains(String(flag.dropFirst())) ? "-" + flag.dropFirst() : String(flag)
        }.joined(separator: ",")
        return copy
    }

    public var description: String { "\(triple) cpu=\(cpu)" }
}

extension TargetSpec {
    /// The architectures tfc emits code for (LLVMTargets), as `--target` accepts them.
    public static let supportedArchitectures = ["x86_64", "aarch64"]

    /// The name of the LLVM target that builds code for `triple` ("x86-64", "x86", "aarch64",
    /// "arm64", "aarch64_be", ...), or an error naming the architectures tfc supports.
    public static func llvmTargetName(forTriple triple: String) throws -> String {
        precondition(LLVMTargets.initialized, "the native LLVM target failed to initialize")
        var target: LLVMTargetRef?
        var err: UnsafeMutablePointer<CChar>?
        guard !triple.isEmpty, !triple.utf8.contains(0), LLVMGetTargetFromTriple(triple, &target, &err) == 0,
              let target, let name = LLVMGetTargetName(target) else {
            let reason = take(err)
            throw LLVMError("unknown target '\(triple)'\(reason.isEmpty ? "" : " (\(reason))"); tfc emits code for "
                            + "\(supportedArchitectures.joined(separator: ", ")) (a short name, or an LLVM triple such as "
                            + "x86_64-pc-linux-gnu or aarch64-unknown-linux-gnu)")
        }
        return String(cString: name)
    }

    /// The CPU names LLVM accepts for `triple`, sorted (an x86-64 triple excludes the 32-bit-only
    /// x86 CPUs, on which LLVM aborts).
    public static func cpuNames(forTriple triple: String) throws -> [String] {
        let target = try llvmTargetName(forTriple: triple)
        switch target {
        case "x86-64": return KnownCPUs.x86.filter { !KnownCPUs.x86Only32Bit.contains($0) }
        case "x86": return KnownCPUs.x86
        default: return (KnownCPUs.aarch64 + KnownCPUs.aarch64Aliases).sorted()  // aarch64, aarch64_be, arm64, ...
        }
    }

    /// Checks the triple and the CPU against what LLVM knows, before any TargetMachine is made: an
    /// unknown CPU makes LLVM print a warning and then abort in code generation. The error names
    /// the valid CPUs.
    public func validate() throws {
        let names = try Self.cpuNames(forTriple: triple)
        guard names.contains(cpu) else {
            let why = KnownCPUs.x86Only32Bit.contains(cpu) ? " (it has no 64-bit mode)" : ""
            throw LLVMError("unknown CPU '\(cpu)' for \(triple)\(why); valid CPUs: \(names.joined(separator: ", "))")
        }
    }
}

/// One LLVM TargetMachine; disposed with this object.
public final class TargetMachine: @unchecked Sendable {
    let ref: LLVMTargetMachineRef
    public let spec: TargetSpec

    public init(_ spec: TargetSpec) throws {
        ref = try Self.create(spec, relocation: LLVMRelocPIC)
        self.spec = spec
    }

    /// A raw TargetMachine (O3 code generation), owned by the caller.
    static func create(_ spec: TargetSpec, relocation: LLVMRelocMode = LLVMRelocDefault) throws -> LLVMTargetMachineRef {
        precondition(LLVMTargets.initialized, "the native LLVM target failed to initialize")
        try spec.validate()
        var target: LLVMTargetRef?
        var err: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(spec.triple, &target, &err) == 0 else {
            throw LLVMError("unknown target '\(spec.triple)': \(take(err))")
        }
        let options = LLVMCreateTargetMachineOptions()
        defer { LLVMDisposeTargetMachineOptions(options) }
        LLVMTargetMachineOptionsSetCPU(options, spec.cpu)
        LLVMTargetMachineOptionsSetFeatures(options, spec.features)
        LLVMTargetMachineOptionsSetCodeGenOptLevel(options, LLVMCodeGenLevelAggressive)
        LLVMTargetMachineOptionsSetRelocMode(options, relocation)
        guard let tm = LLVMCreateTargetMachineWithOptions(target, spec.triple, options) else {
            throw LLVMError("cannot create a target machine for \(spec)")
        }
        return tm
    }

    deinit { LLVMDisposeTargetMachine(ref) }

    /// Sets the module's triple and data layout to this machine's (before building IR).
    public func configure(_ module: IRModule) {
        LLVMSetTarget(module.ref, spec.triple)
        let layout = LLVMCreateTargetDataLayout(ref)
        LLVMSetModuleDataLayout(module.ref, layout)
        LLVMDisposeTargetData(layout)
    }

    /// The new pass manager's pipeline (e.g. "default<O3>"); this machine supplies the cost model.
    public func optimize(_ module: IRModule, pipeline: String = "default<O3>") throws {
        let options = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(options) }
        try check(LLVMRunPasses(module.ref, pipeline, ref, options), "LLVMRunPasses(\(pipeline))")
    }

    public enum FileKind { case object, assembly }

    /// Code generation rewrites the module it runs on, so each emission works on a clone.
    public func emit(_ module: IRModule, _ kind: FileKind) throws -> [UInt8] {
        guard let clone = LLVMCloneModule(module.ref) else { throw LLVMError("cannot clone module") }
        defer { LLVMDisposeModule(clone) }
        var err: UnsafeMutablePointer<CChar>?
        var buffer: LLVMMemoryBufferRef?
        let fileType = kind == .object ? LLVMObjectFile : LLVMAssemblyFile
        guard LLVMTargetMachineEmitToMemoryBuffer(ref, clone, fileType, &err, &buffer) == 0, let buffer else {
            throw LLVMError("code generation for \(spec) failed: \(take(err))")
        }
        defer { LLVMDisposeMemoryBuffer(buffer) }
        guard let start = LLVMGetBufferStart(buffer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: LLVMGetBufferSize(buffer)))
    }

    /// The same, written straight to the file at `path` (created or truncated): no copy of the
    /// output in memory, which for an object with embedded weights is the weights' size again.
    public func emit(_ module: IRModule, _ kind: FileKind, toFile path: String) throws {
        guard let clone = LLVMCloneModule(module.ref) else { throw LLVMError("cannot clone module") }
        defer { LLVMDisposeModule(clone) }
        var err: UnsafeMutablePointer<CChar>?
        let fileType = kind == .object ? LLVMObjectFile : LLVMAssemblyFile
        var name = Array(path.utf8CString)
        guard LLVMTargetMachineEmitToFile(ref, clone, &name, fileType, &err) == 0 else {
            throw LLVMError("code generation for \(spec) to \(path) failed: \(take(err))")
        }
    }
}
