// JIT-compiled native code against the reference interpreter, op by op and on the examples.
import Foundation
import Testing
import TIR
import TIRFormats
import TIRCodegen
import TIRInterpreter

/// Runs `module` both ways on seeded inputs and returns the relative error of each output. The
/// native code splits every parallel loop, however small, across the machine's cores.
func compare(_ module: Module, _ weights: Weights, seqLens: [Int], seed: UInt64 = 1) throws -> Double {
    let jit = try JITModel(module, weights: weights, minParallelWork: 0)
    let interpreter = Interpreter(module: module, weights: weights)
    var worst = 0.0
    for seq in seqLens {
        let inputs = randomInputs(module, seqLen: seq, seed: seed &+ UInt64(seq))
        let native = try jit.run(inputs: inputs, seqLen: seq)
        let reference = try interpreter.run(inputs: inputs, seqLen: seq)
        for out in module.outputs {
            let a = try #require(native[out.name]), r = try #require(reference[out.name])
            worst = max(worst, relativeError(a.floats, r))
        }
    }
    return worst
}

@Test(arguments: [("gpt-tiny.tir", [1, 2, 7, 33, 64]), ("vit-tiny.tir", [1])])
func exampleMatchesInterpreter(file: String, seqLens: [Int]) throws {
    let (module, weights) = try load(path: examplePath(file))
    let error = try compare(module, weights, seqLens: seqLens)
    #expect(error <= 1e-5, "max relative error \(error)")
}

/// One small model per op and form; each must match the interpreter.
let opCases: [(String, String)] = [
    ("tanh, relu and mul on their own", """
        model @m {
          seq T <= 9
          input %x : f32[T, 21]
          %t = tanh(%x) : f32[T, 21]
          %r = relu(%x) : f32[T, 21]
          %y = mul(%t, %r) : f32[T, 21]
          %z = mul(%y, %x) : f32[T, 21]
          output %z
        }
        """),
    ("linear + relu and linear + tanh fused, mul by a parameter", """
        model @m {
          weights random(seed = 8, std = 0.5)
          input %x : f32[3, 19]
          param @w1 : f32[19, 37]
          param @b1 : f32[37]
          param @w2 : f32[37, 5]
          param @s : f32[3, 5]
          %h = linear(%x, @w1, @b1) : f32[3, 37]
          %r = relu(%h) : f32[3, 37]
          %o = linear(%r, @w2) : f32[3, 5]
          %t = tanh(%o) : f32[3, 5]
          %y = mul(%t, @s) : f32[3, 5]
          output %y
        }
        """),
    ("layernorm with gain and bias", """
        model @m {
          seq T <= 9
          weights random(seed = 3, std = 1.0)
          input %x : f32[T, 13]
          param @g : f32[13] = normal(1.0, 0.5)
          param @b : f32[13]
          %y = layernorm(%x, @g, @b) {eps = 1e-05} : f32[T, 13]
          output %y
        }
        """),
    ("rmsnorm, crmsnorm, no affine, large eps", """
        model @m {
          seq T <= 9
          input %x : f32[T, 17]
          %r = rmsnorm(%x) {eps = 0.5} : f32[T, 17]
          %c = crmsnorm(%r) {eps = 1e-06} : f32[T, 17]
          output %c
        }
        """),
    ("linear both layouts, with and without bias", """
        model @m {
          seq T <= 5
          weights random(seed = 4, std = 0.3)
          input %x : f32[T, 19]
          param @w : f32[19, 23]
          param @wt : f32[7, 23]
          param @b : f32[7]
          %h = linear(%x, @w) : f32[T, 23]
          %y = linear(%h, @wt, @b) {transposed = true} : f32[T, 7]
          output %y
        }
        """),
    ("separate q k v, non-causal, 3 heads; gelu erf", """
        model @m {
          seq T <= 11
          weights random(seed = 5, std = 0.4)
          input %x : f32[T, 12]
          param @wq : f32[12, 12]
          param @wk : f32[12, 12]
          param @wv : f32[12, 12]
          %q = linear(%x, @wq) : f32[T, 12]
          %k = linear(%x, @wk) : f32[T, 12]
          %v = linear(%x, @wv) : f32[T, 12]
          %a = attention(%q, %k, %v) {heads = 3, causal = false} : f32[T, 12]
          %g = gelu(%a) {approximation = none} : f32[T, 12]
          output %g
        }
        """),
    ("fused causal attention, gelu tanh, two outputs", """
        model @m {
          seq T <= 16
          weights random(seed = 6, std = 0.5)
          input %x : f32[T, 8]
          param @w : f32[8, 24]
          %qkv = linear(%x, @w) : f32[T, 24]
          %a = attention(%qkv) {heads = 2, causal = true} : f32[T, 8]
          %g = gelu(%a) {approximation = tanh} : f32[T, 8]
          output %g, %a
        }
        """),
    ("patch embedding, class token, positions, select_row", """
        model @m {
          weights random(seed = 8, std = 0.2)
          input %img : f32[2, 6, 9]
          param @w : f32[18, 5]
          param @b : f32[5]
          param @cls : f32[5]
          param @pos : f32[7, 5]
          %p = patch_embed(%img, @w, @b) {patch = 3} : f32[6, 5]
          %s = cls_token(%p, @cls) : f32[7, 5]
          %x = add(%s, @pos) : f32[7, 5]
          %r = select_row(%x) {index = 4} : f32[1, 5]
          output %r, %x
        }
        """),
    ("transposed patch weights, image not a multiple of the patch", """
        model @m {
          weights random(seed = 10, std = 0.3)
          input %img : f32[3, 7, 11]
          param @w : f32[6, 27]
          param @b : f32[6]
          %p = patch_embed(%img, @w, @b) {patch = 3, transposed = true} : f32[6, 6]
          output %p
        }
        """),
    ("fused bias, GELU and residual over several slices of K", """
        model @m {
          seq T <= 19
          weights random(seed = 11, std = 0.05)
          input %x : f32[T, 600]
          param @w1 : f32[600, 600]
          param @b1 : f32[600]
          param @w2 : f32[600, 45]
          param @w3 : f32[45, 600]
          %r = linear(%x, @w1, @b1) : f32[T, 600]
          %h = linear(%r, @w2) : f32[T, 45]
          %g = gelu(%h) {approximation = tanh} : f32[T, 45]
          %u = linear(%g, @w3) : f32[T, 600]
          %e = gelu(%u) : f32[T, 600]
          %y = add(%r, %e) : f32[T, 600]
          output %y
        }
        """),
    ("embedding with positions", """
        model @m {
          seq T <= 12
          weights random(seed = 9, std = 1.0)
          input %ids : i32[T]
          param @e : f32[5, 3]
          param @p : f32[20, 3]
          %t = embedding(%ids, @e) : f32[T, 3]
          %q = positions(@p) : f32[T, 3]
          %y = add(%t, %q) : f32[T, 3]
          output %y
        }
        """),
    ("rope on separate queries and keys", """
        model @m {
          seq T <= 12
          weights random(seed = 3, std = 0.5)
          input %ids : i32[T]
          param @e : f32[7, 24]
          param @wq : f32[24, 24]
          param @wk : f32[24, 24]
          param @wv : f32[24, 24]
          %x = embedding(%ids, @e) : f32[T, 24]
          %q = linear(%x, @wq) : f32[T, 24]
          %k = linear(%x, @wk) : f32[T, 24]
          %v = linear(%x, @wv) : f32[T, 24]
          %qr = rope(%q) {heads = 2, rotary_dims = 6} : f32[T, 24]
          %kr = rope(%k) {heads = 2, rotary_dims = 6} : f32[T, 24]
          %y = attention(%qr, %kr, %v) {heads = 2, causal = true} : f32[T, 24]
          output %y
        }
        """),
    ("rope over whole heads, many frequencies", """
        model @m {
          seq T <= 9
          weights random(seed = 4, std = 1.0)
          input %x : f32[T, 128]
          %y = rope(%x) {heads = 2, rotary_dims = 64, base = 500.0} : f32[T, 128]
          output %y
        }
        """),
    ("rope on a fixed number of rows", """
        model @m {
          weights random(seed = 6, std = 1.0)
          input %x : f32[5, 8]
          %y = rope(%x) {heads = 2, rotary_dims = 4, base = 50.0} : f32[5, 8]
          output %y
        }
        """),
    ("positions from an offset", """
        model @m {
          seq T <= 12
          weights random(seed = 9, std = 1.0)
          input %ids : i32[T]
          param @e : f32[5, 3]
          param @p : f32[14, 3]
          %t = embedding(%ids, @e) : f32[T, 3]
          %q = positions(@p) {offset = 2} : f32[T, 3]
          %y = add(%t, %q) : f32[T, 3]
          output %y
        }
        """),
]

@Test(arguments: opCases.map(\.0))
func opMatchesInterpreter(name: String) throws {
    let source = try #require(opCases.first { $0.0 == name }?.1)
    let (module, weights) = try load(source: source)
    let seqs = module.seq.map { [1, 2, $0.max] } ?? [1]
    let error = try compare(module, weights, seqLens: seqs)
    #expect(error <= 1e-5, "\(name): max relative error \(error)")
}

/// Attention with several panels of keys (nr = 32 on AVX-512, 16 on AVX2) and a head width of
/// 40 (one full and one partial panel of values), at sequence lengths around the row block (mr),
/// panel edges and the online softmax's blocks of 128 keys, causal and not.
@Test func attentionAcrossPanelsMatchesInterpreter() throws {
    let (module, weights) = try load(source: """
        model @m {
          seq T <= 300
          weights random(seed = 12, std = 0.5)
          input %x : f32[T, 360]
          %c = attention(%x) {heads = 3, causal = true} : f32[T, 120]
          %n = attention(%x) {heads = 3, causal = false} : f32[T, 120]
          output %c, %n
        }
        """)
    let error = try compare(module, weights, seqLens: [1, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 70, 127, 128, 129,
                                                       200, 256, 257, 300])
    #expect(error <= 1e-5, "max relative error \(error)")
}

/// Linears large enough for every level of the GEMM's blocking: more panels than a group
/// (16 of 32 columns at float32 on AVX-512, 600 columns are 19), K in two slices (256 + 144),
/// rows across groups of 128 (and of 126 on AVX2) with a partial register block at the end, with
/// bias, GELU and residual epilogues, on the machine's cores with every loop split.
@Test func linearsAcrossGemmBlocksMatchInterpreter() throws {
    let (module, weights) = try load(source: """
        model @m {
          seq T <= 300
          weights random(seed = 21, std = 0.05)
          input %x : f32[T, 400]
          param @w1 : f32[400, 600]
          param @b1 : f32[600] = normal(0.0, 0.1)
          param @w2 : f32[600, 400]
          %h = linear(%x, @w1, @b1) : f32[T, 600]
          %g = gelu(%h) {approximation = tanh} : f32[T, 600]
          %u = linear(%g, @w2) : f32[T, 400]
          %y = add(%x, %u) : f32[T, 400]
          output %y
        }
        """)
    let error = try compare(module, weights, seqLens: [1, 9, 127, 128, 129, 253, 257, 300])
    #expect(error <= 1e-5, "max relative error \(error)")
}

@Test func compiledCodeRejectsBadTokenIds() throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let jit = try JITModel(module, weights: weights)
    for bad: Int32 in [256, -1, Int32.max, Int32.min] {
        let ids = HostTensor(shape: [3], i32: [5, bad, 7])
        #expect(throws: RunError.self) { try jit.run(inputs: ["tokens": ids]) }
        do {
            _ = try jit.run(inputs: ["tokens": ids])
        } catch let e as RunError {
            #expect(e.status == .badTokenId)
        }
    }
    // The largest valid id is accepted.
    _ = try jit.run(inputs: ["tokens": HostTensor(shape: [2], i32: [0, 255])])
}

@Test func compiledCodeRejectsBadSequenceLengths() throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let jit = try JITModel(module, weights: weights)
    for seq in [0, 65, 1000] {
        do {
            _ = try jit.run(inputs: ["tokens": HostTensor(shape: [seq], i32: [Int32](repeating: 1, count: seq))], seqLen: seq)
            Issue.record("sequence length \(seq) was accepted")
        } catch let e as RunError {
            #expect(e.status == .badSequenceLength, "\(e)")
        }
    }
}

@Test func causalOutputsDoNotSeeTheFuture() throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let jit = try JITModel(module, weights: weights)
    let a = try jit.run(inputs: ["tokens": HostTensor(shape: [4], i32: [3, 1, 4, 1])])["logits"]!.floats
    let b = try jit.run(inputs: ["tokens": HostTensor(shape: [4], i32: [3, 1, 4, 9])])["logits"]!.floats
    #expect(Array(a[0..<(3 * 256)]) == Array(b[0..<(3 * 256)]))
    #expect(Array(a[(3 * 256)...]) != Array(b[(3 * 256)...]))
}

@Test func repeatedAndConcurrentCallsAgree() async throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let jit = try JITModel(module, weights: weights)
    let inputs = randomInputs(module, seqLen: 20, seed: 42)
    let first = try jit.run(inputs: inputs)["logits"]!.floats
    let results = try await withThrowingTaskGroup(of: [Float].self) { group in
        for _ in 0..<4 { group.addTask { try jit.run(inputs: inputs)["logits"]!.floats } }
        return try await group.reduce(into: [[Float]]()) { $0.append($1) }
    }
    for r in results { #expect(r == first) }
}
