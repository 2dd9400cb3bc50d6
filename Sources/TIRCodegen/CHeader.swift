// The C header that documents and declares a compiled model's entry point.
import LLVMBridge
import TIR

/// `extendRefusal`: why the model has no extend entry points, said in the header (nil when it has them).
func cHeader(for entry: EntryPoint, model: Module, fileName: String, targets: [TargetSpec], extendRefusal: String? = nil) -> String {
    let p = entry.prefix
    let names = CNames(prefix: p)
    let guardName = names.includeGuard
    let hasSeq = entry.seq != nil

    func cType(_ t: TensorType) -> String { t.dtype.cType }
    func dimsText(_ t: TensorType) -> String {
        t.dims.map { $0 == .seq ? "[seq_len]" : "[\($0)]" }.joined()
    }
    func countMacro(_ name: String, _ t: TensorType) -> String {
        let fixed = t.dims.compactMap(\.fixedValue).reduce(1, *)
        let macro = names.countMacro(name)
        if t.isDynamic { return "#define \(macro)(seq_len) ((size_t)(seq_len) * \(fixed))" }
        return "#define \(macro) \(fixed)"
    }
    func vocabulary(of input: EntryBuffer) -> Int? { model.vocabulary(of: input.name) }

    var lines: [String] = []
    let built = targets.map { cCommentText($0.description) }.joined(separator: targets.count > 2 ? ", " : " and ")
    lines.append("/* \(cCommentText(fileName)): C interface of the model @\(cCommentText(model.name)), compiled by tfc for \(built).")
    lines.append(" *")
    lines.append(" * Link: cc app.c \(p).o -lm -lpthread")
    lines.append(" * The functions keep no state between calls (but for one flag caching the CPU check below) and")
    lines.append(" * allocate nothing on the heap: they are safe to call from several threads at once, each with")
    lines.append(" * its own workspace and output buffers.")
    lines.append(" * A call may run on several threads, all joined before it returns.")
    if let file = entry.weightsFile {
        lines.append(" * The weights are not in the object: they are in the weights file written with it (\(formatBytes(file.bytes))),")
        lines.append(" * which the program maps and hands to \(entry.setWeightsSymbol) (below) before any other call.")
        lines.append(" * All arrays are row-major. */")
    } else {
        lines.append(" * Weights are embedded in the object. All arrays are row-major. */")
    }
    lines.append("#ifndef \(guardName)")
    lines.append("#define \(guardName)")
    lines.append("")
    lines.append("#include <stddef.h>")
    lines.append("#include <stdint.h>")
    lines.append("")
    lines.append("#ifdef __cplusplus")
    lines.append("extern \"C\" {")
    lines.append("#endif")
    lines.append("")
    lines.append("/* Status codes returned by \(entry.forwardSymbol) and \(entry.threadsSymbol).")
    lines.append(" * On an error nothing is written. */")
    for s in Status.all {
        lines.append("#define \(names.statusMacro(s)) \(s.rawValue) /* \(s.meaning) */")
    }
    lines.append("")
    if entry.variants.count > 1 {
        lines.append("/* The object holds code for \(entry.variants.count) CPUs, in the order of preference:")
        for v in entry.variants {
            lines.append(" *   \(cCommentText(v.cpu)): uses \(v.features.isEmpty ? "the baseline only" : v.features.joined(separator: ", "))")
        }
        lines.append(" * The first call runs the first of them whose extensions this CPU (and operating system) has,")
        lines.append(" * found with CPUID and kept in a process-wide flag; with none, every call returns")
        lines.append(" * \(names.statusMacro(.unsupportedCPU)) and does nothing. \(entry.cpuSymbol)() names the one chosen. */")
        lines.append("")
    } else if !entry.cpuFeatures.isEmpty {
        lines.append("/* The code was compiled for CPU \(cCommentText(entry.cpu)) and uses: \(entry.cpuFeatures.joined(separator: ", ")).")
        lines.append(" * On a CPU (or operating system) without one of them, every call returns")
        lines.append(" * \(names.statusMacro(.unsupportedCPU)) and does nothing; the first call finds out with CPUID and keeps")
        lines.append(" * the answer in a process-wide flag. */")
        lines.append("")
    }
    if let seq = entry.seq {
        lines.append("/* Largest sequence length accepted (seq_len must be in 1...\(seq.max)). */")
        lines.append("#define \(names.maxSeqLenMacro) \(seq.max)")
    }
    lines.append("/* Bytes of workspace the caller provides (any sequence length), aligned to 64 bytes. */")
    lines.append("#define \(names.workspaceSizeMacro) \(entry.workspaceBytes)")
    lines.append("/* The workspace's address must be a multiple of this (\(names.statusMacro(.badAlignment)) otherwise). */")
    lines.append("#define \(names.workspaceAlignmentMacro) \(workspaceAlignment)")
    lines.append("")
    if let file = entry.weightsFile {
        lines += weightsFileDeclarations(entry, file: file, names: names)
    }
    lines.append("/* Element counts of the inputs and outputs. */")
    for t in entry.inputs + entry.outputs { lines.append(countMacro(t.name, t.type)) }
    for input in entry.inputs {
        if let v = vocabulary(of: input) {
            lines.append("#define \(names.limitMacro(input.name)) \(v) /* ids must be in [0, \(v)) */")
        }
    }
    lines.append("")
    lines.append("/* Runs the model on one thread per online core.")
    for input in entry.inputs {
        var note = ""
        if let v = vocabulary(of: input) { note = ", ids in [0, \(v))" }
        lines.append(" *   \(names.parameter(input.name)): input, \(cType(input.type))\(dimsText(input.type))\(note)")
    }
    if hasSeq { lines.append(" *   seq_len: the number of positions, 1...\(names.maxSeqLenMacro)") }
    for output in entry.outputs {
        lines.append(" *   \(names.parameter(output.name)): output, \(cType(output.type))\(dimsText(output.type))")
    }
    lines.append(" *   workspace: \(names.workspaceSizeMacro) bytes owned by the caller, at an address that is a multiple of")
    lines.append(" *     \(names.workspaceAlignmentMacro) (e.g. from aligned_alloc; plain malloc gives 16): otherwise the call")
    lines.append(" *     returns \(names.statusMacro(.badAlignment))")
    lines.append(" * Returns \(names.statusMacro(.ok)), or an error status without touching the outputs. */")
    var params: [String] = entry.inputs.map { "const \(cType($0.type)) *\(names.parameter($0.name))" }
    if hasSeq { params.append("int64_t seq_len") }
    params += entry.outputs.map { "\(cType($0.type)) *\(names.parameter($0.name))" }
    params.append("void *workspace")
    lines.append("int32_t \(entry.forwardSymbol)(\(params.joined(separator: ", ")));")
    lines.append("")
    lines.append("/* The same, on at most `threads` threads (0: one per online core; at most 64). */")
    lines.append("int32_t \(entry.threadsSymbol)(\((params + ["int32_t threads"]).joined(separator: ", ")));")
    lines.append("")
    if entry.hasExtend {
        lines += extendDeclarations(entry, names: names, params: params)
    } else if let extendRefusal {
        lines.append("/* No extend entry points (generation with a key/value cache): \(cCommentText(extendRefusal)). */")
        lines.append("")
    }
    lines.append("/* The CPU whose code the calls run on this machine (\(entry.variants.count > 1 ? "one of those above" : cCommentText(entry.cpu))), or NULL when")
    lines.append(" * they return \(names.statusMacro(.unsupportedCPU)). */")
    lines.append("const char *\(entry.cpuSymbol)(void);")
    lines.append("")
    lines.append("#ifdef __cplusplus")
    lines.append("}")
    lines.append("#endif")
    lines.append("#endif /* \(guardName) */")
    return lines.joined(separator: "\n") + "\n"
}

/// `<prefix>_set_weights` and the weights file's size, documented (an object compiled with a
/// weights file).
private func weightsFileDeclarations(_ entry: EntryPoint, file: WeightsFileInfo, names: CNames) -> [String] {
    let status = names.statusMacro
    return [
        "/* The weights file's size in bytes, and the alignment its address in memory needs (mmap gives a page's). */",
        "#define \(names.weightsSizeMacro) \(file.bytes)ull",
        "#define \(names.weightsAlignmentMacro) \(WeightsFile.alignment)",
        "",
        "/* Makes the model read its weights at `weights`: the whole weights file written with this object, e.g.",
        " *   int fd = open(\"model.weights\", O_RDONLY);",
        " *   void *w = mmap(NULL, \(names.weightsSizeMacro), PROT_READ, MAP_PRIVATE, fd, 0);",
        " *   \(entry.setWeightsSymbol)(w, \(names.weightsSizeMacro));",
        " * Call it once, before any other call; the memory must stay readable and unchanged while the",
        " * model is used. Until it succeeds every call returns \(status(.badWeights)). The file's header names",
        " * the compile that wrote it: a file of another compile (or another size) is refused with",
        " * \(status(.badWeights)), and the weights set before are kept. Returns \(status(.ok)), \(status(.nullPointer)),",
        " * \(status(.badAlignment)) or \(status(.badWeights)). */",
        "int32_t \(entry.setWeightsSymbol)(const void *weights, uint64_t size);",
        "",
    ]
}

/// The extend entry points and their cache functions, documented.
private func extendDeclarations(_ entry: EntryPoint, names: CNames, params: [String]) -> [String] {
    let inputs = params.prefix(entry.inputs.count)
    let outputs = params.dropFirst(entry.inputs.count + (entry.seq != nil ? 1 : 0)).dropLast()
    let ok = names.statusMacro(.ok)
    var lines: [String] = []
    lines.append("/* Generation: a key/value cache, and calls that append positions to it.")
    lines.append(" * A cache is \(names.cacheSizeMacro) bytes owned by the caller, at an address that is a multiple of")
    lines.append(" * \(names.cacheAlignmentMacro), made empty by \(entry.cacheInitSymbol) before its first use. It holds up to")
    lines.append(" * \(names.maxContextMacro) positions: each attention's keys and values, and how many positions it holds.")
    lines.append(" * Caches are independent: calls on different caches (each with its own workspace) may run at once.")
    lines.append(" * A copy of a cache's bytes is a cache too (to fork a conversation); a cache is only meaningful to")
    lines.append(" * the object (and CPU) that initialized it: any other gives \(names.statusMacro(.badCache)). */")
    lines.append("#define \(names.maxContextMacro) \(entry.maxContext ?? 0)")
    lines.append("#define \(names.cacheSizeMacro) \(entry.cacheBytes)")
    lines.append("#define \(names.cacheAlignmentMacro) \(ExtendPlan.alignment)")
    lines.append("")
    lines.append("/* Makes `cache` empty. Returns \(ok), or \(names.statusMacro(.nullPointer)), \(names.statusMacro(.badAlignment)), \(names.statusMacro(.unsupportedCPU)). */")
    lines.append("int32_t \(entry.cacheInitSymbol)(void *cache);")
    lines.append("")
    lines.append("/* The number of positions in `cache`, or -1 if it is not a valid cache of this model. */")
    lines.append("int64_t \(entry.cacheLengthSymbol)(const void *cache);")
    lines.append("")
    lines.append("/* Keeps the first `length` positions of `cache` (0 <= length <= its length, \(names.statusMacro(.badSequenceLength))")
    lines.append(" * otherwise): to drop rejected speculated tokens, or to go back in a conversation. */")
    lines.append("int32_t \(entry.cacheTruncateSymbol)(void *cache, int64_t length);")
    lines.append("")
    lines.append("/* Appends n positions (a prompt, or the next token, or a few) to `cache` and writes the outputs of")
    lines.append(" * the last of them only: every output holds one row (e.g. the next token's logits). The inputs")
    lines.append(" * hold n rows. n is 1...\(names.maxContextMacro) - \(entry.cacheLengthSymbol)(cache): a call that does not")
    lines.append(" * fit returns \(names.statusMacro(.cacheFull)). The workspace is the forward's (\(names.workspaceSizeMacro) bytes).")
    lines.append(" * threads: at most this many threads (0: one per online core). Returns \(ok); on any error")
    lines.append(" * nothing is written, the cache included. */")
    let signature = inputs + ["int64_t n", "void *cache"] + outputs + ["void *workspace", "int32_t threads"]
    lines.append("int32_t \(entry.extendSymbol)(\(signature.joined(separator: ", ")));")
    lines.append("")
    lines.append("/* The same, writing the outputs of all n new positions (n rows each). */")
    lines.append("int32_t \(entry.extendAllSymbol)(\(signature.joined(separator: ", ")));")
    lines.append("")
    return lines
}

extension DType {
    /// How C spells a buffer of this element type (bf16 as its raw bits).
    var cType: String {
        switch self {
        case .f32: return "float"
        case .bf16: return "uint16_t"
        case .i32: return "int32_t"
        }
    }
}
