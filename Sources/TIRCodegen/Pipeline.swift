// The back end's one path: build an LLVM module, verify it, optimize it for the target, then
// either emit it (object, assembly) or hand it to the JIT. Model compilation ahead of time and in
// process, and the FMA peak probe, all go through `generateCode`.
import LLVMBridge

/// Where optimized code goes.
enum CodeDestination {
    /// An object file (and assembly text when asked for), for `target`: in memory, or written to
    /// `file` when one is given.
    case object(assembly: Bool, file: String? = nil)
    /// Native code in this process.
    case jit(JIT)
}

/// What generateCode produced besides the code it gave the JIT.
struct GeneratedCode {
    var object: [UInt8]?
    var assembly: String?
    /// The module as built, before optimization, and after it (each when asked for: printing
    /// embedded weights as text costs more than optimizing a small model).
    var unoptimizedIR: String?
    var optimizedIR: String?
}

/// LLVM's O3, after MergeFunctions: ops of the same shape get identical task functions (their
/// buffers and weights are arguments), and merging them first spares O3 and code generation
/// optimizing each copy again.
let optimizationPipeline = "mergefunc,default<O3>"

/// Builds a module with `build`, verifies and optimizes it for `target`, and sends it to
/// `destination`. For the JIT, `symbols` names host memory the code refers to (external weights),
/// defined before the module is added. `stage` is told the name of each step as it starts (for
/// progress on a terminal).
func generateCode<Built>(_ name: String, target: TargetSpec, to destination: CodeDestination,
                         keepUnoptimizedIR: Bool = false, keepOptimizedIR: Bool = false,
                         stage: (String) -> Void = { _ in }, build: (IRModule) throws -> Built,
                         symbols: (Built) throws -> [(name: String, address: UnsafeRawPointer)] = { _ in [] })
    throws -> (Built, GeneratedCode) {
    let machine = try TargetMachine(target)
    let isJIT: Bool
    if case .jit = destination { isJIT = true } else { isJIT = false }
    let ir = IRModule(name: name, forJIT: isJIT)
    machine.configure(ir)
    stage("lowering to LLVM IR and packing weights")
    let built = try build(ir)
    let unoptimized = keepUnoptimizedIR ? ir.text : nil
    try ir.verify()
    stage("optimizing (LLVM O3)")
    try machine.optimize(ir, pipeline: optimizationPipeline)
    var code = GeneratedCode(unoptimizedIR: unoptimized, optimizedIR: keepOptimizedIR ? ir.text : nil)
    switch destination {
    case .object(let assembly, let file):
        stage("generating machine code")
        if let file {
            try machine.emit(ir, .object, toFile: file)
        } else {
            code.object = try machine.emit(ir, .object)
        }
        if assembly { code.assembly = String(decoding: try machine.emit(ir, .assembly), as: UTF8.self) }
    case .jit(let jit):
        stage("generating machine code (JIT)")
        try jit.define(try symbols(built))
        try jit.add(ir)
    }
    return (built, code)
}
