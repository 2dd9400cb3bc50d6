// The `.tir` parser: tokens to a `Module`, with every syntax error reported at its token.
//
// It pulls tokens from the lexer as it goes and keeps at most two (the current one and, at a
// '}', the one after), so the memory a file costs is its text plus what is kept from it.
//
// One file of about 520 lines on purpose: the item loop, its error recovery and the per-item
// parsers read top to bottom as the grammar in Docs/tir-language.md does.
//
// The parser is a loop over items (no recursion), so input size cannot exhaust the stack.
// After an error it skips to the next line that starts an item and goes on, so one run
// reports all independent syntax errors. It also canonicalizes attributes (OpInfo order,
// defaults filled in) and checks them, since only it knows where each one was written;
// everything else about meaning is left to `verifyModule`.

/// Parses a whole `.tir` file. `file` names the source in diagnostics.
/// Throws every syntax error found, sorted by position.
public func parseModule(_ source: String, file: String) throws(DiagnosticList) -> Module {
    var parser = TIRParser(source: source, file: file)
    return try parser.parseFile()
}

/// Parses and then verifies: the module is returned only when it is valid.
public func parseAndVerifyModule(_ source: String, file: String) throws(DiagnosticList) -> Module {
    let module = try parseModule(source, file: file)
    let problems = verifyModule(module, file: file)
    if !problems.isEmpty { throw DiagnosticList(problems) }
    return module
}

/// Thrown inside the parser once an error has been recorded, to abandon the current item.
private struct SyntaxError: Error {}

private struct TIRParser {
    private let file: String
    private var lexer: TIRLexer
    /// The current token, not yet consumed.
    private var peek: Token
    /// The token after `peek`, once `isFinalBrace` has looked at it.
    private var following: Token?
    /// How many tokens have been consumed: how error recovery sees that an item made progress.
    private var consumed = 0
    /// Lexical and syntax errors as found; the first `DiagnosticList.limit` are kept.
    private var diagnostics = DiagnosticSink()
    private var module = Module(name: "")
    private var weightsDeclared = false
    /// Every dimension written as a word; checked against the `seq` declaration at the end,
    /// because items may come in any order.
    private var seqUses: [(symbol: String, loc: SourceLoc)] = []

    init(source: String, file: String) {
        self.file = file
        lexer = TIRLexer(source, file: file)
        peek = lexer.next(reporting: &diagnostics)
    }

    // MARK: Token access

    /// Consumes the current token and returns it; at the end of the file it stays at `.eof`.
    private mutating func advance() -> Token {
        let t = peek
        guard t.kind != .eof else { return t }
        peek = following ?? lexer.next(reporting: &diagnostics)
        following = nil
        consumed += 1
        return t
    }

    /// Records "expected X, found Y" at the current token and abandons the item. A token the
    /// lexer already reported gets no second message.
    private mutating func fail(expected what: String) -> SyntaxError {
        if peek.kind != .invalid {
            error(at: peek.loc, "expected \(what), found \(peek.description)")
        }
        return SyntaxError()
    }

    private mutating func error(at loc: SourceLoc, _ message: String, notes: [Diagnostic] = []) {
        diagnostics.append(Diagnostic(file: file, loc: loc, message, notes: notes))
    }

    private func note(at loc: SourceLoc, _ message: String) -> Diagnostic {
        Diagnostic(.note, file: file, loc: loc, message)
    }

    private mutating func expect(_ kind: TokenKind, _ what: String) throws(SyntaxError) {
        guard peek.kind == kind else { throw fail(expected: what) }
        _ = advance()
    }

    private mutating func expectWord(_ w: String) throws(SyntaxError) {
        try expect(.word(w), "'\(w)'")
    }

    // MARK: File and items

    mutating func parseFile() throws(DiagnosticList) -> Module {
        guard let open = try? parseHeader() else {
            // Nothing more to parse, but the rest of the text may hold lexical errors.
            try skipToEnd()
            throw errorList()
        }
        while peek.kind != .rbrace && peek.kind != .eof {
            // A file that is mostly errors gets its first screenful, not millions of lines.
            if isFull { throw errorList(stoppedEarly: true) }
            let itemStart = consumed
            do {
                try parseItem()
            } catch {
                skipToNextLine(from: itemStart)
            }
        }
        if peek.kind == .eof {
            error(at: peek.loc, "expected '}' at end of model @\(module.name)",
                  notes: [note(at: open, "to match this '{'")])
        } else {
            _ = advance()
            if peek.kind != .eof && peek.kind != .invalid {
                error(at: peek.loc, "unexpected \(peek.description) after the end of the model")
            }
            try skipToEnd()
        }
        checkSeqUses()
        if !diagnostics.isEmpty { throw errorList() }
        return module
    }

    /// Whether the diagnostics kept are at the limit: reading then stops at the next item.
    private var isFull: Bool { diagnostics.kept.count >= DiagnosticList.limit }

    /// Lexes the rest of the file for its lexical errors, stopping once the limit is reached.
    private mutating func skipToEnd() throws(DiagnosticList) {
        while peek.kind != .eof {
            if isFull { throw errorList(stoppedEarly: true) }
            _ = advance()
        }
    }

    /// `stoppedEarly`: reading stopped at the limit, so the rest of the file was not read.
    private func errorList(stoppedEarly: Bool = false) -> DiagnosticList {
        DiagnosticList(sortedDiagnostics(), omitted: diagnostics.omitted, stoppedEarly: stoppedEarly)
    }

    /// `model @name {`; returns where the brace is.
    private mutating func parseHeader() throws(SyntaxError) -> SourceLoc {
        try expectWord("model")
        guard case .paramName(let name) = peek.kind else { throw fail(expected: "a model name such as '@gpt'") }
        _ = advance()
        module.name = name
        let open = peek.loc
        try expect(.lbrace, "'{' after the model name")
        return open
    }

    /// Error recovery: drop the rest of the broken item, up to the next token that begins a
    /// line, or the model's closing brace when it is the last token (one-line models).
    /// Always moves forward at least one token.
    private mutating func skipToNextLine(from itemStart: Int) {
        if consumed == itemStart { _ = advance() }
        while peek.kind != .eof && !peek.startsLine && !isFinalBrace() { _ = advance() }
    }

    /// Whether the current token is a '}' that ends the file; looks one token ahead.
    private mutating func isFinalBrace() -> Bool {
        guard peek.kind == .rbrace else { return false }
        if following == nil { following = lexer.next(reporting: &diagnostics) }
        return following?.kind == .eof
    }

    private mutating func parseItem() throws(SyntaxError) {
        switch peek.kind {
        case .word("seq"): try parseSeq()
        case .word("weights"): try parseWeights()
        case .word("tokenizer"): try parseTokenizer()
        case .word("input"): try parseInput()
        case .word("param"): try parseParam()
        case .word("output"): try parseOutput()
        case .valueName: try parseInstruction()
        default:
            throw fail(expected: "'seq', 'weights', 'tokenizer', 'input', 'param', 'output' or a statement '%name = op(...)'")
        }
    }

    /// `seq T <= 64`
    private mutating func parseSeq() throws(SyntaxError) {
        let keyword = advance()
        guard case .word(let symbol) = peek.kind else { throw fail(expected: "a sequence length symbol such as 'T'") }
        _ = advance()
        try expect(.lessEqual, "'<=' after the sequence symbol")
        let max = try parseInt("the maximum sequence length")
        if let previous = module.seq {
            error(at: keyword.loc, "duplicate 'seq' declaration; a model has one sequence length",
                  notes: [note(at: previous.loc, "previous declaration is here")])
            return
        }
        module.seq = SeqDecl(symbol: symbol, max: max, loc: keyword.loc)
    }

    /// `weights "file.safetensors"` or `weights random(seed = 7[, std = 0.02])`
    private mutating func parseWeights() throws(SyntaxError) {
        let keyword = advance()
        let source: WeightSource
        switch peek.kind {
        case .string(let path):
            _ = advance()
            source = .file(path)
        case .word("random"):
            _ = advance()
            try expect(.lparen, "'(' after 'random'")
            try expectWord("seed")
            try expect(.equal, "'=' after 'seed'")
            let seedToken = peek
            guard case .int(let text) = seedToken.kind else { throw fail(expected: "an integer seed") }
            guard let seed = UInt64(text) else {
                error(at: seedToken.loc, "seed must be an integer from 0 to \(UInt64.max), got \(text)")
                throw SyntaxError()
            }
            _ = advance()
            var std = 0.02
            if peek.kind == .comma {
                _ = advance()
                try expectWord("std")
                try expect(.equal, "'=' after 'std'")
                std = try parseNumber("a standard deviation")
            }
            try expect(.rparen, "')' to close 'random('")
            source = .random(seed: seed, std: std)
        default:
            throw fail(expected: "a weights file name in quotes or 'random(seed = N)'")
        }
        if weightsDeclared {
            error(at: keyword.loc, "duplicate 'weights' declaration",
                  notes: [note(at: module.weightsLoc, "previous declaration is here")])
            return
        }
        weightsDeclared = true
        module.weights = source
        module.weightsLoc = keyword.loc
    }

    /// `tokenizer "folder"`
    private mutating func parseTokenizer() throws(SyntaxError) {
        let keyword = advance()
        guard case .string(let path) = peek.kind else { throw fail(expected: "the tokenizer's folder in quotes") }
        _ = advance()
        if module.tokenizer != nil {
            error(at: keyword.loc, "duplicate 'tokenizer' declaration",
                  notes: [note(at: module.tokenizerLoc, "previous declaration is here")])
            return
        }
        module.tokenizer = path
        module.tokenizerLoc = keyword.loc
    }

    /// `input %tokens : i32[T]`
    private mutating func parseInput() throws(SyntaxError) {
        _ = advance()
        let nameToken = peek
        guard case .valueName(let name) = nameToken.kind else { throw fail(expected: "an input name such as '%tokens'") }
        _ = advance()
        try expect(.colon, "':' before the input's type")
        let (type, _) = try parseType()
        module.inputs.append(Input(name: name, type: type, loc: nameToken.loc))
    }

    /// `param @w : f32[64, 64] [= init]`
    private mutating func parseParam() throws(SyntaxError) {
        _ = advance()
        let nameToken = peek
        guard case .paramName(let name) = nameToken.kind else { throw fail(expected: "a parameter name such as '@w'") }
        _ = advance()
        try expect(.colon, "':' before the parameter's type")
        let (type, _) = try parseType()
        var initializer = ParamInit.default
        if peek.kind == .equal {
            _ = advance()
            initializer = try parseInit()
        }
        module.params.append(Param(name: name, type: type, initializer: initializer, loc: nameToken.loc))
    }

    private mutating func parseInit() throws(SyntaxError) -> ParamInit {
        let what = "an initializer: zeros, ones, normal(mean, std), uniform(low, high) or tensor(\"name\"[, rows = blocks(...)])"
        guard case .word(let w) = peek.kind else { throw fail(expected: what) }
        switch w {
        case "zeros":
            _ = advance()
            return .zeros
        case "ones":
            _ = advance()
            return .ones
        case "normal", "uniform":
            _ = advance()
            try expect(.lparen, "'(' after '\(w)'")
            let a = try parseNumber(w == "normal" ? "the mean" : "the lower bound")
            try expect(.comma, "','")
            let b = try parseNumber(w == "normal" ? "the standard deviation" : "the upper bound")
            try expect(.rparen, "')' to close '\(w)('")
            return w == "normal" ? .normal(mean: a, std: b) : .uniform(low: a, high: b)
        case "tensor":
            _ = advance()
            try expect(.lparen, "'(' after 'tensor'")
            guard case .string(let name) = peek.kind else { throw fail(expected: "a tensor name in quotes") }
            _ = advance()
            var rows: RowBlocks?
            if peek.kind == .comma {
                _ = advance()
                rows = try parseRowBlocks()
            }
            try expect(.rparen, "')' to close 'tensor('")
            return rows.map { .tensorRows(name, $0) } ?? .tensor(name)
        default:
            throw fail(expected: what)
        }
    }

    /// `rows = blocks(start = 0, size = 16, stride = 48)`, keys in that order.
    private mutating func parseRowBlocks() throws(SyntaxError) -> RowBlocks {
        try expectWord("rows")
        try expect(.equal, "'=' after 'rows'")
        try expectWord("blocks")
        try expect(.lparen, "'(' after 'blocks'")
        var values: [Int] = []
        for key in ["start", "size", "stride"] {
            if !values.isEmpty { try expect(.comma, "',' before '\(key)'") }
            try expectWord(key)
            try expect(.equal, "'=' after '\(key)'")
            values.append(try parseInt("an integer \(key)"))
        }
        try expect(.rparen, "')' to close 'blocks('")
        return RowBlocks(start: values[0], size: values[1], stride: values[2])
    }

    /// `output %a, %b`
    private mutating func parseOutput() throws(SyntaxError) {
        _ = advance()
        while true {
            let t = peek
            guard case .valueName(let name) = t.kind else { throw fail(expected: "an output value such as '%logits'") }
            _ = advance()
            module.outputs.append(OutputRef(name: name, loc: t.loc))
            guard peek.kind == .comma else { return }
            _ = advance()
        }
    }

    /// `%r = op(%a, @w) {key = value} : f32[T, 64]`
    private mutating func parseInstruction() throws(SyntaxError) {
        let resultToken = advance()
        guard case .valueName(let result) = resultToken.kind else { throw SyntaxError() }
        try expect(.equal, "'=' after '%\(result)'")
        let opToken = peek
        guard case .word(let opName) = opToken.kind else { throw fail(expected: "an op name") }
        guard let op = OpKind(rawValue: opName) else {
            error(at: opToken.loc, "unknown op '\(opName)'")
            throw SyntaxError()
        }
        _ = advance()

        try expect(.lparen, "'(' after '\(opName)'")
        var operands: [Operand] = []
        var operandLocs: [SourceLoc] = []
        if peek.kind == .rparen {
            _ = advance()
        } else {
            while true {
                switch peek.kind {
                case .valueName(let n): operands.append(.value(n))
                case .paramName(let n): operands.append(.param(n))
                default: throw fail(expected: "an operand ('%value' or '@param')")
                }
                operandLocs.append(advance().loc)
                if peek.kind == .rparen {
                    _ = advance()
                    break
                }
                guard peek.kind == .comma else { throw fail(expected: "',' or ')' in the operand list") }
                _ = advance()
            }
        }

        var written: [WrittenAttr] = []
        if peek.kind == .lbrace {
            _ = advance()
            if peek.kind == .rbrace {
                _ = advance()
            } else {
                while true {
                    written.append(try parseAttr())
                    if peek.kind == .rbrace {
                        _ = advance()
                        break
                    }
                    guard peek.kind == .comma else { throw fail(expected: "',' or '}' in the attribute list") }
                    _ = advance()
                }
            }
        }

        try expect(.colon, "':' before the result type")
        let (type, typeLoc) = try parseType()
        let attrs = canonicalAttrs(op: op, written: written, opLoc: opToken.loc)
        var instruction = Instruction(result: result, op: op, operands: operands, attrs: attrs,
                                      type: type, loc: resultToken.loc)
        instruction.operandLocs = operandLocs
        instruction.typeLoc = typeLoc
        module.body.append(instruction)
    }

    // MARK: Attributes

    private struct WrittenAttr {
        var key: String
        var value: AttrValue
        var keyLoc: SourceLoc
        var valueLoc: SourceLoc
        /// The literal as written, for messages.
        var text: String
    }

    private mutating func parseAttr() throws(SyntaxError) -> WrittenAttr {
        let keyToken = peek
        guard case .word(let key) = keyToken.kind else { throw fail(expected: "an attribute name") }
        _ = advance()
        try expect(.equal, "'=' after '\(key)'")
        let valueToken = peek
        let value: AttrValue
        let text: String
        switch valueToken.kind {
        case .int(let t):
            value = .int(try convertInt(t, at: valueToken.loc))
            text = t
        case .float(let t):
            value = .float(try convertDouble(t, at: valueToken.loc))
            text = t
        case .word(let w):
            value = w == "true" ? .bool(true) : w == "false" ? .bool(false) : .word(w)
            text = w
        default:
            throw fail(expected: "an attribute value (a number, true, false or a word)")
        }
        _ = advance()
        return WrittenAttr(key: key, value: value, keyLoc: keyToken.loc, valueLoc: valueToken.loc, text: text)
    }

    /// The attributes in OpInfo order with defaults filled in. Unknown, repeated, ill-typed
    /// and missing required attributes are reported here, where their positions are known.
    private mutating func canonicalAttrs(op: OpKind, written: [WrittenAttr],
                                         opLoc: SourceLoc) -> [(key: String, value: AttrValue)] {
        let specs = OpInfo.of(op).attrs
        var given: [String: AttrValue] = [:]
        var firstSeen: [String: SourceLoc] = [:]
        for attr in written {
            if let first = firstSeen[attr.key] {
                error(at: attr.keyLoc, "duplicate attribute '\(attr.key)'",
                      notes: [note(at: first, "first given here")])
                continue
            }
            firstSeen[attr.key] = attr.keyLoc
            guard let spec = specs.first(where: { $0.key == attr.key }) else {
                let known = specs.map(\.key).joined(separator: ", ")
                error(at: attr.keyLoc, "unknown attribute '\(attr.key)' for '\(op.rawValue)'"
                      + (known.isEmpty ? ", which takes no attributes" : "; expected \(known)"))
                continue
            }
            if let value = coerce(attr.value, to: spec.kind) {
                given[attr.key] = value
            } else {
                error(at: attr.valueLoc, "attribute '\(attr.key)' of '\(op.rawValue)' must be "
                      + attrKindDescription(spec.kind) + ", got '\(attr.text)'")
            }
        }
        var attrs: [(key: String, value: AttrValue)] = []
        for spec in specs {
            if let value = given[spec.key] ?? spec.defaultValue {
                attrs.append((spec.key, value))
            } else if firstSeen[spec.key] == nil {
                error(at: opLoc, "'\(op.rawValue)' requires attribute '\(spec.key)'")
            }
        }
        return attrs
    }

    // MARK: Types and literals

    /// `f32[T, 64]`; also returns where the type starts.
    private mutating func parseType() throws(SyntaxError) -> (TensorType, SourceLoc) {
        let start = peek
        guard case .word(let name) = start.kind, let dtype = DType(rawValue: name) else {
            throw fail(expected: "a type such as 'f32[T, 64]'")
        }
        _ = advance()
        try expect(.lbracket, "'[' after '\(name)'")
        var dims: [Dim] = []
        while true {
            let t = peek
            switch t.kind {
            case .int(let text):
                let n = try convertInt(text, at: t.loc)
                guard n > 0 else {
                    error(at: t.loc, "dimension must be positive, got \(n)")
                    throw SyntaxError()
                }
                dims.append(.fixed(n))
            case .word(let symbol):
                seqUses.append((symbol, t.loc))
                dims.append(.seq)
            default:
                throw fail(expected: "a dimension (a positive integer or the sequence symbol)")
            }
            _ = advance()
            if peek.kind == .rbracket {
                _ = advance()
                return (TensorType(dtype, dims), start.loc)
            }
            guard peek.kind == .comma else { throw fail(expected: "',' or ']' in the type") }
            _ = advance()
        }
    }

    private mutating func parseInt(_ what: String) throws(SyntaxError) -> Int {
        let t = peek
        guard case .int(let text) = t.kind else { throw fail(expected: what) }
        let value = try convertInt(text, at: t.loc)
        _ = advance()
        return value
    }

    /// A float or integer literal as a Double.
    private mutating func parseNumber(_ what: String) throws(SyntaxError) -> Double {
        let t = peek
        let value: Double
        switch t.kind {
        case .int(let text), .float(let text): value = try convertDouble(text, at: t.loc)
        default: throw fail(expected: what)
        }
        _ = advance()
        return value
    }

    private mutating func convertInt(_ text: String, at loc: SourceLoc) throws(SyntaxError) -> Int {
        guard let value = Int(text) else {
            error(at: loc, "integer literal '\(text)' does not fit in 64 bits")
            throw SyntaxError()
        }
        return value
    }

    private mutating func convertDouble(_ text: String, at loc: SourceLoc) throws(SyntaxError) -> Double {
        guard let value = Double(text), value.isFinite else {
            error(at: loc, "number literal '\(text)' is out of range")
            throw SyntaxError()
        }
        return value
    }

    /// Dimensions written as words must all be the declared sequence symbol. Each unknown
    /// word is reported once, at its first use.
    private mutating func checkSeqUses() {
        var reported: Set<String> = []
        for use in seqUses where use.symbol != module.seq?.symbol && !reported.contains(use.symbol) {
            reported.insert(use.symbol)
            if let seq = module.seq {
                error(at: use.loc, "unknown dimension '\(use.symbol)'; the sequence length is '\(seq.symbol)'")
            } else {
                error(at: use.loc, "unknown dimension '\(use.symbol)'; declare the sequence length with 'seq \(use.symbol) <= N'")
            }
        }
    }

    private func sortedDiagnostics() -> [Diagnostic] {
        // Errors are found nearly in source order, but some are reported once their item is
        // read (a duplicate declaration at its keyword, attributes at their keys) or after the
        // whole file (unknown dimensions); keep the order stable otherwise.
        diagnostics.kept.enumerated().sorted { a, b in
            let (la, lb) = (a.element.loc ?? .unknown, b.element.loc ?? .unknown)
            if la.line != lb.line { return la.line < lb.line }
            if la.column != lb.column { return la.column < lb.column }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// Converts a written attribute value to the kind the op wants, or nil if it cannot be one.
/// An integer is accepted where a float is wanted.
func coerce(_ value: AttrValue, to kind: AttrKind) -> AttrValue? {
    switch (kind, value) {
    case (.int, .int): return value
    case (.float, .float(let v)): return v.isFinite ? value : nil
    case (.float, .int(let v)): return .float(Double(v))
    case (.bool, .bool): return value
    case (.word(let allowed), .word(let w)): return allowed.contains(w) ? value : nil
    default: return nil
    }
}

/// "an integer", "one of none, tanh", ... for attribute messages.
func attrKindDescription(_ kind: AttrKind) -> String {
    switch kind {
    case .int: return "an integer"
    case .float: return "a number"
    case .bool: return "true or false"
    case .word(let allowed): return "one of " + allowed.joined(separator: ", ")
    }
}
