// The one place where names become C: the symbol prefix, the parameter names and macro names of
// the header, and the checks that they compile and do not collide. TIR names may hold `.` and
// start with a digit; C names may not, so `cIdentifier` maps them (`%h0.ln1` -> `h0_ln1`, `%0` ->
// `m_0`). A buffer whose C name would not compile, would mean something else, or would be shared
// with another buffer is refused with a located error (not renamed: a renamed parameter would no
// longer say which TIR value it is).
import LLVMBridge
import TIR

/// A C identifier made from a TIR name: every character other than an ASCII letter or digit
/// becomes `_`, and a name that is empty or starts with a digit gets `m_` in front
/// (`gpt-tiny.v2` -> `gpt_tiny_v2`).
public func cIdentifier(_ name: String) -> String {
    var s = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    if s.isEmpty || s.first!.isNumber { s = "m_" + s }
    return s
}

/// The C spelling of a compiled model's names: its symbol prefix, the header's macros, and each
/// buffer's parameter name.
struct CNames {
    let prefix: String
    /// The prefix of every macro: the symbol prefix in capitals.
    var macroPrefix: String { prefix.uppercased() }
    /// The include guard, from the symbol prefix (two headers of one model share symbols anyway;
    /// two models never share a guard, whatever their files are called).
    var includeGuard: String { "TFC_\(macroPrefix)_H_INCLUDED" }

    func parameter(_ buffer: String) -> String { cIdentifier(buffer) }
    func countMacro(_ buffer: String) -> String { "\(macroPrefix)_\(cIdentifier(buffer).uppercased())_COUNT" }
    func limitMacro(_ buffer: String) -> String { "\(macroPrefix)_\(cIdentifier(buffer).uppercased())_LIMIT" }
    func statusMacro(_ status: Status) -> String { "\(macroPrefix)_\(status.cName)" }
    var maxSeqLenMacro: String { "\(macroPrefix)_MAX_SEQ_LEN" }
    var workspaceSizeMacro: String { "\(macroPrefix)_WORKSPACE_SIZE" }
    var workspaceAlignmentMacro: String { "\(macroPrefix)_WORKSPACE_ALIGNMENT" }
    var maxContextMacro: String { "\(macroPrefix)_MAX_CONTEXT" }
    var cacheSizeMacro: String { "\(macroPrefix)_CACHE_SIZE" }
    var cacheAlignmentMacro: String { "\(macroPrefix)_CACHE_ALIGNMENT" }
    var weightsSizeMacro: String { "\(macroPrefix)_WEIGHTS_SIZE" }
    var weightsAlignmentMacro: String { "\(macroPrefix)_WEIGHTS_ALIGNMENT" }

    /// Every macro the header defines for `entry`.
    func macros(_ entry: EntryPoint) -> Set<String> {
        var all: Set<String> = [includeGuard, maxSeqLenMacro, workspaceSizeMacro, workspaceAlignmentMacro,
                                maxContextMacro, cacheSizeMacro, cacheAlignmentMacro, weightsSizeMacro,
                                weightsAlignmentMacro]
        all.formUnion(Status.all.map(statusMacro))
        for b in entry.inputs + entry.outputs { all.formUnion([countMacro(b.name), limitMacro(b.name)]) }
        return all
    }

    /// The header's own parameter names besides the buffers.
    static let headerParameters: Set<String> = ["seq_len", "workspace", "threads", "n", "cache", "length"]

    /// Keywords of C11 (and C23), of C++ (the header is also C++), and GNU C's: a parameter
    /// cannot be named by one.
    static let keywords: Set<String> = [
        // C11
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
        "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
        "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
        "_Static_assert", "_Thread_local",
        // C23, and GNU C
        "alignas", "alignof", "bool", "constexpr", "false", "nullptr", "static_assert", "thread_local", "true",
        "typeof", "typeof_unqual", "asm",
        // C++20
        "and", "and_eq", "bitand", "bitor", "catch", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
        "consteval", "constinit", "const_cast", "co_await", "co_return", "co_yield", "decltype", "delete",
        "dynamic_cast", "explicit", "export", "friend", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
        "operator", "or", "or_eq", "private", "protected", "public", "reinterpret_cast", "requires", "static_cast",
        "template", "this", "throw", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq",
    ]

    /// Why `identifier` cannot name a parameter of the header, or nil when it can.
    func problem(with identifier: String, macros: Set<String>) -> String? {
        if Self.keywords.contains(identifier) { return "'\(identifier)' is a C or C++ keyword" }
        if Self.headerParameters.contains(identifier) { return "'\(identifier)' is a parameter of the entry points" }
        if identifier.hasPrefix("_") || identifier.contains("__") {
            return "'\(identifier)' is reserved (C reserves names starting with '_' and a capital or '__', C++ any name "
                + "with '__', and its macro \(countMacro(identifier)) would hold one)"
        }
        // <stddef.h> and <stdint.h>, which the header includes: their types (and POSIX's) end in
        // `_t`, their macros are NULL, offsetof and capitals ending in _MIN, _MAX, _C or _WIDTH.
        if identifier.hasSuffix("_t") { return "'\(identifier)' is reserved for types (names ending in '_t')" }
        let capitals = identifier.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" }
        if identifier == "NULL" || identifier == "offsetof"
            || (capitals && ["_MIN", "_MAX", "_C", "_WIDTH"].contains(where: { identifier.hasSuffix($0) })) {
            return "'\(identifier)' is a macro of <stddef.h> or <stdint.h>"
        }
        if macros.contains(identifier) { return "'\(identifier)' is a macro of the header" }
        return nil
    }

    /// Checks that every buffer of `model` has a C name that compiles and is its own, and that the
    /// prefix makes valid, unreserved symbols. Every problem is a diagnostic at the value's
    /// declaration in `file` (the `.tir` the model came from, or `@name` when unknown).
    static func check(_ model: Module, entry: EntryPoint, file: String?) throws {
        let names = CNames(prefix: entry.prefix)
        let file = file ?? "@\(model.name)"
        var problems: [Diagnostic] = []
        if entry.prefix.hasPrefix("_") || entry.prefix.contains("__") {
            problems.append(Diagnostic(file: file, loc: nil,
                                       "the C symbol prefix '\(entry.prefix)' is reserved (it starts with '_' or holds '__'); "
                                       + "choose another with --name"))
        }
        let macros = names.macros(entry)
        var buffers: [(kind: String, name: String, loc: SourceLoc)] = model.inputs.map { ("input", $0.name, $0.loc) }
        for output in entry.outputs {
            let loc = model.outputs.first { $0.name == output.name }?.loc ?? .unknown
            if !model.inputs.contains(where: { $0.name == output.name }) { buffers.append(("output", output.name, loc)) }
        }
        var firstByName: [String: (kind: String, name: String, loc: SourceLoc)] = [:]
        for buffer in buffers {
            let c = names.parameter(buffer.name)
            if let why = names.problem(with: c, macros: macros) {
                problems.append(Diagnostic(file: file, loc: buffer.loc,
                                           "\(buffer.kind) %\(buffer.name) cannot be a parameter of the C header: \(why); rename the value"))
            }
            // Parameters must differ, and so must their macros (in capitals).
            let key = c.uppercased()
            if let first = firstByName[key] {
                let clash = names.parameter(first.name) == c ? "the C name '\(c)'" : "the macro \(names.countMacro(c))"
                problems.append(Diagnostic(file: file, loc: buffer.loc,
                                           "\(buffer.kind) %\(buffer.name) and \(first.kind) %\(first.name) both become \(clash) in the C header; rename one",
                                           notes: [Diagnostic(.note, file: file, loc: first.loc, "%\(first.name) is declared here")]))
            } else {
                firstByName[key] = buffer
            }
        }
        if !problems.isEmpty { throw DiagnosticList(problems) }
    }
}

/// Text for inside a C comment: a `*/` in a name or path would end it.
func cCommentText(_ text: String) -> String {
    text.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "\n", with: " ")
}
