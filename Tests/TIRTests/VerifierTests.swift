// Verifier tests: every rule, with a valid and an invalid case, on parsed and on built IR.

import Testing
@testable import TIR

/// Verifies `model @m { seq T <= 16 <body> }` (the body starts on line 3) and returns the
/// messages, or the full `file:line:col: error: message` headlines with `headlines`.
private func problems(_ body: String, headlines: Bool = false,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
    let m = try TIRText.parse("model @m {\n  seq T <= 16\n\(body)\n}\n", sourceLocation: sourceLocation)
    return verifyModule(m, file: "test.tir").map { headlines ? $0.description : $0.message }
}

/// Verifies a module built in code.
private func problems(_ m: Module) -> [String] { verifyModule(m, file: "built").map(\.message) }

private let f32x4 = TensorType(.f32, [.fixed(1), .fixed(4)])

/// A module built in code whose output `%y = gelu(%<first input>) : f32[1, 4]` is computed (an
/// input cannot be an output), for tests about the declarations.
private func geluModel(name: String = "m", weights: WeightSource = .random(seed: 0, std: 0.02), inputs: [Input]) -> Module {
    Module(name: name, weights: weights, inputs: inputs,
           body: [Instruction(result: "y", op: .gelu, operands: [.value(inputs[0].name)], type: f32x4)],
           outputs: [OutputRef(name: "y")])
}

@Suite struct VerifierTests {
    // MARK: Names and SSA

    @Test func validModulesHaveNoProblems() throws {
        #expect(try problems("""
              input %x : f32[T, 8]
              %y = gelu(%x) : f32[T, 8]
              output %y
            """) == [])
    }

    @Test func redefinitionOfAValue() throws {
        let source = "model @m {\n  input %x : f32[1, 4]\n  %x = gelu(%x) : f32[1, 4]\n  output %x\n}"
        let d = verifyModule(try TIRText.parse(source), file: "test.tir")
        #expect(d.map(\.description) == ["test.tir:3:3: error: redefinition of %x"])
        #expect(d.first?.notes.map(\.description) == ["test.tir:2:9: note: previous definition is here"])
    }

    @Test func redefinitionOfAParam() throws {
        #expect(try problems("""
              param @w : f32[4]
              param @w : f32[4]
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """, headlines: true) == ["test.tir:4:9: error: redefinition of @w"])
    }

    @Test func valuesAndParamsHaveSeparateNamespaces() throws {
        #expect(try problems("""
              input %w : f32[1, 4]
              param @w : f32[4, 4]
              %y = linear(%w, @w) : f32[1, 4]
              output %y
            """) == [])
    }

    @Test func useBeforeDefinition() throws {
        let m = try TIRText.parse("model @m {\n  input %x : f32[1, 4]\n  %a = add(%x, %b) : f32[1, 4]\n  %b = gelu(%x) : f32[1, 4]\n  output %a\n}")
        let d = verifyModule(m, file: "test.tir")
        #expect(d.map(\.description) == ["test.tir:3:16: error: use of %b before its definition"])
        #expect(d.first?.notes.map(\.description) == ["test.tir:4:3: note: defined here"])
    }

    @Test func unknownValueAndParam() throws {
        #expect(try problems("""
              input %x : f32[1, 4]
              %y = linear(%z, @nope) : f32[1, 4]
              output %y
            """, headlines: true) == [
                "test.tir:4:15: error: unknown value %z",
                "test.tir:4:19: error: unknown parameter @nope",
            ])
    }

    @Test func outputsMustExistAndBeListedOnce() throws {
        #expect(try problems("  input %x : f32[1, 4]\n  %y = gelu(%x) : f32[1, 4]\n  output %y, %nope, %y") == [
            "unknown value %nope in 'output'",
            "%y is listed as an output twice",
        ])
        #expect(try problems("  input %x : f32[1, 4]") == ["model @m has no 'output'"])
    }

    @Test func anOutputMustBeComputedNotAnInput() throws {
        // The compiled entry point cannot return its caller's input buffer as a result.
        let source = "model @m {\n  input %tokens : i32[4]\n  input %x : f32[1, 4]\n  %y = gelu(%x) : f32[1, 4]\n  output %y, %tokens\n}\n"
        let d = verifyModule(try TIRText.parse(source), file: "test.tir")
        #expect(d.map(\.description)
                == ["test.tir:5:14: error: output %tokens is a model input: outputs must be values the model computes"])
        #expect(d.first?.notes.map(\.description) == ["test.tir:2:9: note: input declared here"])
        // Listed twice, it is reported once as an input and once as listed twice.
        #expect(try problems("  input %x : f32[1, 4]\n  %y = gelu(%x) : f32[1, 4]\n  output %x, %y, %x") == [
            "output %x is a model input: outputs must be values the model computes",
            "%x is listed as an output twice",
        ])
        // Built in code, the same.
        #expect(problems(Module(name: "m", inputs: [Input(name: "x", type: f32x4)], outputs: [OutputRef(name: "x")]))
                == ["output %x is a model input: outputs must be values the model computes"])
    }

    @Test func namesMustBePrintable() {
        let m = geluModel(name: "a b", inputs: [Input(name: "", type: f32x4)])
        #expect(problems(m) == ["invalid model name '@a b'", "invalid value name '%'"])
    }

    // MARK: Declarations

    @Test func dimensionsMustBePositive() {
        let m = geluModel(inputs: [Input(name: "x", type: TensorType(.f32, [.fixed(0), .fixed(-2)]))])
        #expect(problems(m) == [
            "dimension 0 in the type f32[0, -2] of input %x must be positive",
            "dimension -2 in the type f32[0, -2] of input %x must be positive",
        ])
        #expect(problems(geluModel(inputs: [Input(name: "x", type: TensorType(.f32, []))]))
                == ["the type of input %x has no dimensions"])
    }

    @Test func elementCountsMustNotOverflow() throws {
        #expect(try problems("""
              input %x : f32[4294967296, 4294967296]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == ["the type f32[4294967296, 4294967296] of input %x has too many elements"])
        // Counted with the sequence at its maximum and with the 4-byte element size.
        #expect(try problems("""
              input %x : f32[T, 1152921504606846976]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == ["the type f32[T, 1152921504606846976] of input %x has too many elements"])
        #expect(try problems("""
              input %x : f32[1, 1152921504606846975]
              %y = gelu(%x) : f32[1, 1152921504606846975]
              output %y
            """) == [])
    }

    @Test func seqSymbolOnlyWhenDeclared() {
        let m = geluModel(inputs: [Input(name: "x", type: TensorType(.f32, [.seq, .fixed(4)]))])
        #expect(problems(m) == ["input %x uses the sequence length, but the model declares no 'seq'"])
    }

    @Test func seqMaxMustBeAtLeastOne() throws {
        let m = try TIRText.parse("model @m {\n  seq T <= 0\n  input %x : f32[1, 4]\n  %y = gelu(%x) : f32[1, 4]\n  output %y\n}")
        #expect(verifyModule(m, file: "test.tir").map(\.description)
                == ["test.tir:2:3: error: the maximum sequence length must be at least 1, got 0"])
    }

    @Test func paramsMustBeStaticAndFloat() throws {
        #expect(try problems("""
              param @a : f32[T, 4]
              param @b : i32[4]
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == [
                "parameter @a must have a static shape, got f32[T, 4]",
                "parameter @b must be f32 or bf16, got i32[4]",
            ])
    }

    @Test func paramInitializersMustBeSound() throws {
        #expect(try problems("""
              param @a : f32[4] = normal(0.0, -1.0)
              param @b : f32[4] = uniform(1.0, -1.0)
              param @c : f32[4] = tensor("c")
              param @d : f32[4] = uniform(1.0, 1.0)
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == [
                "normal(0.0, -1.0) of @a needs a finite mean and a non-negative std",
                "uniform(1.0, -1.0) of @b needs finite bounds with low <= high",
                "@c reads tensor 'c', but the model has no weights file",
            ])
        #expect(try problems("""
              weights "w.safetensors"
              param @c : f32[4] = tensor("c")
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == [])
    }

    @Test func rowSelectionsMustBeSound() throws {
        #expect(try problems("""
              weights "w.safetensors"
              param @a : f32[4, 2] = tensor("t", rows = blocks(start = 0, size = 2, stride = 6))
              param @b : f32[4] = tensor("t", rows = blocks(start = 0, size = 3, stride = 6))
              param @c : f32[4] = tensor("t", rows = blocks(start = -1, size = 2, stride = 6))
              param @d : f32[4] = tensor("t", rows = blocks(start = 0, size = 0, stride = 6))
              param @e : f32[4] = tensor("t", rows = blocks(start = 0, size = 2, stride = 0))
              param @f : f32[4] = tensor("t", rows = blocks(start = 0, size = 2, stride = 9223372036854775807))
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == [
                "rows = blocks(start = 0, size = 3, stride = 6) of @b: the first axis (4) must be a whole number of blocks of 3 rows",
                "rows = blocks(start = -1, size = 2, stride = 6) of @c needs start >= 0, size > 0 and stride > 0",
                "rows = blocks(start = 0, size = 0, stride = 6) of @d needs start >= 0, size > 0 and stride > 0",
                "rows = blocks(start = 0, size = 2, stride = 0) of @e needs start >= 0, size > 0 and stride > 0",
                "rows = blocks(start = 0, size = 2, stride = 9223372036854775807) of @f reaches past the largest row index",
            ])
        #expect(try problems("""
              param @a : f32[2] = tensor("t", rows = blocks(start = 0, size = 2, stride = 6))
              input %x : f32[1, 4]
              %y = gelu(%x) : f32[1, 4]
              output %y
            """) == ["@a reads tensor 't', but the model has no weights file"])
    }

    @Test func weightsMustBeSound() {
        #expect(problems(geluModel(weights: .file(""), inputs: [Input(name: "x", type: f32x4)]))
                == ["the weights file name is empty"])
        #expect(problems(geluModel(weights: .random(seed: 1, std: -.infinity), inputs: [Input(name: "x", type: f32x4)]))
                == ["the weights' std must be a non-negative number, got -inf"])
    }

    // MARK: Operand counts and attributes

    @Test func operandCounts() throws {
        #expect(try problems("""
              input %x : f32[1, 4]
              param @p : f32[4, 4]
              %a = linear(%x) : f32[1, 4]
              %b = add(%x, %x, %x) : f32[1, 4]
              %c = positions(@p, @p) : f32[1, 4]
              %d = attention(%x, %x) {heads = 1} : f32[1, 4]
              %e = layernorm(%x, @p, @p, @p) {eps = 0.1} : f32[1, 4]
              output %a
            """) == [
                "'linear' takes 2 to 3 operands (x, weight, bias?), got 1",
                "'add' takes 2 operands (lhs, rhs), got 3",
                "'positions' takes 1 operand (table), got 2",
                "'attention' takes 1 operand (fused qkv) or 3 (q, k, v), got 2",
                "'layernorm' takes 1 to 3 operands (x, gain?, bias?), got 4",
            ])
    }

    @Test func attributesOfBuiltIR() {
        func gelu(_ attrs: [(key: String, value: AttrValue)], op: OpKind = .gelu) -> Module {
            Module(name: "m", inputs: [Input(name: "x", type: f32x4)],
                   body: [Instruction(result: "y", op: op, operands: [.value("x")], attrs: attrs, type: f32x4)],
                   outputs: [OutputRef(name: "y")])
        }
        #expect(problems(gelu([])) == [])  // an omitted default is fine
        #expect(problems(gelu([("approximation", .word("fast"))]))
                == ["attribute 'approximation' of 'gelu' must be one of none, tanh, got 'fast'"])
        #expect(problems(gelu([("approximation", .bool(true))]))
                == ["attribute 'approximation' of 'gelu' must be one of none, tanh, got true"])
        #expect(problems(gelu([("fast", .bool(true))])) == ["unknown attribute 'fast' for 'gelu'; expected approximation"])
        #expect(problems(gelu([("approximation", .word("tanh")), ("approximation", .word("tanh"))]))
                == ["duplicate attribute 'approximation' on %y"])
        #expect(problems(gelu([], op: .layernorm)) == ["'layernorm' requires attribute 'eps'"])
        #expect(problems(gelu([("eps", .int(1))], op: .layernorm)) == [])
        #expect(problems(gelu([("eps", .float(.nan))], op: .layernorm))
                == ["attribute 'eps' of 'layernorm' must be a number, got nan"])
        #expect(problems(gelu([("index", .float(0))], op: .selectRow))
                == ["attribute 'index' of 'select_row' must be an integer, got 0.0"])
    }

    // MARK: Shape rules

    @Test func embedding() throws {
        let decls = "  input %ids : i32[T]\n  param @t : f32[50, 8]\n"
        #expect(try problems(decls + "  %e = embedding(%ids, @t) : f32[T, 8]\n  output %e") == [])
        #expect(try problems(decls + "  %e = embedding(%ids, @t) : f32[T, 50]\n  output %e")
                == ["result type f32[T, 50] does not match computed f32[T, 8]"])
        #expect(try problems("  input %ids : f32[T]\n  param @t : f32[50, 8]\n  %e = embedding(%ids, @t) : f32[T, 8]\n  output %e")
                == ["embedding ids must be i32[R], got %ids : f32[T]"])
        #expect(try problems("  input %ids : i32[T]\n  param @t : f32[50]\n  %e = embedding(%ids, @t) : f32[T, 8]\n  output %e")
                == ["embedding table must be f32[V, d], got @t : f32[50]"])
        #expect(try problems(decls + "  %e = embedding(%ids, @t) : i32[T, 8]\n  output %e")
                == ["result type i32[T, 8] does not match computed f32[T, 8]"])
    }

    @Test func positions() throws {
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[T, 8]\n  %q = positions(@p) : f32[3, 8]\n  output %p, %q") == [])
        #expect(try problems("  param @p : f32[8, 8]\n  %p = positions(@p) : f32[T, 8]\n  output %p")
                == ["positions table @p : f32[8, 8] has 8 rows, fewer than the maximum sequence length T <= 16"])
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[20, 8]\n  output %p")
                == ["positions table @p : f32[16, 8] has 16 rows, fewer than the 20 the result needs"])
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[T, 4]\n  output %p")
                == ["result type f32[T, 4] does not match computed f32[T, 8]"])
        // rope: heads divide the width, rotary_dims even and within a head.
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[T, 8]\n  %r = rope(%p) {heads = 2, rotary_dims = 4} : f32[T, 8]\n  output %r") == [])
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[T, 8]\n  %r = rope(%p) {heads = 2, rotary_dims = 6} : f32[T, 8]\n  output %r")
                == ["rope rotary_dims = 6 must be even and in 2...4 (the head width)"])
        #expect(try problems("  param @p : f32[16, 8]\n  %p = positions(@p) : f32[T, 8]\n  %r = rope(%p) {heads = 3, rotary_dims = 2} : f32[T, 8]\n  output %r")
                == ["rope heads = 3 must be positive and divide the width 8"])
        // An offset (OPT's 2): rows offset ..< offset + R must be in the table.
        #expect(try problems("  param @p : f32[18, 8]\n  %p = positions(@p) {offset = 2} : f32[T, 8]\n  output %p") == [])
        #expect(try problems("  param @p : f32[17, 8]\n  %p = positions(@p) {offset = 2} : f32[T, 8]\n  output %p")
                == ["positions table @p : f32[17, 8] has 15 rows after its first 2, fewer than the maximum sequence length T <= 16"])
        #expect(try problems("  param @p : f32[17, 8]\n  %p = positions(@p) {offset = -1} : f32[T, 8]\n  output %p")
                == ["positions offset -1 must be in 0...17 (the table's rows)"])
    }

    @Test func patchEmbed() throws {
        func check(image: String = "f32[3, 8, 8]", w: String = "f32[48, 16]", b: String = "f32[16]",
                   patch: Int = 4, result: String = "f32[4, 16]") throws -> [String] {
            try problems("""
                  input %img : \(image)
                  param @w : \(w)
                  param @b : \(b)
                  %p = patch_embed(%img, @w, @b) {patch = \(patch)} : \(result)
                  output %p
                """)
        }
        #expect(try check() == [])
        #expect(try check(image: "f32[3, 8, 16]", result: "f32[8, 16]") == [])
        // A patch that does not divide the image: the last pixels are unused (strided convolution).
        #expect(try check(w: "f32[27, 16]", patch: 3) == [])
        #expect(try check(patch: 9) == ["patch_embed patch = 9 is larger than the image size 8x8 of %img : f32[3, 8, 8]"])
        #expect(try check(w: "f32[16, 48]") == ["patch_embed weight @w : f32[16, 48] must have C*p*p = 3*4*4 rows"])
        #expect(try check(patch: 0) == ["patch_embed patch must be positive, got 0"])
        #expect(try check(w: "f32[40, 16]") == ["patch_embed weight @w : f32[40, 16] must have C*p*p = 3*4*4 rows"])
        #expect(try check(b: "f32[8]") == ["patch_embed bias must be f32[16], got @b : f32[8]"])
        #expect(try check(image: "f32[8, 8]") == ["patch_embed image must be f32[C, H, W], got %img : f32[8, 8]"])
        #expect(try check(image: "f32[T, 8, 8]") == ["patch_embed image must have a static shape, got %img : f32[T, 8, 8]"])
        #expect(try check(result: "f32[16, 4]") == ["result type f32[16, 4] does not match computed f32[4, 16]"])
        #expect(try check(patch: 4_611_686_018_427_387_904) == [
            "patch_embed patch = 4611686018427387904 is larger than the image size 8x8 of %img : f32[3, 8, 8]",
        ])
    }

    @Test func clsToken() throws {
        func check(x: String = "f32[4, 8]", cls: String, result: String = "f32[5, 8]") throws -> [String] {
            try problems("  input %x : \(x)\n  param @c : \(cls)\n  %s = cls_token(%x, @c) : \(result)\n  output %s")
        }
        #expect(try check(cls: "f32[8]") == [])
        #expect(try check(cls: "f32[1, 8]") == [])
        #expect(try check(cls: "f32[2, 8]") == ["cls_token cls must be f32[8] or f32[1, 8], got @c : f32[2, 8]"])
        #expect(try check(x: "f32[T, 8]", cls: "f32[8]", result: "f32[T, 8]")
                == ["cls_token needs a static row count, got %x : f32[T, 8]"])
        #expect(try check(cls: "f32[8]", result: "f32[4, 8]") == ["result type f32[4, 8] does not match computed f32[5, 8]"])
    }

    @Test func add() throws {
        #expect(try problems("  input %a : f32[T, 8]\n  %s = add(%a, %a) : f32[T, 8]\n  output %s") == [])
        #expect(try problems("  input %a : f32[T, 8]\n  input %b : f32[T, 4]\n  %s = add(%a, %b) : f32[T, 8]\n  output %s", headlines: true)
                == ["test.tir:5:16: error: add operands must have the same type, got %a : f32[T, 8] and %b : f32[T, 4]"])
        #expect(try problems("  input %a : f32[T, 8]\n  input %b : f32[4, 8]\n  %s = add(%a, %b) : f32[T, 8]\n  output %s")
                == ["add operands must have the same type, got %a : f32[T, 8] and %b : f32[4, 8]"])
        #expect(try problems("  input %a : f32[3, 8, 8]\n  %s = add(%a, %a) : f32[3, 8, 8]\n  output %s")
                == ["add lhs must be f32[R, d], got %a : f32[3, 8, 8]"])
    }

    @Test func linear() throws {
        func check(_ w: String, bias: String? = nil, transposed: Bool = false, result: String = "f32[T, 16]") throws -> [String] {
            let b = bias.map { "  param @b : \($0)\n" } ?? ""
            return try problems("""
                  input %x : f32[T, 8]
                  param @w : \(w)
                \(b)  %y = linear(%x, @w\(bias == nil ? "" : ", @b")) {transposed = \(transposed)} : \(result)
                  output %y
                """, headlines: true)
        }
        #expect(try check("f32[8, 16]") == [])
        #expect(try check("f32[8, 16]", bias: "f32[16]") == [])
        #expect(try check("f32[16, 8]", transposed: true) == [])
        #expect(try check("f32[4, 16]") == [
            "test.tir:5:19: error: linear weight @w : f32[4, 16] takes 4 input columns (it is [in, out]), but %x : f32[T, 8] has 8",
        ])
        #expect(try check("f32[8, 16]", transposed: true) == [
            "test.tir:5:19: error: linear weight @w : f32[8, 16] takes 16 input columns (it is [out, in] with transposed = true), but %x : f32[T, 8] has 8",
        ])
        #expect(try check("f32[8, 16]", bias: "f32[8]") == ["test.tir:6:23: error: linear bias must be f32[16], got @b : f32[8]"])
        #expect(try check("f32[8, 16]", result: "f32[T, 8]") == [
            "test.tir:5:46: error: result type f32[T, 8] does not match computed f32[T, 16]",
        ])
        #expect(try problems("  input %x : f32[T, 8]\n  %y = linear(%x, %x) : f32[T, 8]\n  output %y")
                == ["linear weight must have a static shape, got %x : f32[T, 8]"])
    }

    @Test(arguments: [OpKind.layernorm, .rmsnorm, .crmsnorm])
    func norms(op: OpKind) throws {
        let name = op.rawValue
        let decls = "  input %x : f32[T, 8]\n  param @g : f32[8]\n  param @b : f32[8]\n  param @w : f32[4]\n"
        func check(_ operands: String, eps: String = "1e-05", result: String = "f32[T, 8]") throws -> [String] {
            try problems(decls + "  %y = \(name)(\(operands)) {eps = \(eps)} : \(result)\n  output %y")
        }
        #expect(try check("%x") == [])
        #expect(try check("%x, @g") == [])
        #expect(try check("%x, @g, @b") == [])
        #expect(try check("%x, @w") == ["\(name) gain must be f32[8], got @w : f32[4]"])
        #expect(try check("%x, @g, @w") == ["\(name) bias must be f32[8], got @w : f32[4]"])
        #expect(try check("%x", eps: "0") == ["\(name) eps must be positive, got 0.0"])
        #expect(try check("%x", eps: "-1e-05") == ["\(name) eps must be positive, got -1e-05"])
        #expect(try check("%x", result: "f32[T, 4]") == ["result type f32[T, 4] does not match computed f32[T, 8]"])
    }

    @Test func attention() throws {
        #expect(try problems("  input %qkv : f32[T, 192]\n  %a = attention(%qkv) {heads = 4, causal = true} : f32[T, 64]\n  output %a") == [])
        #expect(try problems("  input %q : f32[5, 48]\n  %a = attention(%q, %q, %q) {heads = 3} : f32[5, 48]\n  output %a") == [])
        #expect(try problems("  input %qkv : f32[T, 192]\n  %a = attention(%qkv) {heads = 5} : f32[T, 64]\n  output %a", headlines: true)
                == ["test.tir:4:3: error: attention heads = 5 does not divide the width 64"])
        #expect(try problems("  input %qkv : f32[T, 192]\n  %a = attention(%qkv) {heads = 0} : f32[T, 64]\n  output %a")
                == ["attention heads must be positive, got 0"])
        #expect(try problems("  input %qkv : f32[T, 100]\n  %a = attention(%qkv) {heads = 1} : f32[T, 64]\n  output %a")
                == ["attention fused qkv width must be a multiple of 3, got %qkv : f32[T, 100]"])
        #expect(try problems("  input %qkv : f32[T, 192]\n  %a = attention(%qkv) {heads = 4} : f32[T, 192]\n  output %a")
                == ["result type f32[T, 192] does not match computed f32[T, 64]"])
        #expect(try problems("  input %q : f32[5, 48]\n  input %k : f32[5, 32]\n  %a = attention(%q, %k, %q) {heads = 3} : f32[5, 48]\n  output %a")
                == ["attention k must have the type of q, f32[5, 48], got %k : f32[5, 32]"])
        #expect(try problems("  input %q : f32[5, 48]\n  input %v : f32[T, 48]\n  %a = attention(%q, %q, %v) {heads = 3} : f32[5, 48]\n  output %a")
                == ["attention v must have the type of q, f32[5, 48], got %v : f32[T, 48]"])
    }

    @Test func gelu() throws {
        #expect(try problems("  input %x : f32[T, 8]\n  %y = gelu(%x) {approximation = tanh} : f32[T, 8]\n  output %y") == [])
        #expect(try problems("  input %x : f32[3, 8, 8]\n  %y = gelu(%x) : f32[3, 8, 8]\n  output %y")
                == ["gelu x must be f32[R, d], got %x : f32[3, 8, 8]"])
        #expect(try problems("  input %x : i32[T, 8]\n  %y = gelu(%x) : f32[T, 8]\n  output %y")
                == ["gelu x must be f32[R, d], got %x : i32[T, 8]"])
        #expect(try problems("  input %x : f32[T, 8]\n  %y = gelu(%x) : f32[8, 8]\n  output %y")
                == ["result type f32[8, 8] does not match computed f32[T, 8]"])
    }

    @Test(arguments: ["tanh", "relu"]) func unaryElementwise(_ op: String) throws {
        #expect(try problems("  input %x : f32[T, 8]\n  %y = \(op)(%x) : f32[T, 8]\n  output %y") == [])
        #expect(try problems("  input %x : f32[3, 8, 8]\n  %y = \(op)(%x) : f32[3, 8, 8]\n  output %y")
                == ["\(op) x must be f32[R, d], got %x : f32[3, 8, 8]"])
        #expect(try problems("  input %x : i32[T, 8]\n  %y = \(op)(%x) : f32[T, 8]\n  output %y")
                == ["\(op) x must be f32[R, d], got %x : i32[T, 8]"])
        #expect(try problems("  input %x : f32[T, 8]\n  %y = \(op)(%x) : f32[8, 8]\n  output %y")
                == ["result type f32[8, 8] does not match computed f32[T, 8]"])
        #expect(try problems("  input %x : f32[T, 8]\n  %y = \(op)(%x, %x) : f32[T, 8]\n  output %y")
                == ["'\(op)' takes 1 operand (x), got 2"])
    }

    @Test func mul() throws {
        #expect(try problems("  input %a : f32[T, 8]\n  %s = mul(%a, %a) : f32[T, 8]\n  output %s") == [])
        #expect(try problems("  input %a : f32[T, 8]\n  input %b : f32[T, 4]\n  %s = mul(%a, %b) : f32[T, 8]\n  output %s", headlines: true)
                == ["test.tir:5:16: error: mul operands must have the same type, got %a : f32[T, 8] and %b : f32[T, 4]"])
        #expect(try problems("  input %a : f32[3, 8, 8]\n  %s = mul(%a, %a) : f32[3, 8, 8]\n  output %s")
                == ["mul lhs must be f32[R, d], got %a : f32[3, 8, 8]"])
        #expect(try problems("  input %a : f32[T, 8]\n  %s = mul(%a) : f32[T, 8]\n  output %s")
                == ["'mul' takes 2 operands (lhs, rhs), got 1"])
    }

    @Test func selectRow() throws {
        func check(_ x: String, index: Int) throws -> [String] {
            try problems("  input %x : \(x)\n  %y = select_row(%x) {index = \(index)} : f32[1, 8]\n  output %y")
        }
        #expect(try check("f32[17, 8]", index: 0) == [])
        #expect(try check("f32[17, 8]", index: 16) == [])
        #expect(try check("f32[T, 8]", index: 0) == [])
        #expect(try check("f32[17, 8]", index: 17) == ["select_row index 17 is out of range for %x : f32[17, 8]"])
        #expect(try check("f32[17, 8]", index: -1) == ["select_row index -1 is out of range for %x : f32[17, 8]"])
        #expect(try check("f32[T, 8]", index: 1)
                == ["select_row index 1 is out of range for %x : f32[T, 8] (the sequence may be 1 row long)"])
    }

    // MARK: Cascades

    @Test func oneMistakeGivesOneError() throws {
        // %y's operand is unknown: %y keeps its declared type, so %z checks against it quietly.
        #expect(try problems("""
              input %x : f32[T, 8]
              %y = gelu(%nope) : f32[T, 8]
              %z = add(%x, %y) : f32[T, 8]
              output %z
            """) == ["unknown value %nope"])
        // An invalid declaration is reported once, not at every use.
        #expect(try problems("""
              param @w : f32[T, 8]
              input %x : f32[T, 8]
              %y = linear(%x, @w) : f32[T, 8]
              %z = linear(%y, @w) : f32[T, 8]
              output %z
            """) == ["parameter @w must have a static shape, got f32[T, 8]"])
    }
}

@Test func absurdSequenceMaximaAreRefused() throws {
    let m = try parseModule("model @m {\n  seq T <= 4294967296\n  input %x : f32[T, 4]\n  %y = gelu(%x) : f32[T, 4]\n  output %y\n}\n", file: "t.tir")
    let errors = verifyModule(m, file: "t.tir").map(\.description)
    #expect(errors == ["t.tir:2:3: error: the maximum sequence length 4294967296 is above 1048576, the most tfc supports (compiled code's workspace is laid out for the maximum)"],
            "\(errors)")
}

@Test func tooManyErrorsAreCountedOrSaidToBeCutShort() throws {
    // Verifier errors past the limit are counted.
    let body = (0..<60).map { "  %y\($0) = gelu(%nope) : f32[4, 4]" }.joined(separator: "\n")
    let m = try parseModule("model @m {\n  input %x : f32[4, 4]\n\(body)\n  output %y0\n}\n", file: "t.tir")
    let list = DiagnosticList(verifyModule(m, file: "t.tir"))
    #expect(list.diagnostics.count == 51)
    #expect(list.diagnostics.last?.description == "t.tir: note: 10 more errors not shown")
    // The reader stops at the limit and says so; the errors it found past it are counted.
    let garbage = "model @m {\n" + String(repeating: "  $$ $$\n", count: 1000) + "}\n"
    do {
        _ = try parseModule(garbage, file: "g.tir")
        Issue.record("garbage parsed")
    } catch {
        #expect(error.diagnostics.count == 51)
        #expect(error.diagnostics.last?.description
                == "g.tir: note: too many errors: stopped after the first 50 (and 3 more not shown); the rest of the file was not read")
    }
}
