// In-process compilation with ORC LLJIT: add optimized modules, look up their symbols.
import CLLVM

/// One LLJIT instance. Disposing it frees the code it generated: keep it alive while calling
/// any function looked up from it. These C calls consume their argument, even on failure:
/// LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine, LLVMOrcLLJITBuilderSetJITTargetMachineBuilder,
/// LLVMOrcCreateLLJIT, LLVMOrcCreateNewThreadSafeModule, LLVMOrcLLJITAddLLVMIRModule.
public final class JIT: @unchecked Sendable {
    let ref: LLVMOrcLLJITRef
    /// The target the JIT compiles for: by default this process's CPU, with all its features.
    public let target: TargetSpec

    /// `target` must be runnable here: the host, or the host with features turned off (tests use
    /// that to run the code other CPUs get).
    public init(target: TargetSpec = .host) throws {
        _ = LLVMTargets.initialized
        self.target = target
        // This TargetMachine is consumed by the JIT target machine builder.
        let tm = try TargetMachine.create(target)
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm))
        var jit: LLVMOrcLLJITRef?
        try check(LLVMOrcCreateLLJIT(&jit, builder), "creating the JIT")
        guard let jit else { throw LLVMError("creating the JIT returned no instance") }
        ref = jit
        // Generated code calls libm (expf, tanhf, erff): resolve such symbols in this process.
        var generator: LLVMOrcDefinitionGeneratorRef?
        let prefix = LLVMOrcLLJITGetGlobalPrefix(jit)
        try check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&generator, prefix, nil, nil),
                  "creating the process symbol generator")
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), generator)
    }

    deinit { _ = try? check(LLVMOrcDisposeLLJIT(ref), "disposing the JIT") }

    /// Hands a module (made with `forJIT: true`, already optimized) to the JIT. Code is
    /// generated on the first lookup of one of its symbols.
    public func add(_ module: IRModule) throws {
        try check(LLVMOrcLLJITAddLLVMIRModule(ref, LLVMOrcLLJITGetMainJITDylib(ref), module.takeThreadSafeModule()),
                  "adding a module to the JIT")
    }

    /// Defines symbols at fixed addresses in this process (memory the caller keeps alive as long
    /// as this JIT), for code that declares them as external globals.
    public func define(_ symbols: [(name: String, address: UnsafeRawPointer)]) throws {
        guard !symbols.isEmpty else { return }
        var pairs = symbols.map { symbol in
            LLVMOrcCSymbolMapPair(
                Name: LLVMOrcLLJITMangleAndIntern(ref, symbol.name),
                Sym: LLVMJITEvaluatedSymbol(
                    Address: LLVMOrcExecutorAddress(UInt(bitPattern: symbol.address)),
                    Flags: LLVMJITSymbolFlags(GenericFlags: UInt8(LLVMJITSymbolGenericFlagsExported.rawValue), TargetFlags: 0)))
        }
        let unit = LLVMOrcAbsoluteSymbols(&pairs, pairs.count)
        try check(LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(ref), unit), "defining weight symbols")
    }

    /// The address of a JIT'd symbol, valid while this JIT lives.
    public func lookup(_ name: String) throws -> UnsafeRawPointer {
        var address: LLVMOrcExecutorAddress = 0
        try check(LLVMOrcLLJITLookup(ref, &address, name), "looking up \(name)")
        guard let p = UnsafeRawPointer(bitPattern: UInt(address)) else { throw LLVMError("symbol \(name) has address 0") }
        return p
    }
}
